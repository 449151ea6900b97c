"""Linear and black-box proxies (to be merged into _proxies.py)."""

from __future__ import annotations

from itertools import chain, combinations
from math import comb

import numpy as np

from .spectral import SparseSpectrum


# ------------------------------------------------------------ linear and black-box proxies
# Largest interaction basis a linear proxy is fitted on (columns), and the basis and sample
# sizes of the black-box route.
_MAX_LINEAR_COLUMNS = 50_000
_MAX_BLACK_BOX_COLUMNS = 20_000
_BLACK_BOX_SAMPLES = 8192
_BLACK_BOX_CHUNK = 256


def is_linear_model(model) -> bool:
    """Whether a regressor is a linear model to be fitted on the interaction basis."""
    module = type(model).__module__
    return module.startswith("sklearn.linear_model") or type(model).__name__ == "LinearSVR"


def count_subsets(n: int, max_order: int) -> int:
    """Number of non-empty subsets of at most ``max_order`` of ``n`` components."""
    return sum(comb(n, k) for k in range(1, min(max_order, n) + 1))


def all_subsets_spectrum(n: int, max_order: int) -> SparseSpectrum:
    """Unit coefficients on every non-empty subset of size ``<= max_order``."""
    max_order = min(max_order, n)
    blocks = []
    for k in range(1, max_order + 1):
        block = np.full((comb(n, k), max_order), -1, dtype=np.int64)
        block[:, :k] = np.fromiter(
            chain.from_iterable(combinations(range(n), k)), dtype=np.int64
        ).reshape(-1, k)
        blocks.append(block)
    members = np.vstack(blocks) if blocks else np.zeros((0, 1), dtype=np.int64)
    return SparseSpectrum.from_arrays(members, np.ones(len(members)), n)


def fit_linear_proxy(model, X: np.ndarray, y: np.ndarray, max_order: int):
    """Fit a linear model on the Fourier basis of all subsets up to ``max_order``.

    Returns the fitted model and its coefficients as a Fourier spectrum (the intercept is
    the empty set's coefficient).
    """
    n = X.shape[1]
    columns = count_subsets(n, max_order)
    if columns > _MAX_LINEAR_COLUMNS:
        fits = [k for k in range(1, max_order + 1) if count_subsets(n, k) <= _MAX_LINEAR_COLUMNS]
        hint = f"max_order={fits[-1]} ({count_subsets(n, fits[-1]):,} columns)" if fits else (
            "a tree proxy (proxy=None)"
        )
        raise ValueError(
            f"a linear proxy is fitted on every subset up to max_order: max_order={max_order} "
            f"with {n} components gives {columns:,} basis columns (limit "
            f"{_MAX_LINEAR_COLUMNS:,}); use {hint}."
        )
    terms = all_subsets_spectrum(n, max_order)
    model.fit(terms.basis(X), y)
    coef = np.asarray(model.coef_, dtype=np.float64).reshape(-1)
    intercept = float(np.ravel(getattr(model, "intercept_", 0.0))[0])
    spectrum = terms.with_coef(coef).prune(0.0)
    return model, spectrum.add(SparseSpectrum([()], [intercept], n))


def black_box_spectrum(model, n: int, max_order: int, rng) -> SparseSpectrum:
    """Estimate a cheap model's low-order Fourier coefficients by projection.

    ``F(S) = E[f(x) (-1)^{|S ∩ x|}]`` over uniform masks, estimated from
    ``_BLACK_BOX_SAMPLES`` predictions for every subset up to the largest order whose
    basis has at most ``_MAX_BLACK_BOX_COLUMNS`` columns.
    """
    order = max(
        [k for k in range(1, max_order + 1) if count_subsets(n, k) <= _MAX_BLACK_BOX_COLUMNS],
        default=1,
    )
    terms = all_subsets_spectrum(n, order)
    if len(terms) > _MAX_BLACK_BOX_COLUMNS:
        terms = terms.select(np.arange(_MAX_BLACK_BOX_COLUMNS))
    masks = rng.randint(0, 2, size=(_BLACK_BOX_SAMPLES, n)).astype(np.float64)
    values = np.asarray(model.predict(masks), dtype=np.float64).reshape(-1)
    totals = np.zeros(len(terms))
    for start in range(0, len(masks), _BLACK_BOX_CHUNK):
        rows = slice(start, start + _BLACK_BOX_CHUNK)
        totals += terms.basis(masks[rows]).T @ values[rows]
    spectrum = terms.with_coef(totals / len(masks))
    return spectrum.add(SparseSpectrum([()], [values.mean()], n))
