"""Choosing how many ranked terms to keep, and refitting their coefficients.

Candidate terms arrive ranked (strongest first). Least squares on every prefix of the
ranking comes from one Cholesky factor of the (ridge-stabilised) Gram matrix: the leading
block of the factor is the factor of the leading block, so each prefix costs one
triangular solve. Cross-validation folds downdate the Gram matrix instead of refactoring
the data.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve, lstsq, solve_triangular

# Ridge strength relative to the number of samples: ±1 basis columns have B.T B ≈ m I, so
# this only stabilises nearly collinear prefixes and leaves well-posed fits unchanged.
_RELATIVE_RIDGE = 1e-6
# Least squares goes through the Gram matrix's Cholesky factor (half the flops of a QR)
# only when the factor's smallest pivot is at least this share of its largest: then the
# Gram matrix is far from singular (pivot ratios square into its condition) and nothing
# measurable is lost to forming it.
_CHOLESKY_MIN_PIVOT_RATIO = 1e-3


def prefix_sizes(n_candidates: int, n_dense: int = 12, n_geometric: int = 24) -> np.ndarray:
    """The prefix sizes tried: every size up to ``n_dense``, then a geometric grid."""
    dense = np.arange(1, min(n_dense, n_candidates) + 1)
    spread = np.geomspace(1, max(n_candidates, 1), n_geometric).round().astype(np.int64)
    sizes = np.union1d(dense, spread)
    return sizes[(sizes >= 1) & (sizes <= n_candidates)]


def _prefix_solutions_from_gram(gram: np.ndarray, rhs: np.ndarray, n_rows: int, widths):
    width = gram.shape[0]
    ridge = _RELATIVE_RIDGE * max(n_rows, 1)
    lower, _ = cho_factor(gram + ridge * np.eye(width), lower=True, check_finite=False)
    lower = np.tril(lower)
    z = solve_triangular(lower, rhs, lower=True, check_finite=False)
    return [
        solve_triangular(lower[:w, :w].T, z[:w], lower=False, check_finite=False)
        for w in widths
    ]


def least_squares(design: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares coefficients of ``y`` on ``design`` (any solution if rank-deficient).

    Well-conditioned designs (random masks) are solved by the Cholesky factor of the Gram
    matrix; any other by a pivoted QR factorisation of the data, so exact fits stay exact
    to rounding and rank-deficient designed masks are handled. Columns that are
    numerically dependent (relative size below the tolerance numpy's SVD would use) get no
    weight: left to machine precision, designed masks whose basis is rank-deficient
    produce astronomically large coefficients.
    """
    coef = _cholesky_solution(design, y)
    if coef is not None:
        return coef
    cond = np.finfo(float).eps * max(design.shape)
    coef, *_ = lstsq(design, y, cond=cond, lapack_driver="gelsy", check_finite=False)
    return coef


def _cholesky_solution(design: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    if design.shape[0] < design.shape[1] or design.shape[1] == 0:
        return None
    try:
        factor = cho_factor(design.T @ design, lower=True, check_finite=False)
    except LinAlgError:
        return None
    pivots = np.abs(np.diag(factor[0]))
    if pivots.min() < _CHOLESKY_MIN_PIVOT_RATIO * pivots.max():
        return None
    return cho_solve(factor, design.T @ y, check_finite=False)


def select_prefix_by_cv(
    design: np.ndarray,
    y: np.ndarray,
    sizes,
    rng: np.random.RandomState,
    *,
    n_fixed: int = 0,
    n_folds: int = 5,
) -> tuple[int, np.ndarray]:
    """Pick the smallest prefix whose cross-validated error the best one does not beat.

    ``design`` holds ``n_fixed`` always-kept columns first, then the ranked candidates.
    The prefix with the lowest cross-validated squared error is compared, sample by
    sample, with every smaller one; the smallest whose extra error is within one standard
    error of that paired difference is kept. The minimum alone over-fits: among dozens
    of sizes, one that fits noise in the folds tends to come out lowest.

    Returns
    -------
    best_size : int
        Number of ranked candidates to keep (excluding the fixed columns).
    cv_mse : ndarray of shape (len(sizes),)
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    m = design.shape[0]
    gram, rhs = design.T @ design, design.T @ y
    folds = np.array_split(rng.permutation(m), int(min(n_folds, m)))
    squared = np.zeros((m, len(sizes)))
    for held_out in folds:
        part = design[held_out]
        solutions = _prefix_solutions_from_gram(
            gram - part.T @ part, rhs - part.T @ y[held_out], m - len(held_out),
            n_fixed + sizes,
        )
        for i, coef in enumerate(solutions):
            squared[held_out, i] = (y[held_out] - part[:, : len(coef)] @ coef) ** 2
    errors = squared.mean(axis=0)
    return int(sizes[_smallest_within_one_se(squared)]), errors


def _smallest_within_one_se(squared: np.ndarray) -> int:
    """Index of the first column whose mean exceeds the best's by at most one paired SE."""
    best = int(np.argmin(squared.mean(axis=0)))
    excess = squared[:, : best + 1] - squared[:, best : best + 1]
    spread = excess.std(axis=0) / np.sqrt(max(len(squared) - 1, 1))
    return int(np.flatnonzero(excess.mean(axis=0) <= spread)[0])
