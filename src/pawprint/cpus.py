"""How many CPUs this process may really use.

`os.cpu_count()`, and with it PyTorch's and OpenMP's default thread counts, sees every core of the host. A
container or CI runner limited by a cgroup CPU quota (Docker's `--cpus`, Kubernetes' CPU limits) gets only
its quota's share of them: one thread per host core there spins at OpenMP barriers while the kernel throttles
the process, many times slower than one thread per core of the quota. This module has no heavy imports, so
the test runner can use it too.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

# cgroup v2 keeps the quota in one file ("max 100000" when unlimited); v1 in two.
CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1 = (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))


def quota(v2: Path = CGROUP_V2, v1: tuple[Path, Path] = CGROUP_V1) -> int | None:
    """The cgroup CPU quota in whole CPUs (rounded up), or None where there is none."""
    try:
        if v2.exists():
            limit, period = v2.read_text().split()[:2]
            return None if limit == "max" else max(1, math.ceil(int(limit) / int(period)))
        limit, period = (int(p.read_text()) for p in v1)
    except (OSError, ValueError):
        return None
    return None if limit <= 0 else max(1, math.ceil(limit / period))


def usable() -> int:
    """The CPUs this process may run on (its affinity), capped by the cgroup quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows: no affinity call
        cpus = os.cpu_count() or 1
    return min(cpus, quota() or cpus)
