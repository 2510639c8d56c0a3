"""tools/make_synthetic.py: flags reach the config; bad input exits 2 with one message and writes nothing."""
import json
import subprocess
import sys

from tests.conftest import REPO
from tools import make_synthetic


def test_make_synthetic_cli(tmp_path, capsys):
    out = tmp_path / "d"
    args = ["--out", str(out), "--num-videos", "3", "--seed", "2", "--duration", "5", "--fps", "6",
            "--annotations-only", "PEOPLE.MAX", "3"]
    assert make_synthetic.main(args) == 0
    entries = {}
    for s in ("train", "val", "test"):
        entries.update(json.load(open(out / f"{s}.json")))
    assert len(entries) == 3
    assert all(e["img_num"] == 30 and e["duration"] == 5.0 for e in entries.values())
    meta = json.load(open(out / "meta.json"))
    assert meta["config"]["PEOPLE"]["MAX"] == 3 and all(len(v["people"]) <= 3 for v in meta["videos"].values())
    assert (out / "config.yaml").exists()
    assert make_synthetic.main(args[:5] + ["3", "--annotations-only"]) == 2   # another seed, same folder
    assert "another seed or config" in capsys.readouterr().err


def test_bad_out_and_fps_exit_2_and_write_nothing(tmp_path):
    tool = [sys.executable, str(REPO / "tools" / "make_synthetic.py"), "--num-videos", "2", "--annotations-only"]
    a_file = tmp_path / "taken.txt"
    a_file.write_text("keep me")
    r = subprocess.run(tool + ["--out", str(a_file)], capture_output=True, text=True)
    assert r.returncode == 2 and f"output folder {a_file} is an existing file, not a folder" in r.stderr
    assert "Traceback" not in r.stderr and a_file.read_text() == "keep me"
    r = subprocess.run(tool + ["--out", str(tmp_path / "d"), "--fps", "0"], capture_output=True, text=True)
    assert r.returncode == 2 and "VIDEO.FPS must be a positive number, got 0.0" in r.stderr
    assert "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.txt"]   # no folder, no empty split files


def test_other_bad_values_are_refused_before_writing(tmp_path, capsys):
    base = ["--out", str(tmp_path / "d"), "--num-videos", "2", "--annotations-only"]
    for extra, msg in ((["--width", "321"], "VIDEO.WIDTH must be even"),
                       (["--duration", "-1"], "VIDEO.DURATION must be a positive number"),
                       (["PEOPLE.MIN", "3", "PEOPLE.MAX", "2"], "1 <= MIN <= MAX"),
                       (["SPLITS.VAL", "0.6", "SPLITS.TEST", "0.6"], "SPLITS.VAL + SPLITS.TEST"),
                       (["HARD.TWIN_PROB", "1.5"], "HARD.TWIN_PROB must be in [0, 1]")):
        assert make_synthetic.main(base + extra) == 2
        assert msg in capsys.readouterr().err
    assert make_synthetic.main(["--out", str(tmp_path / "d"), "--num-videos", "0"]) == 2
    assert not (tmp_path / "d").exists()
