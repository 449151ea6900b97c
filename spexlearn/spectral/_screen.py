"""Finding Fourier terms a proxy missed: correlation screens on the residual.

Under uniform random masks the Fourier characters are orthonormal, so the correlation
``mean(r(x) (-1)^{|S ∩ x|})`` of the residual ``r`` with a character is an unbiased
estimate of the coefficient ``S`` still missing from the fit. All correlations of one
order, or of all one-element extensions of the current terms, come from a few matrix
products, without forming one basis column per candidate.
"""

from __future__ import annotations

from math import comb

import numpy as np

from ..masks import pair_groups
from ._sparse import SparseSpectrum, pad_members

# Largest n**order * m product of a complete screen: every subset of one order
# ("exhaustive" means every mask, as in exhaustive_spectrum). The order-3 screen does
# about n³ m / 3 multiply-adds in single precision, 0.5-1 s at n = 500 on 1,000 rows
# (2 cores): this budget screens order 3 completely up to n = 500, where an interaction
# with no lower-order trace is found only this way (a synthetic n = 500 function: R²
# 0.60 -> 0.9998 at 5,000 queries).
COMPLETE_SCREEN_FLOPS = 1.25e11
# Fewest rows a complete screen may be run on when all of them would be too dear.
MIN_SCREEN_ROWS = 1000
# Single-precision blocks keep candidates above this share of the threshold; their
# rounding error (about 1e-7 of the correlations' scale times sqrt(m)) is far below it.
_SINGLE_MARGIN = 0.99
# Correlations below this share of the residual's scale are rounding, never terms.
_ROUNDING = 1e-9


def signs(X: np.ndarray) -> np.ndarray:
    """``(-1)^x`` as float64: +1 where ablated, -1 where kept (``1 - 2x`` for real x)."""
    return 1.0 - 2.0 * np.asarray(X, dtype=np.float64)


def complete_orders(n: int, m: int, max_order: int) -> int:
    """The largest order (<= 3) whose complete screen (every subset) fits the flop budget."""
    order = 0
    for k in range(1, min(max_order, 3, n) + 1):
        if float(n) ** k * m <= COMPLETE_SCREEN_FLOPS:
            order = k
    return order


def all_order_correlations(Z: np.ndarray, r: np.ndarray, order: int,
                           threshold: float | None = None):
    """Correlations of ``r`` with every character of exactly ``order`` (1, 2 or 3).

    Returns ``(members, values)`` with members of shape (n_subsets, order); with a
    ``threshold``, only the subsets whose correlation exceeds it in absolute value (the
    n³/6 correlations of order 3 are then never held at once: 2·10⁷ at n = 500).
    """
    m, n = Z.shape
    weighted = Z * r[:, None]
    if order == 1:
        members, values = np.arange(n)[:, None], weighted.sum(axis=0) / m
    elif order == 2:
        full = (Z.T @ weighted) / m
        i, j = np.triu_indices(n, 1)
        members, values = np.column_stack([i, j]), full[i, j]
    elif order == 3:
        return _third_order(Z, weighted, threshold)
    else:
        raise ValueError(f"complete screens go up to order 3, got {order}.")
    if threshold is None:
        return members, values
    strong = np.abs(values) > threshold
    return members[strong], values[strong]


def _third_order(Z: np.ndarray, weighted: np.ndarray, threshold: float | None):
    """Order-3 correlations, one smallest member ``a`` at a time (an (n-a)² block each).

    With a threshold, the blocks are computed in single precision (twice as fast) against
    a slightly lower threshold, far below which its rounding error stays, and the few
    survivors' correlations again in double precision against the threshold itself.
    """
    m, n = Z.shape
    single = threshold is not None
    Zb, Wb = (Z.astype(np.float32), weighted.astype(np.float32)) if single else (Z, weighted)
    members, values = [], []
    for a in range(n - 2):
        block = (Zb[:, a + 1 :].T @ (Wb[:, a + 1 :] * Zb[:, [a]])) / m
        if single:
            b, c = np.nonzero(np.triu(np.abs(block) > threshold * _SINGLE_MARGIN, 1))
        else:
            b, c = np.triu_indices(n - a - 1, 1)
            values.append(block[b, c])
        members.append(np.column_stack([np.full(len(b), a), a + 1 + b, a + 1 + c]))
    if not members:
        return np.zeros((0, 3), dtype=np.int64), np.zeros(0)
    members = np.vstack(members)
    if not single:
        return members, np.concatenate(values)
    values = (weighted[:, members[:, 0]] * Z[:, members[:, 1]] * Z[:, members[:, 2]]).mean(0)
    strong = np.abs(values) > threshold
    return members[strong], values[strong]


