"""spexlearn: find the interactions that drive a model's output, by ablation.

SPEX and ProxySPEX as scikit-learn estimators: they query a value function on masks
(1 = component kept, 0 = ablated), fit a sparse Fourier surrogate of the whole ablation
landscape, and report the interactions among components.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0.dev0"

# The public names load on first use (PEP 562): ``import spexlearn`` stays cheap, so the
# ``spexlearn`` command reaches its Ctrl-C handler before numpy and scikit-learn load.
_EXPORTS = {
    "BaseExplainer": "._base",
    "GreedyAblationExplainer": "._greedy",
    "Interactions": ".interactions",
    "LowFaithfulnessWarning": "._base",
    "ProxySPEXExplainer": "._proxy_spex",
    "SPEXExplainer": "._spex",
    "SparseSpectrum": ".spectral",
}
# The public submodules load on first attribute access too: ``spexlearn.masks`` works
# after a bare ``import spexlearn``, as ``import spexlearn.masks`` always did.
_SUBMODULES = (
    "ablation", "datasets", "interactions", "lm", "masks", "metrics", "plot", "report",
    "segment", "spectral",
)

__all__ = [
    "BaseExplainer",
    "GreedyAblationExplainer",
    "Interactions",
    "LowFaithfulnessWarning",
    "ProxySPEXExplainer",
    "SPEXExplainer",
    "SparseSpectrum",
    "__version__",
]

if TYPE_CHECKING:
    from ._base import BaseExplainer, LowFaithfulnessWarning
    from ._greedy import GreedyAblationExplainer
    from ._proxy_spex import ProxySPEXExplainer
    from ._spex import SPEXExplainer
    from .interactions import Interactions
    from .spectral import SparseSpectrum


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)  # the import binds the name
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_SUBMODULES})
