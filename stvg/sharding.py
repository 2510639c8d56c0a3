"""Split a list of work items (videos) across processes.

Either explicit ``num_shards``/``shard`` (a cluster scheduler's array job) or, when those are not
given, the ``torchrun`` environment (``WORLD_SIZE``/``RANK``). Shards are disjoint, cover every
item, and depend only on the sorted item list, so every process computes the same split.
"""
from __future__ import annotations

import os
from typing import List, Optional, Sequence, Tuple

__all__ = ["resolve_shard", "shard_items"]


def resolve_shard(num_shards: Optional[int] = None, shard: Optional[int] = None) -> Tuple[int, int]:
    """``(num_shards, shard)`` from the arguments, else from torchrun's WORLD_SIZE/RANK, else (1, 0)."""
    if (num_shards is None) != (shard is None):
        raise ValueError("give both --num-shards and --shard, or neither")
    if num_shards is None:
        num_shards = int(os.environ.get("WORLD_SIZE", "1"))
        shard = int(os.environ.get("RANK", "0"))
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise ValueError(f"invalid shard {shard} of {num_shards}")
    return num_shards, shard


def shard_items(items: Sequence[str], num_shards: Optional[int] = None,
                shard: Optional[int] = None) -> List[str]:
    """The items this process handles: every ``num_shards``-th of the sorted items, from ``shard``."""
    n, i = resolve_shard(num_shards, shard)
    return sorted(items)[i::n]
