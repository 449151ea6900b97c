"""Finding Fourier terms a proxy missed: correlation screens on the residual.

Under uniform random masks the Fourier characters are orthonormal, so the correlation
``mean(r(x) (-1)^{|S ∩ x|})`` of the residual ``r`` with a character is an unbiased
estimate of the coefficient ``S`` still missing from the fit. All correlations of one
order, or of all one-element extensions of the current terms, come from a few matrix
products, without forming one basis column per candidate.
"""

from __future__ import annotations

import numpy as np

from ._sparse import SparseSpectrum, pad_members

# Largest n**order * m product of a complete screen: every subset of one order
# (floating-point multiply-adds). ("Exhaustive" means every mask, as in exhaustive_spectrum.)
COMPLETE_SCREEN_FLOPS = 4e9
# Fewest rows a complete screen may be run on when all of them would be too dear.
MIN_SCREEN_ROWS = 1000


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


def all_order_correlations(Z: np.ndarray, r: np.ndarray, order: int):
    """Correlations of ``r`` with every character of exactly ``order`` (1, 2 or 3).

    Returns ``(members, values)`` with members of shape (n_subsets, order).
    """
    m, n = Z.shape
    weighted = Z * r[:, None]
    if order == 1:
        return np.arange(n)[:, None], weighted.sum(axis=0) / m
    if order == 2:
        full = (Z.T @ weighted) / m
        i, j = np.triu_indices(n, 1)
        return np.column_stack([i, j]), full[i, j]
    if order == 3:
        members, values = [], []
        for a in range(n - 2):
            block = (Z[:, a + 1 :].T @ (weighted[:, a + 1 :] * Z[:, [a]])) / m
            b, c = np.triu_indices(n - a - 1, 1)
            members.append(np.column_stack([np.full(len(b), a), a + 1 + b, a + 1 + c]))
            values.append(block[b, c])
        if not members:
            return np.zeros((0, 3), dtype=np.int64), np.zeros(0)
        return np.vstack(members), np.concatenate(values)
    raise ValueError(f"complete screens go up to order 3, got {order}.")


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
    # Each complete block lists every subset of its order exactly once.
    blocks = [all_order_correlations(Z[:r_k], r[:r_k], k) for k, r_k in enumerate(rows, 1)]
    members, values = extension_correlations(X, Z, r, support, max_order)
    # Extensions up to the complete order repeat the blocks; the rest may repeat each
    # other (S ∪ {j} from several S) with equal correlations, so keep one of each.
    higher = (members >= 0).sum(axis=1) > complete
    blocks.append(_distinct(members[higher], values[higher]))
    n_candidates = sum(len(v) for _, v in blocks)
    universal = np.sqrt(2.0 * np.log(max(2 * n_candidates, 2)))
    block_rows = [*rows, m]
    # Only the few candidates above the threshold are canonicalised.
    strong_m = [pad_members(np.asarray(b, dtype=np.int64), max_order) for b, _ in blocks]
    strong_v = [v for _, v in blocks]
    above = [np.abs(v) > universal * np.sqrt(np.mean(r[:r_k] ** 2) / r_k)
             for v, r_k in zip(strong_v, block_rows)]
    strong = SparseSpectrum.from_arrays(
        np.vstack([b[a] for b, a in zip(strong_m, above)]),
        np.concatenate([v[a] for v, a in zip(strong_v, above)]),
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
