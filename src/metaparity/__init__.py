"""metaparity: meta-analysis pooling that agrees with R's metafor, number by number.

>>> import metaparity as mp
>>> dat = mp.escalc("PR", xi=[2, 16], ni=[122, 78])
>>> res = mp.rma(data=dat, method="DL")
>>> round(res.b, 4)  # metafor: rma(measure="PR", xi=c(2,16), ni=c(122,78), method="DL")
0.1056
"""

from metaparity.effects.escalc import MEASURES, escalc
from metaparity.models.metareg import RmaModsResult, rma_mods
from metaparity.models.uni import BatchResult, RmaResult, rma, rma_batch

__all__ = [
    "escalc", "rma", "rma_batch", "rma_mods", "RmaResult", "RmaModsResult", "BatchResult",
    "MEASURES", "__version__",
]  # fmt: skip
__version__ = "0.1.0"
from metaparity.analysis.diagnostics import (
    baujat,
    cumul,
    influence,
    leave1out,
    leave1out_batch,
    rstandard,
    rstudent,
)  # noqa: E402, I001

__all__ += ["leave1out", "leave1out_batch", "influence", "rstandard", "rstudent", "cumul", "baujat"]
from metaparity.models.glmm import GlmmResult, rma_glmm  # noqa: E402, I001

__all__ += ["rma_glmm", "GlmmResult"]
from metaparity.analysis.bias import fsn, ranktest, regtest, trimfill  # noqa: E402, I001

__all__ += ["ranktest", "regtest", "trimfill", "fsn"]
