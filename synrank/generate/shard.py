"""Deterministic sharding of inputs, so N machines or GPUs can split one job.

An input belongs to shard ``I`` of ``N`` when a hash of its id is ``I`` modulo ``N``: every input lands in
exactly one shard, the split does not depend on the order of the file or on the machine, and appending
inputs later does not move old ones between shards.
"""

from __future__ import annotations

import hashlib
import re

from synrank.errors import ConfigError


def parse_shard(spec: str | None) -> tuple[int, int]:
    """``"I/N"`` (0-based ``I``) to ``(I, N)``; ``None`` is the whole input ``(0, 1)``."""
    if spec is None or spec == "":
        return 0, 1
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", spec)
    if not m:
        raise ConfigError(f"must look like I/N, e.g. 0/4 (got {spec!r})", setting="shard")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"{spec}: need N >= 1 and 0 <= I < N (shards are numbered from 0)", setting="shard")
    return i, n


def shard_of(key: str, n: int) -> int:
    digest = hashlib.sha1(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n


def in_shard(key: str, shard: tuple[int, int]) -> bool:
    i, n = shard
    return n == 1 or shard_of(key, n) == i
