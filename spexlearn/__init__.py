"""spexlearn: find the interactions that drive a model's output, by ablation.

SPEX and ProxySPEX as scikit-learn estimators: they query a value function on masks
(1 = component kept, 0 = ablated), fit a sparse Fourier surrogate of the whole ablation
landscape, and report the interactions among components.
"""

from ._base import LowFaithfulnessWarning
from ._greedy import GreedyAblationExplainer
from ._proxy_spex import ProxySPEXExplainer
from ._spex import SPEXExplainer
from .interactions import Interactions
from .spectral import SparseSpectrum

__version__ = "0.1.0.dev0"

__all__ = [
    "GreedyAblationExplainer",
    "Interactions",
    "LowFaithfulnessWarning",
    "ProxySPEXExplainer",
    "SPEXExplainer",
    "SparseSpectrum",
    "__version__",
]
