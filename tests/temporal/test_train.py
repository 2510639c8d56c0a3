"""End-to-end training on CPU with tiny settings: learning on planted features, the tools' outputs,
exact resume, checkpoint/config mismatches."""
from __future__ import annotations

import json

import pytest
import torch

from temporal.defaults import load_temporal_config
from temporal.engine import CheckpointConfigError, train
from temporal.maps import valid_mask
from tests.temporal.temporal_b_helpers import planted_splits, tiny_overrides


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return planted_splits(tmp_path_factory.mktemp("planted"), num_train=64, num_test=32)


def _cfg(planted, out_dir, epochs, extra=()):
    train_ann, test_ann, feats = planted
    return load_temporal_config(None, tiny_overrides(train_ann, feats, str(out_dir), test_ann, epochs=epochs,
                                                 extra=list(extra)))


def test_learns_planted_signal_and_tools_write_outputs(planted, tmp_path, capsys):
    import tools.test_temporal as test_tool
    import tools.train_temporal as train_tool

    train_ann, test_ann, feats = planted
    out = tmp_path / "run"
    args = ["--config", "configs/temporal/_base.yaml", "--no-progress"] + tiny_overrides(
        train_ann, feats, str(out), test_ann, epochs=20, extra=["SOLVER.TEXT_LR_FACTOR", "1.0"])
    assert train_tool.main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["best_metrics"]["R@1,IoU@0.5"] > 0.9, summary
    for name in ("config.yaml", "last.pth", "best.pth", "history.json", "train.log"):
        assert (out / name).is_file(), name
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == list(range(1, 21))
    assert history[-1]["loss"] < history[0]["loss"]
    saved_cfg = load_temporal_config(str(out / "config.yaml"))
    assert saved_cfg.SOLVER.TEXT_LR_FACTOR == 1.0 and saved_cfg.OUTPUT_DIR == str(out)

    metrics_path, dump_path = tmp_path / "m.json", tmp_path / "scores.pt"
    targs = ["--config", str(out / "config.yaml"), "--weights", str(out / "best.pth"), "--out",
             str(metrics_path), "--dump-scores", str(dump_path), "--no-progress"]
    assert test_tool.main(targs) == 0
    metrics = json.loads(metrics_path.read_text())
    assert metrics["R@1,IoU@0.5"] == pytest.approx(summary["best_metrics"]["R@1,IoU@0.5"])
    assert set(summary["best_metrics"]) <= set(metrics) and metrics["num_sentences"] == 64
    assert (tmp_path / "m.config.yaml").is_file()
    scores = torch.load(dump_path)
    assert len(scores) == 64 and "test0000/0" in scores and "test0000/1" in scores
    mask = valid_mask(8, [7])
    for s in scores.values():
        assert s.shape == (8, 8) and s.dtype == torch.float32
        assert bool((s[~mask] == 0).all()) and bool((s[mask] > 0).all())

    # a checkpoint from another config is refused, naming the key and both values
    code = test_tool.main(targs[:4] + ["--no-progress", "MODEL.HIDDEN", "16"])
    assert code == 2
    assert "MODEL.HIDDEN: checkpoint 32, config 16" in capsys.readouterr().err


def _weights(path):
    return torch.load(path, weights_only=True)["model"]


def test_resume_reproduces_uninterrupted_run(planted, tmp_path, monkeypatch):
    # dropout on (BERT default 0.1), text encoder frozen for epoch 1, an LR milestone at 2
    extra = ["SOLVER.FREEZE_TEXT_EPOCHS", "1", "SOLVER.MILESTONES", "[2]"]
    full = tmp_path / "full"
    train(_cfg(planted, full, 3, extra), progress=False)

    import temporal.engine.trainer as trainer

    part = tmp_path / "part"
    real = trainer.run_inference
    calls = {"n": 0}

    def crash_at_third_eval(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated crash during epoch 3")
        return real(*a, **k)

    monkeypatch.setattr(trainer, "run_inference", crash_at_third_eval)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(planted, part, 3, extra), progress=False)
    assert torch.load(part / "last.pth", weights_only=True)["epoch"] == 2
    monkeypatch.setattr(trainer, "run_inference", real)
    summary = train(_cfg(planted, part, 3, extra), resume=True, progress=False)
    assert summary["epochs"] == 3
    a, b = _weights(full / "last.pth"), _weights(part / "last.pth")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    ha = json.loads((full / "history.json").read_text())
    hb = json.loads((part / "history.json").read_text())
    assert [h["loss"] for h in ha] == [h["loss"] for h in hb]
    assert [h["metrics"] for h in ha] == [h["metrics"] for h in hb]


def test_resume_refuses_changed_config_and_starts_afresh_without_checkpoint(planted, tmp_path):
    out = tmp_path / "r"
    train(_cfg(planted, out, 1), progress=False)
    with pytest.raises(CheckpointConfigError, match=r"SOLVER.LR: checkpoint 0.001, config 0.002"):
        train(_cfg(planted, out, 2, ["SOLVER.LR", "0.002"]), resume=True, progress=False)
    with pytest.raises(FileExistsError, match="already holds a run"):  # never overwritten silently
        train(_cfg(planted, out, 2), progress=False)
    # --resume before any checkpoint exists (a run killed before its first epoch ended): starts afresh
    assert train(_cfg(planted, tmp_path / "empty", 2), resume=True, progress=False)["epochs"] == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_train_and_test_on_cuda_with_amp(planted, tmp_path):
    from temporal.engine import evaluate_checkpoint

    out = tmp_path / "cuda"
    summary = train(_cfg(planted, out, 20, ["DEVICE", "cuda", "SOLVER.AMP", "True",
                                            "SOLVER.TEXT_LR_FACTOR", "1.0"]), progress=False)
    assert summary["best_metrics"]["R@1,IoU@0.5"] > 0.9, summary
    ckpt = torch.load(out / "last.pth", weights_only=True)
    assert ckpt["scaler"]["scale"] > 0  # the GradScaler was active
    # the CUDA-trained checkpoint tests the same on CPU (fp32) within rounding of the ranking
    cpu_metrics = evaluate_checkpoint(_cfg(planted, out, 20, ["DEVICE", "cpu"]), str(out / "best.pth"),
                                  progress=False)
    assert cpu_metrics["R@1,IoU@0.5"] == pytest.approx(summary["best_metrics"]["R@1,IoU@0.5"], abs=0.05)


def test_worker_count_does_not_change_training(planted, tmp_path):
    for w in (0, 2):
        train(_cfg(planted, tmp_path / f"w{w}", 1, ["SOLVER.NUM_WORKERS", str(w)]), progress=False)
    a, b = _weights(tmp_path / "w0" / "last.pth"), _weights(tmp_path / "w2" / "last.pth")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
