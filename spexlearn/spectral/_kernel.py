"""Walsh-kernel ridge: a Gaussian process whose prior puts a variance on each order.

Prior: every Fourier coefficient ``F(S)`` with ``|S| = k <= K`` is independent with
variance ``theta_k / C(n, k)``; the values carry Gaussian noise of variance ``sigma²``.
The covariance of two masks then depends only on their Hamming distance ``d``:
``k(x, x') = sum_k theta_k K_k(d) / C(n, k)``, with ``K_k`` the Krawtchouk polynomial
(the sum of the order-k characters of ``x XOR x'``). So the ``m x m`` kernel costs one
Hamming-distance matrix whatever the number of subsets, the per-order variances are
chosen by the marginal likelihood, and the posterior mean of every coefficient is
``F(S) = theta_k / C(n, k) * sum_i alpha_i chi_S(x_i)`` with
``alpha = (K + sigma² I)^-1 (y - mean)``.

Where a function has many small interactions whose size falls with their order (a dense
real-model function), this is the natural shrinkage: it beats a sparse refit, and a tree
proxy, on such functions at a few hundred samples. (Rasmussen & Williams, *Gaussian
Processes for Machine Learning*, 2006, ch. 5 for the marginal likelihood; Krawtchouk
kernels on the hypercube as in Kondor & Lafferty, ICML 2002.)
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve
from scipy.optimize import minimize

from ._sparse import SparseSpectrum

__all__ = ["KernelSearch", "fit_walsh_kernel", "kernel_order"]

# Most subsets whose posterior coefficients are written out (the surrogate's terms).
MAX_KERNEL_TERMS = 50_000
# Largest order the kernel models (its coefficients are all written out).
MAX_KERNEL_ORDER = 3
# Most samples the hyper-parameters are chosen on (each step of the search factors an
# m x m matrix), and most samples the posterior is solved on.
SEARCH_ROWS = 800
MAX_KERNEL_ROWS = 3000
_SEARCH_ITERATIONS = 60


@dataclass
class KernelSearch:
    """Per-order prior variances ``theta`` (orders 1..K) and the noise variance."""

    theta: np.ndarray
    noise: float


def kernel_order(n: int, max_order: int) -> int:
    """The largest order (at most 3) whose subsets, all of them, stay affordable."""
    order, total = 0, 0
    for k in range(1, min(MAX_KERNEL_ORDER, max_order, n) + 1):
        total += comb(n, k)
        if total > MAX_KERNEL_TERMS:
            break
        order = k
    return order


def fit_walsh_kernel(
    X: np.ndarray, y: np.ndarray, order: int, search: KernelSearch | None = None
) -> tuple[SparseSpectrum, KernelSearch]:
    """The posterior-mean spectrum of the Walsh-kernel GP on ``(X, y)``, and its search.

    ``search``: hyper-parameters chosen before (on every sample; each fold's fit reuses
    them: a few numbers chosen on rows that include the fold leak next to nothing).
    """
    X = np.asarray(X, dtype=np.float64)
    m, n = X.shape
    tables = _krawtchouk(n, order)
    mean = float(np.mean(y))
    centred = np.asarray(y, dtype=np.float64) - mean
    if search is None:
        rows = np.arange(min(m, SEARCH_ROWS))  # random masks: any rows are a fair sample
        search = _search(tables, _hamming(X[rows], X[rows]), centred[rows])
    distance = _hamming(X, X)
    covariance = _kernel(tables, distance, search.theta)
    covariance[np.diag_indices(m)] += search.noise
    alpha = cho_solve(cho_factor(covariance, lower=True, check_finite=False), centred,
                      check_finite=False)
    return _posterior_spectrum(X, alpha, search.theta, mean, order), search


def _posterior_spectrum(X, alpha, theta, mean: float, order: int) -> SparseSpectrum:
    n = X.shape[1]
    signs = 1.0 - 2.0 * X
    members, coefs = [np.zeros((1, order), np.int64) - 1], [np.array([mean])]
    weighted = signs * alpha[:, None]
    for k in range(1, order + 1):
        subsets = _all_subsets(n, k)
        totals = np.concatenate([_character_sums(signs, weighted, chunk)
                                 for chunk in np.array_split(subsets, 1 + len(subsets) // 2000)])
        members.append(np.pad(subsets, ((0, 0), (0, order - k)), constant_values=-1))
        coefs.append(theta[k - 1] / comb(n, k) * totals)
    return SparseSpectrum.from_arrays(np.vstack(members), np.concatenate(coefs), n)


def _character_sums(signs, weighted, subsets: np.ndarray) -> np.ndarray:
    """``sum_i alpha_i chi_S(x_i)`` for each subset row, by products of sign columns."""
    chars = np.ones((len(subsets), signs.shape[0]))
    for j in range(subsets.shape[1] - 1):
        chars *= signs[:, subsets[:, j]].T
    return np.einsum("si,is->s", chars, weighted[:, subsets[:, -1]])


def _all_subsets(n: int, k: int) -> np.ndarray:
    from itertools import combinations

    return np.array(list(combinations(range(n), k)), dtype=np.int64).reshape(-1, k)


def _krawtchouk(n: int, order: int) -> np.ndarray:
    """``table[k - 1, d] = K_k(d) / C(n, k)`` for orders 1..order and distances 0..n."""
    table = np.zeros((order, n + 1))
    for k in range(1, order + 1):
        for d in range(n + 1):
            table[k - 1, d] = sum((-1) ** j * comb(d, j) * comb(n - d, k - j)
                                  for j in range(k + 1))
        table[k - 1] /= comb(n, k)
    return table


def _hamming(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    return np.rint(A @ (1.0 - B).T + (1.0 - A) @ B.T).astype(np.int64)


def _kernel(tables: np.ndarray, distance: np.ndarray, theta: np.ndarray) -> np.ndarray:
    return (theta @ tables)[distance]


def _search(tables: np.ndarray, distance: np.ndarray, centred: np.ndarray) -> KernelSearch:
    """Per-order variances and the noise by the marginal likelihood (L-BFGS on logs)."""
    order, m = tables.shape[0], len(centred)
    per_order = [table[distance] for table in tables]
    variance = max(float(centred @ centred) / m, 1e-12)

    def negative_log_likelihood(logs):
        theta, noise = np.exp(logs[:-1]), float(np.exp(logs[-1]))
        covariance = sum(t * k for t, k in zip(theta, per_order)) + noise * np.eye(m)
        try:
            factor = cho_factor(covariance, lower=True, check_finite=False)
        except LinAlgError:
            return 1e300, np.zeros_like(logs)
        alpha = cho_solve(factor, centred, check_finite=False)
        inverse = cho_solve(factor, np.eye(m), check_finite=False)
        value = 0.5 * centred @ alpha + np.log(np.diag(factor[0])).sum()
        outer = np.outer(alpha, alpha) - inverse
        gradient = [-0.5 * t * np.sum(outer * k) for t, k in zip(theta, per_order)]
        gradient.append(-0.5 * noise * np.trace(outer))
        return value, np.array(gradient)

    start = np.log(np.r_[np.full(order, variance / order), 0.1 * variance])
    # Variances from a millionth of the values' variance up to a hundred times it.
    bounds = [(np.log(variance) - 14.0, np.log(variance) + 4.6)] * (order + 1)
    result = minimize(negative_log_likelihood, start, jac=True, method="L-BFGS-B",
                      bounds=bounds, options={"maxiter": _SEARCH_ITERATIONS})
    logs = result.x
    return KernelSearch(theta=np.exp(logs[:-1]), noise=float(np.exp(logs[-1])))
