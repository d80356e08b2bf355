"""metaparity: meta-analysis pooling that agrees with R's metafor, number by number.

The facade: every public function and result class is importable from here; the
subpackages hold the layers (``_core`` -> ``effects``/``engine`` -> ``models`` ->
``analysis`` -> ``plots``/``parity`` -> ``reproduce`` -> ``cli``).

>>> import metaparity as mp
>>> dat = mp.escalc("PR", xi=[2, 16], ni=[122, 78])
>>> res = mp.rma(data=dat, method="DL")
>>> round(res.b, 4)  # metafor: rma(measure="PR", xi=c(2,16), ni=c(122,78), method="DL")
0.1056
"""

from metaparity._core.mfversion import get_metafor_version, metafor_version, set_metafor_version
from metaparity._core.version import __version__
from metaparity.analysis.anova import AnovaLRT, AnovaWald, anova
from metaparity.analysis.bias import fsn, ranktest, regtest, trimfill
from metaparity.analysis.diagnostics import (
    baujat,
    cooks_distance,
    cumul,
    dfbetas,
    hatvalues,
    influence,
    leave1out,
    leave1out_batch,
    rstandard,
    rstudent,
)
from metaparity.analysis.hc import HcResult, hc
from metaparity.analysis.permutest import PermutestResult, permutest
from metaparity.analysis.robust import RobustResult, robust
from metaparity.analysis.vif import VifResult, vif
from metaparity.effects.escalc import MEASURES, escalc, study_labels, study_sizes
from metaparity.effects.vcalc import blsplit, vcalc
from metaparity.models.blup import blup, ranef
from metaparity.models.confint import ConfInt
from metaparity.models.glmm import GlmmResult, rma_glmm
from metaparity.models.metareg import rma_mods
from metaparity.models.mh import MhResult, rma_mh, rma_mh_batch
from metaparity.models.mv import MvResult, rma_mv
from metaparity.models.peto import PetoResult, rma_peto
from metaparity.models.predict import Prediction
from metaparity.models.results import (
    BatchResult,
    DaskBatchResult,
    ModelResult,
    RmaModsResult,
    RmaResult,
)
from metaparity.models.uni import rma, rma_batch
from metaparity.plots import (
    baujat_plot,
    forest,
    funnel,
    galbraith,
    labbe,
    leave1out_plot,
    profile_plot,
    radial,
    regplot,
)

__all__ = [
    # effect sizes
    "escalc", "MEASURES", "study_labels", "study_sizes", "vcalc", "blsplit",
    # models
    "rma", "rma_batch", "rma_mods", "rma_glmm", "rma_mh", "rma_mh_batch", "rma_peto", "rma_mv",
    # results
    "ModelResult", "RmaResult", "RmaModsResult", "BatchResult", "DaskBatchResult", "GlmmResult",
    "MhResult", "PetoResult", "MvResult", "RobustResult", "AnovaWald", "AnovaLRT",
    "Prediction", "ConfInt",
    # case diagnostics
    "leave1out", "leave1out_batch", "influence", "rstandard", "rstudent", "cumul", "baujat",
    "cooks_distance", "dfbetas", "hatvalues", "blup", "ranef",
    # publication bias
    "ranktest", "regtest", "trimfill", "fsn", "hc", "HcResult",
    # cluster-robust inference
    "robust", "anova", "permutest", "PermutestResult", "vif", "VifResult",
    # plots (matplotlib is imported when one is drawn)
    "forest", "funnel", "radial", "galbraith", "labbe", "baujat_plot", "leave1out_plot", "profile_plot",
    "regplot",
    # which metafor release's behaviour is mirrored
    "set_metafor_version", "get_metafor_version", "metafor_version",
    "__version__",
]  # fmt: skip
