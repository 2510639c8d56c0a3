"""tools/make_synthetic.py: flags reach the config, a clash with an existing folder exits cleanly."""
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))

import make_synthetic  # noqa: E402


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
