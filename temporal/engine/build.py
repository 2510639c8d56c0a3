"""Objects of a run, from the config: datasets, loaders, model, optimizer, scheduler.

``MODEL.MODE`` picks the data and the network: ``moment`` builds :class:`MomentDataset` /
:class:`MomentCollator` / :class:`MMN`, ``tube`` builds :class:`TubeDataset` / :class:`TubeCollator` /
:class:`TubeMMN` (``DATASET.NAME hcstvg``, ``DATASET.TUBES``; see docs/tube_mmn.md). The loaders,
optimizer and scheduler are the same in both modes."""
from __future__ import annotations

import logging
from typing import List, Optional, Tuple, Union

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, SequentialSampler

from ..data import MomentCollator, MomentDataset, TubeCollator, TubeDataset
from ..model import MMN, build_tokenizer
from ..tube_mmn import TubeMMN

__all__ = ["build_dataset", "build_train_loader", "build_test_loader", "build_model", "is_tube_mode",
           "mmn_of", "text_backbone_params", "build_optimizer", "build_scheduler", "split_ann"]

Model = Union[MMN, TubeMMN]

log = logging.getLogger(__name__)


def split_ann(cfg, split: str) -> str:
    """Annotation file of ``split``: train -> TRAIN_ANN; val -> VAL_ANN, or TEST_ANN when empty; test -> TEST_ANN."""
    d = cfg.DATASET
    path = {"train": d.TRAIN_ANN, "val": d.VAL_ANN or d.TEST_ANN, "test": d.TEST_ANN}[split]
    if not path:
        raise ValueError(f"no annotation file for the {split} split: set DATASET."
                         f"{'TRAIN' if split == 'train' else 'TEST' if split == 'test' else 'VAL'}_ANN")
    return path


def is_tube_mode(cfg) -> bool:
    """True for ``MODEL.MODE tube`` (tube-conditioned MMN)."""
    return cfg.MODEL.MODE == "tube"


def build_dataset(cfg, split: str, skip_missing: Optional[bool] = None) -> Union[MomentDataset, TubeDataset]:
    d = cfg.DATASET
    skip = d.SKIP_MISSING if skip_missing is None else skip_missing
    if is_tube_mode(cfg):
        if d.NAME != "hcstvg":
            raise ValueError(f"MODEL.MODE tube reads HC-STVG-format annotation files: set DATASET.NAME hcstvg "
                             f"(got {d.NAME!r})")
        # training targets in LOSS.ST_IOU_PLUS_ONE's convention; evaluation (oracle) in the official one
        ds = TubeDataset.from_files(split_ann(cfg, split), d.TUBES, d.FEATURES, d.FEATURE_KEY,
                                    int(cfg.MODEL.FEAT_DIM), int(cfg.MODEL.NUM_PRE_CLIPS), int(cfg.MODEL.NUM_CLIPS),
                                    bool(cfg.LOSS.ST_IOU_PLUS_ONE) and split == "train", skip,
                                    geometry=bool(cfg.MODEL.TUBE_GEOMETRY))
        log.info("%s split: %d videos with tubes (%d tubes), %d queries; %d without a tube, %d missing", split,
                 len(ds), sum(len(v.tubes) for v in ds.videos), ds.num_queries, len(ds.empty), len(ds.missing))
        return ds
    ds = MomentDataset.from_files(d.NAME, split_ann(cfg, split), d.FEATURES, d.FEATURE_KEY,
                                  int(cfg.MODEL.FEAT_DIM), int(cfg.MODEL.NUM_PRE_CLIPS), skip)
    log.info("%s split: %d videos, %d queries (%s)", split, len(ds), ds.num_queries,
             ds.report.summary() if ds.report else "")
    return ds


def _collator(cfg, tokenizer) -> Union[MomentCollator, TubeCollator]:
    if is_tube_mode(cfg):
        return TubeCollator(tokenizer, int(cfg.DATASET.MAX_SENT_LEN))
    return MomentCollator(tokenizer, int(cfg.MODEL.NUM_CLIPS), int(cfg.DATASET.MAX_SENT_LEN))


