"""The shipped model file, `make demo`'s steps and the demo-model recipe (issue: a shipped model)."""
import json
import pathlib

import pytest

from stvg.data import load_hcstvg
from stvg.data.synthetic import generate

REPO = pathlib.Path(__file__).resolve().parents[1]
SHIPPED = REPO / "models" / "stvg_synthetic.pth"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    out = tmp_path_factory.mktemp("clip")
    generate(str(out), 3, seed=11, progress=False)
    videos = {}
    for split in ("train", "val", "test"):
        if (out / f"{split}.json").is_file():
            videos.update(load_hcstvg(str(out / f"{split}.json"), strict=True)[0])
    vid = sorted(videos)[0]
    return out, vid, videos[vid]


def _check_result(r, ann):
    from stvg.submission import validate

    assert r.found, r.reason
    first, last = r.frames
    assert 0 <= first <= last < ann.num_frames
    assert r.tube.is_dense() and (r.tube.start_frame, r.tube.end_frame) == (first, last)
    assert r.segment.start == pytest.approx(first / r.fps) and r.segment.end == pytest.approx((last + 1) / r.fps)
    assert not validate({"v": r.entry()})


def test_shipped_model_loads_strictly_and_predicts(clip):
    from stvg.model_file import read_model_file
    from stvg.pipeline import STVGPredictor

    data = read_model_file(str(SHIPPED))  # weights_only, every field checked
    assert data["mode"] == "two_stage" and SHIPPED.stat().st_size < 25e6
    predictor = STVGPredictor.from_file(str(SHIPPED), device="cpu")
    out, vid, ann = clip
    _check_result(predictor(str(out / "videos" / vid), ann.sentence), ann)


def test_demo_steps_on_a_reduced_set(tmp_path, capsys):
    from tools import demo

    assert demo.main(["--num-videos", "2", "--out", str(tmp_path / "demo")]) == 0
    text = capsys.readouterr().out
    assert "vIoU" in text and "baseline: gt_span_random_person" in text
    for name in ("demo_answer.jpg", "demo_scoremap.png", "submission.json"):
        assert (tmp_path / "demo" / name).is_file()
    assert len(json.loads((tmp_path / "demo" / "submission.json").read_text())) == 2


def test_recipe_end_to_end_on_a_tiny_set(tmp_path, clip):
    from stvg.pipeline import STVGPredictor
    from tools import train_demo_model

    model = tmp_path / "model.pth"
    assert train_demo_model.main(["--work", str(tmp_path / "work"), "--out", str(model), "--num-videos", "10",
                                  "--jobs", "1", "--epochs-temporal", "1", "--epochs-matcher", "1"]) == 0
    multi = json.loads((tmp_path / "work" / "data" / "train_multi.json").read_text())
    assert multi and all(isinstance(v, list) and v for v in multi.values())   # MMN trains on it
    more = json.loads((tmp_path / "work" / "data" / "train_matcher.json").read_text())
    assert more.keys() == multi.keys() and sum(map(len, more.values())) >= sum(map(len, multi.values()))
    matcher_cfg = (tmp_path / "work" / "matcher" / "config.yaml").read_text()
    assert "train_matcher.json" in matcher_cfg and "train_multi.json" not in matcher_cfg   # the matcher on its own file
    out, vid, ann = clip
    r = STVGPredictor.from_file(str(model), device="cpu")(str(out / "videos" / vid), ann.sentence)
    assert r.frames[0] <= r.frames[1]


def test_demo_predicts_again_after_the_model_file_changes(tmp_path, capsys):
    from tools.demo import _forget_other_models_predictions

    model, sub = tmp_path / "m.pth", tmp_path / "submission.json"
    model.write_bytes(b"one model")
    (tmp_path / "submission.json.parts").mkdir()
    sub.write_text("{}")
    _forget_other_models_predictions(str(sub), str(model))          # no record yet: another model's
    assert not sub.exists() and not (tmp_path / "submission.json.parts").exists()
    assert "another model file" in capsys.readouterr().out
    sub.write_text("{}")
    _forget_other_models_predictions(str(sub), str(model))          # same file: the submission resumes
    assert sub.exists()
    model.write_bytes(b"another model")
    _forget_other_models_predictions(str(sub), str(model))
    assert not sub.exists()
