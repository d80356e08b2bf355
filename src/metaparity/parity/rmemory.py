"""How much memory and time metafor's ``rma()`` needs, checked before R is called.

metafor's ``rma.uni`` builds k x k matrices (the weight and hat matrices, ``P``), so its
peak memory grows as k²: at k = 20,000 one such matrix is 3.2 GB and the fit needs several.
An R process that runs out of memory is killed by the kernel with no message; metaparity
refuses such an analysis first, with the largest k that fits.

Calibration (host: R 4.2.2, metafor 3.8.1, 2 shared cores; peak RSS from GNU
``/usr/bin/time -f %M`` of ``Rscript`` on k studies, yi ~ N(0, vi + 0.05), vi ~ U(0.01, 0.1))::

    what                                            k = 1000         k = 2000
    library(metafor) alone                          207 MB, 12 s
    rma(method="DL") + predict()                    288 MB, 17 s     460 MB, 23 s
    rma(method="REML") + predict()                  342 MB, 31 s     647 MB, 228 s
    bridge mp_rma(REML): rma + predict + confint    358 MB, 56 s     749 MB, 612 s

    rma(method="REML") at k = 4000: VmHWM 709 MB while iterating (30 to 120 s); the peak
    comes after convergence (hat/P matrices), so that run is a lower bound only (not waited
    for: about 30 min on this host).

The bridge's ``mp_rma()`` is what ``metaparity parity`` runs, so its two points are fitted:
``peak ≈ BASE_BYTES + C_MATRICES * 8 * k²`` with 130 bytes per k² (about 16 k x k double
matrices alive at the peak, garbage R has not yet collected included) over a 228 MB base;
DL alone needs about 7 matrices, REML alone 13 -- one conservative constant is used for
every estimator.  Time: ``SECONDS_PER_K3 * k³`` (iterative estimators, each step solves
with k x k matrices; measured 56 s at k = 1000 and 612 s at 2000) and
``SECONDS_PER_K3_CLOSED`` for closed-form ones; only used to decide on progress lines.

>>> round(peak_bytes(20000) / 1e9)
52
>>> largest_k(21e9)
11200
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from metaparity._core.io import InputError

__all__ = ["peak_bytes", "available_bytes", "check_memory", "expected_seconds", "largest_k"]

#: resident R + metafor (+ Matrix, metadat) before any fit, bytes
BASE_BYTES = 228e6
#: k x k double matrices alive at metafor's peak (fitted from the calibration above)
C_MATRICES = 16.3
#: seconds per k³ of mp_rma() (fit + predict + Q-profile confint), iterative estimators
SECONDS_PER_K3 = 6e-8
SECONDS_PER_K3_CLOSED = 1.5e-8
#: fraction of the available memory metafor may take
SAFETY = 0.8
#: the iterative estimators (the others are closed form)
_ITERATIVE = {"ML", "REML", "EB", "PM", "PMM", "SJIT", "DLIT", "GENQM"}


def peak_bytes(k: int, method: str = "REML") -> float:
    """metafor's peak memory for ``rma()`` (+ predict, confint) on k studies, in bytes.

    Parameters
    ----------
    k : int
        Studies.
    method : str
        The estimator (the k² term does not depend on it).

    Returns
    -------
    float
    """
    return BASE_BYTES + C_MATRICES * 8.0 * float(k) ** 2


def largest_k(available: float) -> int:
    """The largest k whose :func:`peak_bytes` fits in ``SAFETY * available`` bytes.

    Parameters
    ----------
    available : float
        Bytes.

    Returns
    -------
    int
    """
    room = SAFETY * available - BASE_BYTES
    k = int(math.sqrt(room / (8.0 * C_MATRICES))) if room > 0 else 0
    return k // 100 * 100 if k >= 1000 else k  # "about 11200", not a false precision


def expected_seconds(k: int, method: str) -> float:
    """Rough run time of one bridge ``rma`` call on k studies (for progress lines).

    Parameters
    ----------
    k : int
    method : str

    Returns
    -------
    float
    """
    c = SECONDS_PER_K3 if method in _ITERATIVE else SECONDS_PER_K3_CLOSED
    return c * float(k) ** 3


def _meminfo_available() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _cgroup_room() -> float | None:
    base = Path("/sys/fs/cgroup")
    try:
        limit = (base / "memory.max").read_text().strip()
        if limit == "max":
            return None
        used = float((base / "memory.current").read_text().strip())
        return float(limit) - used
    except (OSError, ValueError):
        return None


def available_bytes(override_gb: float | None = None) -> tuple[float | None, str]:
    """Memory R may use: ``override_gb``, else ``METAPARITY_R_MEMORY_GB``, else the machine's.

    Parameters
    ----------
    override_gb : float, optional
        GB (``--max-memory``).

    Returns
    -------
    tuple of (float or None, str)
        Bytes (None when unknown: no check) and where the figure comes from.
    """
    if override_gb is None and os.environ.get("METAPARITY_R_MEMORY_GB"):
        try:
            override_gb = float(os.environ["METAPARITY_R_MEMORY_GB"])
        except ValueError:
            raise InputError(
                f"METAPARITY_R_MEMORY_GB={os.environ['METAPARITY_R_MEMORY_GB']!r} is not a "
                "number of GB (e.g. 16)"
            ) from None
    if override_gb is not None:
        return override_gb * 1e9 / SAFETY, f"{override_gb:g} GB allowed"
    vals = [v for v in (_meminfo_available(), _cgroup_room()) if v is not None]
    if not vals:
        return None, "unknown"
    avail = min(vals)
    return avail, f"this machine has {avail / 1e9:.0f} GB available"


def check_memory(
    groups: Sequence[tuple[str, int]],
    methods: Sequence[str],
    override_gb: float | None = None,
) -> None:
    """Refuse, before R is called, an analysis whose k x k matrices would not fit.

    Parameters
    ----------
    groups : sequence of (str, int)
        Each analysed group and its number of studies.
    methods : sequence of str
        The estimators.
    override_gb : float, optional
        The memory metafor may use, GB (else ``METAPARITY_R_MEMORY_GB``, else available).

    Raises
    ------
    InputError
        The largest group would need more than ``SAFETY`` times the available memory.
    """
    if not groups:
        return
    name, k = max(groups, key=lambda g: g[1])
    need = max(peak_bytes(k, m) for m in methods)
    avail, where = available_bytes(override_gb)
    if avail is None or need <= SAFETY * avail:
        return
    raise InputError(
        f"k = {k} studies ({name}): metafor's rma() needs about {need / 1e9:.0f} GB (it builds "
        f"k×k matrices); {where}, so the largest k here is about {largest_k(avail)}. Compare a "
        "subset (--filter) or run metaparity alone (metaparity.rma); to try anyway, raise the "
        "limit with --max-memory GB (or METAPARITY_R_MEMORY_GB)"
    )