def build_train_loader(cfg, dataset: Dataset, tokenizer, world_size: int = 1, rank: int = 0,
                       pin_memory: bool = False) -> Tuple[DataLoader, DistributedSampler]:
    """Shuffled loader whose order depends only on (SOLVER.SEED, epoch): ``sampler.set_epoch(e)``.

    The loader draws its workers' base seed from its own generator (``loader.generator``), never
    from the global RNG, so the number of workers does not change the model's random stream
    (dropout), and a resumed run sees the same stream as an uninterrupted one.

    SOLVER.BATCH_SIZE counts videos over all processes; each of the ``world_size`` processes takes
    ``BATCH_SIZE // world_size``."""
    total = int(cfg.SOLVER.BATCH_SIZE)
    if total % world_size:
        raise ValueError(f"SOLVER.BATCH_SIZE {total} is not divisible by the {world_size} processes")
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True,
                                 seed=int(cfg.SOLVER.SEED), drop_last=False)
    workers = int(cfg.SOLVER.NUM_WORKERS)
    generator = torch.Generator().manual_seed(int(cfg.SOLVER.SEED))
    loader = DataLoader(dataset, batch_size=total // world_size, sampler=sampler, num_workers=workers,
                        collate_fn=_collator(cfg, tokenizer), persistent_workers=workers > 0,
                        pin_memory=pin_memory, generator=generator)
    return loader, sampler


def build_test_loader(cfg, dataset: Dataset, tokenizer, pin_memory: bool = False) -> DataLoader:
    """Sequential loader; like the training loader it never draws from the global RNG."""
    return DataLoader(dataset, batch_size=int(cfg.TEST.BATCH_SIZE), sampler=SequentialSampler(dataset),
                      num_workers=int(cfg.SOLVER.NUM_WORKERS), collate_fn=_collator(cfg, tokenizer),
                      pin_memory=pin_memory, generator=torch.Generator().manual_seed(0))


def build_model(cfg) -> Tuple[Model, object]:
    """``(model on CPU, tokenizer)``: :class:`MMN`, or :class:`TubeMMN` in tube mode."""
    model = TubeMMN(cfg.MODEL) if is_tube_mode(cfg) else MMN(cfg.MODEL)
    return model, build_tokenizer(cfg.MODEL)


def mmn_of(model: Model) -> MMN:
    """The :class:`MMN` inside ``model`` (itself in moment mode)."""
    return model.mmn if isinstance(model, TubeMMN) else model


def text_backbone_params(model: Model) -> List[nn.Parameter]:
    """The transformers encoder's parameters: the "bert" group (LR x TEXT_LR_FACTOR, frozen for
    epochs <= FREEZE_TEXT_EPOCHS). The text LayerNorm and heads train with the base group, as in the
    reference."""
    return list(mmn_of(model).text_encoder.encoder.parameters())


def build_optimizer(cfg, model: Model) -> torch.optim.AdamW:
    s = cfg.SOLVER
    text = {id(p) for p in text_backbone_params(model)}
    base = [p for p in model.parameters() if id(p) not in text]
    return torch.optim.AdamW(
        [{"params": base, "lr": float(s.LR)},
         {"params": text_backbone_params(model), "lr": float(s.LR) * float(s.TEXT_LR_FACTOR)}],
        lr=float(s.LR), betas=tuple(float(b) for b in s.BETAS), weight_decay=float(s.WEIGHT_DECAY))


def build_scheduler(cfg, optimizer) -> torch.optim.lr_scheduler.MultiStepLR:
    """Stepped once per epoch: epoch e (1-based) runs at LR x GAMMA ** (milestones < e)."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, [int(m) for m in cfg.SOLVER.MILESTONES],
                                                gamma=float(cfg.SOLVER.GAMMA))
