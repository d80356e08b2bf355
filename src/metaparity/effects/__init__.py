"""Effect sizes (metafor's ``escalc``), back-transforms and bundled data sets.

>>> from metaparity.effects import escalc, study_labels
>>> dat = escalc("PR", xi=[2, 16], ni=[122, 78], slab=["Chari 2019", "Vogl 2018"])
>>> study_labels(dat.iloc[1:])
('Vogl 2018',)
"""

from metaparity.effects.escalc import MEASURES, escalc, study_labels, study_sizes
from metaparity.effects.vcalc import blsplit, vcalc

__all__ = ["escalc", "study_labels", "study_sizes", "MEASURES", "vcalc", "blsplit"]
