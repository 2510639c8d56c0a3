"""The reference baselines: well-formed predictions, and the numbers they must give by construction."""
import json
import pathlib
import sys

import pytest

from stvg.evaluation import evaluate
from stvg.submission import validate
from stvg.synth.baselines import BASELINES, baseline_predictions

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))


def test_baselines(tiny_annotations):
    gt = json.load(open(tiny_annotations / "train.json"))
    tubes = json.load(open(tiny_annotations / "all_tubes.json"))
    res = {}
    for name in BASELINES:
        pred = baseline_predictions(name, gt, tubes, seed=0)
        assert validate(pred, gt=gt) == []
        res[name] = evaluate(pred, gt, per_video=True)
    # the right person over the whole video: every GT frame matches exactly, so vIoU == tIoU < 1
    for vid, (viou, tiou) in res["gt_person_whole_video"]["per_video"].items():
        assert viou == pytest.approx(tiou) and 0 < tiou <= 1
    # the GT span with someone's boxes: never better in vIoU than the right person on that span
    assert res["gt_span_random_person"]["m_tIoU"] > res["random_person"]["m_tIoU"]
    assert all(0 <= r["m_vIoU"] < 1 for r in res.values())
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_predictions("oracle", gt, tubes)


def test_tool_prints_a_table(tiny_annotations, capsys):
    import synth_baselines
    assert synth_baselines.main(["--data", str(tiny_annotations), "--split", "train", "--seeds", "2"]) == 0
    out = capsys.readouterr().out
    assert "gt_person_whole_video" in out and "m_vIoU" in out
