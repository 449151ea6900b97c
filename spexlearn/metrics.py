"""Faithfulness and support recovery: how well an explanation matches the function."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from sklearn.metrics import r2_score

from .spectral import SparseSpectrum

__all__ = ["SupportRecovery", "faithfulness", "support_recovery", "top_k_overlap"]


def faithfulness(explanation, masks, values) -> float:
    """R² of an explanation's predictions against the true values on masks.

    Parameters
    ----------
    explanation : fitted explainer or SparseSpectrum
        Anything with ``predict(masks)`` or ``evaluate(masks)``.
    masks : array-like of shape (m, n)
        Held-out masks (use ≥ 300 uniformly random masks).
    values : array-like of shape (m,)
        The value function on those masks.

    Examples
    --------
    >>> import numpy as np
    >>> from spexlearn.datasets import make_sparse_function
    >>> from spexlearn.metrics import faithfulness
    >>> f, truth = make_sparse_function(10, 5, 2, random_state=0)
    >>> masks = np.random.default_rng(0).integers(0, 2, size=(300, 10))
    >>> faithfulness(truth, masks, f(masks))
    1.0
    """
    predict = getattr(explanation, "predict", None) or explanation.evaluate
    return float(r2_score(np.asarray(values, dtype=np.float64), predict(masks)))


class SupportRecovery(NamedTuple):
    """Precision, recall and F1 of recovered (non-empty) subsets against the truth."""

    precision: float
    recall: float
    f1: float


def support_recovery(
    estimated: SparseSpectrum, truth: SparseSpectrum, *, tol: float = 0.0
) -> SupportRecovery:
    """Compare the non-empty supports of two spectra (terms with ``|coef| > tol``).

    Examples
    --------
    >>> from spexlearn.spectral import SparseSpectrum
    >>> from spexlearn.metrics import support_recovery
    >>> truth = SparseSpectrum([(0,), (1, 2)], [1.0, -1.0], n_components=3)
    >>> found = SparseSpectrum([(0,), (2,)], [0.9, 0.1], n_components=3)
    >>> support_recovery(found, truth)
    SupportRecovery(precision=0.5, recall=0.5, f1=0.5)
    """
    found = _support(estimated, tol)
    true = _support(truth, tol)
    hits = len(found & true)
    precision = hits / len(found) if found else float(not true)
    recall = hits / len(true) if true else 1.0
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return SupportRecovery(precision, recall, f1)


def top_k_overlap(estimated: SparseSpectrum, truth: SparseSpectrum, k: int) -> float:
    """Share of the truth's ``k`` largest non-empty terms among the estimate's ``k`` largest."""
    top_found = _support(_nonempty(estimated).largest(k), 0.0)
    top_true = _support(_nonempty(truth).largest(k), 0.0)
    return len(top_found & top_true) / max(len(top_true), 1)


def _nonempty(spectrum: SparseSpectrum) -> SparseSpectrum:
    return spectrum.select(spectrum.orders > 0)


def _support(spectrum: SparseSpectrum, tol: float) -> set[tuple[int, ...]]:
    return {s for s, c in spectrum if s and abs(c) > tol}