def extension_correlations(
    X: np.ndarray, Z: np.ndarray, r: np.ndarray, terms: SparseSpectrum, max_order: int
):
    """Correlations of ``r`` with ``S ∪ {j}`` for every term ``S`` below ``max_order``.

    Returns ``(members, values)``; members padded with -1 to width ``max_order``.
    """
    m, n = Z.shape
    grow = terms.select((terms.orders < max_order) & (terms.orders > 0))
    if len(grow) == 0:
        return np.zeros((0, max_order), dtype=np.int64), np.zeros(0)
    chars = grow.basis(X)  # (m, K) characters of the terms
    values = ((chars * r[:, None]).T @ Z) / m  # (K, n)
    rows, cols = np.nonzero(~_contains(grow, n))
    members = np.full((len(rows), max_order), -1, dtype=np.int64)
    members[:, : grow.members.shape[1]] = grow.members[rows]
    members[np.arange(len(rows)), grow.orders[rows]] = cols
    return members, values[rows, cols]


def _contains(terms: SparseSpectrum, n: int) -> np.ndarray:
    """Boolean (n_terms, n): whether component j is in term t."""
    inside = np.zeros((len(terms), n + 1), dtype=bool)
    rows = np.repeat(np.arange(len(terms)), terms.members.shape[1])
    inside[rows, terms.members.reshape(-1)] = True  # -1 padding lands in the last column
    return inside[:, :n]


def null_std(X: np.ndarray, r: np.ndarray, groups: np.ndarray, order: int) -> float:
    """Standard deviation of ``mean(r χ_S)`` for a character ``S`` of ``order`` that
    ``r`` does not contain, over random masks.

    A mask and its complement (``groups``, from :func:`~spexlearn.masks.pair_groups`)
    see the same character up to the sign ``(-1)^order``, so a pair adds one term,
    ``χ_S(x) (r(x) ± r(1 - x))``, not two independent ones: under paired sampling the
    odd (or even) part of ``r`` counts twice. Treating the rows as independent put the
    order-3 screen's threshold at 4.2 noise standard deviations, not 5.9: hundreds of
    chance terms among 2·10⁷ candidates.
    """
    flip = (X[:, 0] > 0.5) & (order % 2 == 1)  # (-1)^order on the pair's second mask
    sums = np.bincount(groups, weights=np.where(flip, -r, r))
    return float(np.sqrt(np.sum(sums**2)) / len(r))


def screen_residual(
    X: np.ndarray, r: np.ndarray, support: SparseSpectrum, max_order: int
) -> SparseSpectrum:
    """New terms whose residual correlation exceeds the universal noise threshold.

    Candidates: every subset up to the largest order a complete screen affords, and every
    one-element extension of the current support (the hierarchy of interactions).
    Returns them as a spectrum whose coefficients are the estimated correlations.
    """
    m, n = X.shape
    Z = signs(X)
    # An order too dear to screen on every row is screened on the first rows that fit the
    # flop budget (the masks are random, so any rows are a fair sample), as long as that
    # leaves enough rows to detect terms; the refit that follows uses every row.
    rows = [min(m, int(COMPLETE_SCREEN_FLOPS // float(n) ** k))
            for k in range(1, min(max_order, 3, n) + 1)]
    rows = [r_k for r_k in rows if r_k >= min(m, MIN_SCREEN_ROWS)]
    complete = len(rows)
    members, values = extension_correlations(X, Z, r, support, max_order)
    # Extensions up to the complete order repeat the blocks; the rest may repeat each
    # other (S ∪ {j} from several S) with equal correlations, so keep one of each.
    higher = (members >= 0).sum(axis=1) > complete
    extensions = _distinct(members[higher], values[higher])
    n_candidates = sum(comb(n, k) for k in range(1, complete + 1)) + len(extensions[1])
    universal = np.sqrt(2.0 * np.log(max(2 * n_candidates, 2)))
    groups = pair_groups(X)

    def threshold(r_k: int, order: int) -> float:
        # Paired rows can leave no noise of one parity at all; rounding is not a term.
        floor = _ROUNDING * np.sqrt(np.mean(r[:r_k] ** 2))
        return max(universal * null_std(X[:r_k], r[:r_k], groups[:r_k], order), floor)

    # Each complete block lists every subset of its order exactly once; only the few
    # candidates above the noise threshold are kept (and canonicalised).
    blocks = [all_order_correlations(Z[:r_k], r[:r_k], k, threshold(r_k, k))
              for k, r_k in enumerate(rows, 1)]
    strong_m, strong_v = extensions
    orders = (strong_m >= 0).sum(axis=1)
    above = np.abs(strong_v) > np.where(orders % 2 == 1, threshold(m, 1), threshold(m, 2))
    blocks.append((strong_m[above], strong_v[above]))
    strong = SparseSpectrum.from_arrays(
        np.vstack([pad_members(np.asarray(b, dtype=np.int64), max_order) for b, _ in blocks]),
        np.concatenate([v for _, v in blocks]),
        n,
    )
    known = set(support.subsets)
    keep = np.array([s not in known for s in strong.subsets], dtype=bool)
    return strong.select(keep) if len(strong) else strong


def _distinct(members: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One row per distinct subset (the first occurrence), members sorted within rows."""
    if len(members) == 0:
        return members, values
    rows = np.sort(np.where(members < 0, np.iinfo(np.int64).max, members), axis=1)
    _, first = np.unique(rows, axis=0, return_index=True)
    return members[first], values[first]
