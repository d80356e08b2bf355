"""Input checks that name the study/row, the value and the fix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def study_label(i: int, slab: Sequence[object] | None) -> str:
    """Human label for row ``i`` (0-based): the study label if given, else ``row i+1``."""
    if slab is not None:
        return f"study {slab[i]!r} (row {i + 1})"
    return f"study in row {i + 1}"


def column(name: str, x: object, data: object) -> object:
    """Resolve ``x``: a column name of ``data`` (a DataFrame) or the values themselves."""
    if not isinstance(x, str):
        return x
    if data is None:
        raise ValueError(f"{name}={x!r} names a column, but no data= was given")
    cols = list(data.columns)  # type: ignore[attr-defined]
    if x not in cols:
        raise ValueError(
            f"{name}={x!r} is not a column of data (columns: {', '.join(map(str, cols))})"
        )
    return data[x].to_numpy()  # type: ignore[index]


def as_float_array(name: str, x: object) -> np.ndarray:
    """Convert ``x`` to a float array or explain which entry is not numeric."""
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        vals = list(np.asarray(x, dtype=object).ravel())
        for i, val in enumerate(vals):
            try:
                float(val)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{name}: row {i + 1} holds {val!r}, which is not a number; "
                    f"give numeric {name} (use NaN for a missing value)"
                ) from None
        raise ValueError(f"{name} could not be read as numbers") from None
    return arr


def check_same_length(**arrays: np.ndarray | None) -> int:
    """All 1-D arrays must have the same length; returns it."""
    lengths = {k: int(np.size(v)) for k, v in arrays.items() if v is not None}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        raise ValueError(f"arguments differ in length ({desc}); give one value per study")
    return next(iter(lengths.values())) if lengths else 0


def check_yi_vi(yi: np.ndarray, vi: np.ndarray, slab: Sequence[object] | None = None) -> None:
    """yi finite, vi finite and > 0, one value per study (1-D inputs)."""
    if yi.size == 0:
        raise ValueError("no studies given (k = 0); a meta-analysis needs at least one study")
    for i in range(yi.size):
        if not np.isfinite(yi[i]):
            raise ValueError(
                f"{study_label(i, slab)} has yi={float(yi[i])!r}, which is not finite; "
                "remove the study or supply its effect size"
            )
        if not np.isfinite(vi[i]):
            raise ValueError(
                f"{study_label(i, slab)} has vi={float(vi[i])!r}, which is not finite; "
                "remove the study or supply its sampling variance"
            )
        if vi[i] <= 0:
            raise ValueError(
                f"{study_label(i, slab)} has vi={float(vi[i])!r} <= 0; sampling variances must be "
                "positive (for proportions with 0 or n events use a continuity correction, "
                "escalc(..., add=0.5), or drop the study)"
            )


def check_level(level: float) -> float:
    """A confidence level in percent, read as metafor reads ``level``.

    metafor (3.8 to 5.x) takes a value >= 1 as a percentage, one in (0.5, 1) as a
    proportion and one in (0, 0.5] as alpha: 95, 0.95 and 0.05 all mean 95 %.
    0 and 100 (zero-width and infinite intervals) are refused.

    >>> check_level(0.95), check_level(90), check_level(0.05), check_level(1)
    (95.0, 90.0, 95.0, 1.0)
    """
    lv = float(level)
    if not 0 < lv < 100:
        raise ValueError(
            f"level={level!r}: give a confidence level between 0 and 100 (exclusive), e.g. 95"
        )
    if lv < 1:
        # metafor: (0.5, 1) is a proportion, (0, 0.5] is alpha
        lv = 100.0 * lv if lv > 0.5 else 100.0 * (1.0 - lv)
    return lv
