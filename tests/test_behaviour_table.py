"""The rows of docs/behaviour.md for the tools without a test file of their own: each row's command
line runs through the tool's main() in one fresh interpreter (a subprocess: installed package, no
test fixtures), and its exit code and stderr are checked. Every case fails before any model work."""
import json
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]

# the driver: for each (tool, argv), import tools/<tool>.py once, call main(argv), record the exit
# code and what it printed on stderr
_DRIVER = r"""
import contextlib, importlib.util, io, json, sys
cases = json.loads(sys.argv[1])
mods, out = {}, []
for tool, argv in cases:
    if tool not in mods:
        spec = importlib.util.spec_from_file_location(tool, f"tools/{tool}.py")
        mods[tool] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mods[tool])
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = mods[tool].main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 2
    out.append([code, err.getvalue()])
print(json.dumps(out))
"""


def _rows(tmp: pathlib.Path):
    """(tool, argv, exit code, text expected in stderr) -- the rows of docs/behaviour.md."""
    nope, folder = str(tmp / "nope.yaml"), str(tmp)
    run = tmp / "run"  # a run folder that exists (make_model_file checks the runs before the configs)
    run.mkdir(exist_ok=True)
    tcfg, mcfg = "configs/temporal/synthetic.yaml", "configs/spatial/matcher_synthetic.yaml"
    rows = []
    for tool, cfg in (("train_temporal", tcfg), ("train_matcher", mcfg), ("test_matcher", mcfg)):
        rows += [(tool, ["--config", nope], 2, f"error: config file not found: {nope}"),
                 (tool, ["--config", folder], 2, f"error: config file is a directory, not a file: {folder}"),
                 (tool, ["--config", cfg, "FOO.BAR", "1"], 2, "error: unknown config key 'FOO'")]
    rows += [("train_temporal", ["--config", tcfg, "--device", "foo"], 2,
              "error: unknown device 'foo': use auto, cpu, cuda or cuda:N"),
             ("test_matcher", ["--config", mcfg, "--device", "foo"], 2,
              "error: unknown device 'foo': use auto, cpu, cuda or cuda:N"),
             ("test_temporal", ["--config", nope, "--weights", str(tmp / "w.pth")], 2,
              f"error: config file not found: {nope}"),
             ("convert_mmn_checkpoint", ["--config", tcfg, "--src", str(tmp / "nope.pth"), "--out", str(tmp / "o.pth")],
              2, f"error: reference MMN checkpoint not found: {tmp / 'nope.pth'}"),
             ("convert_mmn_checkpoint", ["--config", tcfg, "--src", folder, "--out", str(tmp / "o.pth")], 2,
              f"error: reference MMN checkpoint {folder} is a directory, not a file"),
             ("convert_mmn_checkpoint", ["--config", tcfg, "--src", folder, "--out", str(tmp / "o.pth"), "FOO.BAR", "1"],
              2, "error: unknown config key 'FOO'"),
             ("make_model_file", ["--mode", "tube_mmn", "--temporal", str(run), "--features-config", nope,
                                  "--spatial-config", nope, "--out", str(tmp / "m.pth")], 2,
              f"error: config file not found: {nope}"),
             ("make_model_file", ["--temporal", str(tmp / "run_missing"), "--features-config", nope, "--spatial-config",
                                  nope, "--out", str(tmp / "m.pth")], 2,
              f"error: --temporal: temporal run folder or checkpoint not found: {tmp / 'run_missing'}"),
             ("demo", ["--model", str(tmp / "nope.pth"), "--out", str(tmp / "demo")], 2,
              f"error: model file not found: {tmp / 'nope.pth'}"),
             ("train_demo_model", ["--work", str(tmp / "w"), "--out", str(tmp / "m.pth"), "--num-videos", "2"], 2,
              "--num-videos must be >= 10")]
    return rows


def test_behaviour_rows(tmp_path):
    rows = _rows(tmp_path)
    cases = [[tool, argv] for tool, argv, _, _ in rows]
    proc = subprocess.run([sys.executable, "-c", _DRIVER, json.dumps(cases)], cwd=str(REPO), capture_output=True,
                          text=True, timeout=120, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin",
                                                       "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    for (tool, argv, code, text), (got_code, err) in zip(rows, got):
        assert (got_code, text in err) == (code, True), (tool, argv, got_code, err)
        assert "Traceback" not in err, (tool, argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing left behind by a refused command
    assert not any((tmp_path / "run").iterdir())
