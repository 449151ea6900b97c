"""Choosing a support of spectral terms and refitting it on the samples.

Shared by the explainers: rank candidate terms, keep the prefix that cross-validates best
(or a given number), refit by least squares, and grow a support by screening residuals.
"""

from __future__ import annotations

import numpy as np

from ._refit import least_squares, prefix_sizes, select_prefix_by_cv
from ._screen import screen_residual
from ._sparse import SparseSpectrum, pad_members

__all__ = ["grow_support", "keep_best_prefix", "max_terms", "refit"]

# Residual screening rounds after a support is refitted.
MAX_SCREEN_ROUNDS = 8


def keep_best_prefix(
    candidates, X, y, rng, n_terms, limit=None, *, add_singletons: bool = True
) -> SparseSpectrum:
    """Rank the terms, keep the best prefix (by CV, or ``n_terms``), refit on all samples.

    ``add_singletons``: rank every component's singleton the candidates lack after them.
    """
    limit = max_terms(X) if limit is None else limit
    ranked = _ranked_candidates(candidates, X.shape[1], limit, add_singletons)
    # Coefficients carry each term's rank through canonical reordering.
    rank = ranked.coef.astype(np.int64)
    if len(ranked) == 0:
        return refit(ranked, X, y)
    if n_terms != "auto":
        best = min(int(n_terms), len(ranked))
        return refit(ranked.select(rank < best), X, y)
    design = _with_intercept(ranked.basis(X)[:, np.argsort(rank)])
    best, _ = select_prefix_by_cv(design, y, prefix_sizes(len(ranked)), rng, n_fixed=1)
    kept = rank < best
    # The kept terms' columns, in canonical order, are already in the rank-ordered design.
    return refit(ranked.select(kept), X, y, design=design[:, np.r_[0, 1 + rank[kept]]])


def refit(terms: SparseSpectrum, X, y, design=None) -> SparseSpectrum:
    """Least-squares coefficients of the non-empty ``terms`` plus the empty set.

    ``design``: the intercept column then the terms' basis columns, when already at hand.
    """
    terms = terms.select(terms.orders > 0)
    if design is None:
        design = _with_intercept(terms.basis(X))
    coef = least_squares(design, y)
    return terms.with_coef(coef[1:]).add(SparseSpectrum([()], coef[:1], X.shape[1]))


def _with_intercept(basis: np.ndarray) -> np.ndarray:
    return np.hstack([np.ones((basis.shape[0], 1)), basis])


def grow_support(support: SparseSpectrum, X, y, max_order: int) -> SparseSpectrum:
    """Add the terms the proxy missed, screening the residual until nothing new appears.

    At the term limit, a new term takes the place of a weaker one of the support: a
    support cross-validated up to the limit on the proxy's ranking (hundreds of its small
    terms) must not keep out the stronger terms only a screen finds.
    """
    limit = max_terms(X)
    for _ in range(MAX_SCREEN_ROUNDS):
        residual = y - support.evaluate(X)
        new = screen_residual(X, residual, support, max_order)
        if len(new) == 0:
            break
        kept = support.select(support.orders > 0).add(new).largest(limit)
        if not set(new.subsets) & set(kept.subsets):
            break
        support = refit(kept, X, y)
    return support


def max_terms(X) -> int:
    """At most one term per two samples, so every refit stays overdetermined."""
    return max(1, X.shape[0] // 2)


def _ranked_candidates(
    spectrum: SparseSpectrum, n: int, limit: int, add_singletons: bool = True
) -> SparseSpectrum:
    """The strongest non-empty terms, then any missing singletons; at most ``limit``.

    The coefficient of each returned term is its rank (0 = strongest).
    """
    terms = spectrum.select(spectrum.orders > 0)
    members = terms.members[terms.ranking()]
    found = terms.members[terms.orders == 1, :1].reshape(-1)
    missing = np.setdiff1d(np.arange(n, dtype=np.int64), found) if add_singletons else found[:0]
    width = max(members.shape[1], 1)
    singles = pad_members(missing[:, None], width)
    ranked = np.vstack([pad_members(members, width), singles])[:limit]
    return SparseSpectrum.from_arrays(ranked, np.arange(len(ranked)), n)
