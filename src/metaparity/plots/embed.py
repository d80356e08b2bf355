"""Embed a figure in a self-contained HTML page (the reproduction report's figures)."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from metaparity.plots._common import require_mpl

__all__ = ["encode_png"]


def encode_png(fig_or_path: Any) -> str:
    """Return a ``data:image/png;base64,...`` URI for a self-contained HTML report.

    Parameters
    ----------
    fig_or_path : matplotlib.figure.Figure or str or Path
        A figure (rendered as PNG at its own dpi, tight bounding box) or the path of a
        PNG file.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        No such file, a file that is not a PNG, or neither a figure nor a path.

    Examples
    --------
    ``f'<img src="{encode_png("orr.png")}">'`` embeds the file in HTML.
    """
    if isinstance(fig_or_path, str | Path):
        p = Path(fig_or_path)
        if not p.is_file():
            raise ValueError(f"encode_png: no such file {str(p)!r}")
        data = p.read_bytes()
        if not data.startswith(b"\x89PNG\r\n\x1a\n"):
            raise ValueError(f"encode_png: {str(p)!r} is not a PNG file")
    elif hasattr(fig_or_path, "savefig"):
        buf = io.BytesIO()
        if getattr(fig_or_path, "canvas", None) is None or not hasattr(
            fig_or_path.canvas, "print_png"
        ):  # pragma: no cover - a figure without an Agg-capable canvas
            _, canvas_cls = require_mpl()
            canvas_cls(fig_or_path)
        fig_or_path.savefig(
            buf, format="png", bbox_inches="tight", pad_inches=0.15, facecolor="white"
        )
        data = buf.getvalue()
    else:
        raise ValueError(
            f"encode_png needs a matplotlib Figure or a PNG path, got {type(fig_or_path).__name__}"
        )
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")
