"""The additive rung of the ladder, and the same effects through a fitted quadratic link.

A least-squares fit of every component's own effect has as many coefficients as there
are components, and on a few hundred samples of a dense function (270 attention heads,
500 queries) it predicts fresh masks worse than a handful of effects would: the effects
are fitted by the Lasso instead, its penalty chosen by cross-validation.

Ablation value functions are often *monotone*: keeping a component can only add support
(a source sentence, an attention head, a training point). Where the unconstrained effects
lean one way, the same Lasso with every effect constrained to that sign is tried too, and
kept where its cross-validated error is lower. On the heads task it predicted fresh masks
at R² 0.594 against 0.563 unconstrained (500 queries), because the constraint removes the
chance effects of the wrong sign that the nonlinearity of such a function produces.

Such functions also *saturate*: with most heads switched off, one more does little; with
most kept, the model recovers. The **link** rung passes the additive surrogate's sum
``u(x) = sum_i c_i x_i`` through a fitted quadratic ``a + b u + q u^2``, a single-index
model (Hardle, Hall & Ichimura, 1993, *Ann. Statist.* 21(1)). On 0/1 masks ``x_i^2 = x_i``,
so the quadratic is exactly a function of order 2: its interactions are ``2 q c_i c_j``
for every pair of components with effects, written out as a spectrum like every rung.
scikit-learn's Lasso does the fitting; only the read-out into spectra is written here.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, LassoCV
from sklearn.model_selection import GroupKFold

from .spectral import MOBIUS, SparseSpectrum

__all__ = ["AdditiveSearch", "fit_additive", "fit_link"]

# Penalties on the Lasso path and folds of its cross-validation: the path's optimum is
# flat, and 30 penalties cost a third of the default 100.
_N_ALPHAS, _INNER_FOLDS = 30, 5
_MAX_ITER = 5000
# The link rung writes out a pair term for every two components with effects; above this
# many effects (44,850 pairs) it is not built. At 5,000 queries the heads task keeps 200-270
# effects, where the link still helps (R² 0.6808 -> 0.6821 on its test masks, 0.6939 ->
# 0.6945 on 1,524 more; the same memory, +0.5 s).
MAX_LINK_EFFECTS = 300


@dataclass(frozen=True)
class AdditiveSearch:
    """What the fit on every sample chose, reused by the folds' fits.

    ``sign``: +1 if every effect is constrained to be non-negative (keeping a component
    never lowers the value), -1 non-positive, 0 unconstrained; ``alpha``: the Lasso
    penalty.
    """

    sign: int
    alpha: float


def fit_additive(X: np.ndarray, y: np.ndarray, groups: np.ndarray | None,
                 search: AdditiveSearch | None = None,
                 ) -> tuple[SparseSpectrum, AdditiveSearch]:
    """Every component's own effect (a Fourier spectrum of order <= 1) and the search.

    ``groups``: rows that must share an inner fold (a mask and its complement), needed
    only without ``search``; with it, its sign and penalty are used and nothing is
    cross-validated. Columns are
    scaled to unit variance first, so the penalty treats features on any scale alike.
    """
    scale = _column_scale(X)
    X = np.asarray(X, dtype=np.float64) / scale
    if search is None:
        search = _search(X, y, groups)
    model = Lasso(alpha=search.alpha, positive=search.sign != 0, max_iter=_MAX_ITER)
    with _quiet_convergence():
        model.fit((search.sign or 1) * X, y)
    effects = (search.sign or 1) * model.coef_ / scale
    return _additive_spectrum(effects, float(model.intercept_), X.shape[1]), search


def _search(X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> AdditiveSearch:
    """Cross-validate the unconstrained Lasso, then the one constrained to the sign its
    effects lean to; keep the lower error (the unconstrained one on a tie)."""
    n_splits = min(_INNER_FOLDS, len(np.unique(groups)))
    splits = list(GroupKFold(n_splits=n_splits).split(X, y, groups))
    free = _lasso_cv(X, y, splits, sign=0)
    lean = 1 if free.coef_.sum() >= 0 else -1
    signed = _lasso_cv(X, y, splits, sign=lean)
    if _cv_error(signed) < _cv_error(free):
        return AdditiveSearch(lean, float(signed.alpha_))
    return AdditiveSearch(0, float(free.alpha_))


def _lasso_cv(X: np.ndarray, y: np.ndarray, splits: list, sign: int):
    X = (sign or 1) * X
    model = LassoCV(alphas=_penalties(X, y), cv=splits, positive=sign != 0,
                    max_iter=_MAX_ITER)
    with _quiet_convergence():
        return model.fit(X, y)


def _penalties(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``_N_ALPHAS`` penalties from the smallest that zeroes every effect down to a
    thousandth of it (LassoCV's own grid, given explicitly: its ``alphas=int`` form is
    new in scikit-learn 1.7)."""
    largest = np.abs((X - X.mean(axis=0)).T @ (y - y.mean())).max() / X.shape[0]
    return max(largest, 1e-12) * np.logspace(0, -3, _N_ALPHAS)


def _cv_error(model) -> float:
    return float(model.mse_path_.mean(axis=1).min())


def _column_scale(X: np.ndarray) -> np.ndarray:
    scale = np.asarray(X, dtype=np.float64).std(axis=0)
    return np.where(scale > 0, scale, 1.0)


def _additive_spectrum(effects: np.ndarray, intercept: float, n: int) -> SparseSpectrum:
    """``intercept + sum_i effects_i x_i`` as a Fourier spectrum (``x_i = (1 - f_i) / 2``
    for the character ``f_i = 1 - 2 x_i``)."""
    active = np.flatnonzero(effects)
    subsets = [()] + [(int(i),) for i in active]
    coef = np.concatenate([[intercept + effects.sum() / 2.0], -effects[active] / 2.0])
    return SparseSpectrum(subsets, coef, n)


def fit_link(additive: SparseSpectrum, X: np.ndarray, y: np.ndarray) -> SparseSpectrum | None:
    """The additive surrogate's sum through the least-squares quadratic, as a Fourier
    spectrum of order <= 2; None if it has fewer than two effects or more than
    ``MAX_LINK_EFFECTS``, or the masks are not 0/1 (where ``x_i^2 != x_i``)."""
    single = additive.select(additive.orders == 1)
    if not 2 <= len(single) <= MAX_LINK_EFFECTS or not np.isin(X, (0, 1)).all():
        return None
    members = single.members[:, 0]
    effects = -2.0 * single.coef  # back to 0/1 form: u(x) = sum_i effects_i x_i
    u = np.asarray(X[:, members], dtype=np.float64) @ effects
    design = np.column_stack([np.ones_like(u), u, u * u])
    (a, b, q), *_ = np.linalg.lstsq(design, y, rcond=None)
    # a + b u + q u^2, with u^2 = sum_i c_i^2 x_i + 2 sum_{i<j} c_i c_j x_i x_j on 0/1 masks.
    first, second = np.triu_indices(len(members), k=1)
    subsets = ([()] + [(int(i),) for i in members]
               + list(zip(members[first].tolist(), members[second].tolist())))
    coef = np.concatenate([[a], b * effects + q * effects**2,
                           2.0 * q * effects[first] * effects[second]])
    return SparseSpectrum(subsets, coef, X.shape[1], kind=MOBIUS).to_fourier()


@contextmanager
def _quiet_convergence():
    """The Lasso's convergence warnings silenced: a path's weakest penalties may stop
    short of the tolerance, which costs nothing measurable in its predictions."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield
