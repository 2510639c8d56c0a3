"""The reference baselines: well-formed predictions, and the numbers they must give by construction."""
import json

import pytest

from stvg.data.synthetic.baselines import BASELINES, KEYS, baseline_predictions, score_all
from stvg.evaluation import evaluate
from stvg.submission import validate


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
    # the GT span (with someone's boxes) is closer in time than a random person's whole tube (m_tIoU),
    # and no video's vIoU can exceed its tIoU
    assert res["gt_span_random_person"]["m_tIoU"] > res["random_person"]["m_tIoU"]
    for r in res.values():
        assert all(v <= t + 1e-12 for v, t in r["per_video"].values())
    assert all(0 <= r["m_vIoU"] < 1 for r in res.values())
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_predictions("oracle", gt, tubes)


def test_score_all_averages_the_random_baselines(tiny_annotations):
    gt = json.load(open(tiny_annotations / "val.json"))
    tubes = json.load(open(tiny_annotations / "all_tubes.json"))
    res = score_all(str(tiny_annotations), "val", seeds=3)
    for name in BASELINES:
        runs = [evaluate(baseline_predictions(name, gt, tubes, seed=s), gt)
                for s in range(3 if name in ("random_person", "gt_span_random_person") else 1)]
        assert res[name] == {**{k: sum(r[k] for r in runs) / len(runs) for k in KEYS}, "num_videos": len(gt)}
    with pytest.raises(ValueError, match="seeds"):
        score_all(str(tiny_annotations), "val", seeds=0)


def test_tool_prints_a_table(tiny_annotations, tmp_path, capsys):
    from tools import synth_baselines
    assert synth_baselines.main(["--data", str(tiny_annotations), "--split", "train", "--seeds", "2"]) == 0
    out = capsys.readouterr().out
    assert "gt_person_whole_video" in out and "m_vIoU" in out
    assert synth_baselines.main(["--data", str(tmp_path / "nothing")]) == 2
    assert "synthetic test split not found" in capsys.readouterr().err
