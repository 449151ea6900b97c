"""Walsh-kernel ridge: a Gaussian process whose prior puts a variance on each order.

Prior: every Fourier coefficient ``F(S)`` with ``|S| = k <= K`` is independent with
variance ``theta_k * w_S / e_k(w)``, where ``w_S`` is the product of the components'
relevances ``w_i`` over ``S`` and ``e_k`` the elementary symmetric polynomial (so the
order-k variances add up to ``theta_k``); the values carry Gaussian noise of variance
``sigma²``. The covariance of two masks is then
``k(x, x') = sum_k theta_k e_k(w * z) / e_k(w)`` with ``z_i = (-1)^(x_i + x'_i)``: one
``m x m`` matrix per order, whatever the number of subsets. The relevances follow
heredity: ``w_i = (|a_i| / max |a|)^gamma`` from the components' own effects ``a_i``
(the additive least-squares fit), where interactions of strong components are likelier
to be strong; ``gamma`` in {0, 1} (0: every component alike, a Krawtchouk kernel of the
Hamming distance), the per-order variances and the noise are chosen by the marginal
likelihood. The posterior mean of every coefficient is
``F(S) = theta_k w_S / e_k(w) * sum_i alpha_i chi_S(x_i)`` with
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

__all__ = ["KernelSearch", "fit_walsh_kernel", "kernel_order", "kernel_rows"]

# Most subsets whose posterior coefficients are written out (the surrogate's terms).
MAX_KERNEL_TERMS = 50_000
# Largest order the kernel models (its coefficients are all written out).
MAX_KERNEL_ORDER = 3
# Most samples the hyper-parameters are chosen on (each step of the search factors an
# m x m matrix), and most samples the posterior is solved on.
SEARCH_ROWS = 800
MAX_KERNEL_ROWS = 3000
# Most multiply-adds for one kernel matrix (n components x rows²).
_KERNEL_FLOPS = 2e9
_SEARCH_ITERATIONS = 60


# Heredity exponents tried for the components' relevances.
_GAMMAS = (0.0, 1.0)
# Relevance floor: a component with no own effect can still interact a little.
_RELEVANCE_FLOOR = 1e-3


@dataclass
class KernelSearch:
    """Per-order prior variances ``theta`` (orders 1..K), the noise variance and the
    components' relevances."""

    theta: np.ndarray
    noise: float
    gamma: float
    relevance: np.ndarray


def kernel_rows(n: int) -> int:
    """Most samples the posterior is solved on for ``n`` components."""
    return int(min(MAX_KERNEL_ROWS, np.sqrt(_KERNEL_FLOPS / max(n, 1))))


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
    its few numbers, which leak next to nothing, but computes the components'
    relevances from its own rows: n of them chosen with the fold would leak).
    """
    X = np.asarray(X, dtype=np.float64)
    m = X.shape[0]
    signs = 1.0 - 2.0 * X
    mean = float(np.mean(y))
    centred = np.asarray(y, dtype=np.float64) - mean
    effects = _own_effects(signs, centred)
    if search is None:
        # Rows spread over the sample (a SPEX design comes first, its fresh masks last).
        rows = np.unique(np.linspace(0, m - 1, min(m, SEARCH_ROWS)).astype(np.int64))
        search = _search(signs[rows], centred[rows], order, effects)
    else:
        search = KernelSearch(search.theta, search.noise, search.gamma,
                              _relevance(effects, search.gamma))
    parts = _order_parts(signs, signs, search.relevance, order)
    covariance = sum(t * part for t, part in zip(search.theta, parts))
    covariance[np.diag_indices(m)] += search.noise
    alpha = cho_solve(cho_factor(covariance, lower=True, check_finite=False), centred,
                      check_finite=False)
    return _posterior_spectrum(signs, alpha, search, mean, order), search


def _own_effects(signs: np.ndarray, centred: np.ndarray) -> np.ndarray:
    """Each component's first-order coefficient in the additive least-squares fit."""
    design = np.hstack([np.ones((len(signs), 1)), signs])
    return np.linalg.lstsq(design, centred, rcond=None)[0][1:]


def _relevance(effects: np.ndarray, gamma: float) -> np.ndarray:
    scale = np.abs(effects).max()
    if gamma == 0.0 or scale == 0.0:
        return np.ones(len(effects))
    return (np.abs(effects) / scale) ** gamma + _RELEVANCE_FLOOR


def _order_parts(left, right, relevance, order: int) -> list[np.ndarray]:
    """``e_k(w * z) / e_k(w)`` for k = 1..order over every pair of rows.

    The elementary symmetric polynomials grow one component at a time (the usual
    recursion ``e_k += w_i z_i e_{k-1}``), one ``m x m`` product per component.
    """
    parts = [np.ones((len(left), len(right)))] + [
        np.zeros((len(left), len(right))) for _ in range(order)]
    totals = np.zeros(order + 1)
    totals[0] = 1.0
    for i, w in enumerate(relevance):
        z = np.outer(left[:, i], right[:, i]) * w
        for k in range(order, 0, -1):
            parts[k] += z * parts[k - 1]
            totals[k] += w * totals[k - 1]
    return [parts[k] / totals[k] for k in range(1, order + 1)]


def _posterior_spectrum(signs, alpha, search: KernelSearch, mean: float,
                        order: int) -> SparseSpectrum:
    n = signs.shape[1]
    relevance = search.relevance
    totals = _elementary(relevance, order)
    members, coefs = [np.zeros((1, order), np.int64) - 1], [np.array([mean])]
    weighted = signs * alpha[:, None]
    for k in range(1, order + 1):
        subsets = _all_subsets(n, k)
        sums = np.concatenate([_character_sums(signs, weighted, chunk)
                               for chunk in np.array_split(subsets, 1 + len(subsets) // 2000)])
        prior = search.theta[k - 1] * np.prod(relevance[subsets], axis=1) / totals[k]
        members.append(np.pad(subsets, ((0, 0), (0, order - k)), constant_values=-1))
        coefs.append(prior * sums)
    return SparseSpectrum.from_arrays(np.vstack(members), np.concatenate(coefs), n)


def _elementary(values: np.ndarray, order: int) -> np.ndarray:
    """``e_0 .. e_order`` of ``values``."""
    totals = np.zeros(order + 1)
    totals[0] = 1.0
    for v in values:
        for k in range(order, 0, -1):
            totals[k] += v * totals[k - 1]
    return totals


def _character_sums(signs, weighted, subsets: np.ndarray) -> np.ndarray:
    """``sum_i alpha_i chi_S(x_i)`` for each subset row, by products of sign columns."""
    chars = np.ones((len(subsets), signs.shape[0]))
    for j in range(subsets.shape[1] - 1):
        chars *= signs[:, subsets[:, j]].T
    return np.einsum("si,is->s", chars, weighted[:, subsets[:, -1]])


def _all_subsets(n: int, k: int) -> np.ndarray:
    from itertools import combinations

    return np.array(list(combinations(range(n), k)), dtype=np.int64).reshape(-1, k)


def _search(signs: np.ndarray, centred: np.ndarray, order: int,
            effects: np.ndarray) -> KernelSearch:
    """The heredity exponent, per-order variances and noise by the marginal likelihood."""
    best = None
    for gamma in _GAMMAS:
        relevance = _relevance(effects, gamma)
        parts = _order_parts(signs, signs, relevance, order)
        logs, value = _maximise_likelihood(parts, centred)
        if best is None or value < best[0]:
            best = (value, KernelSearch(theta=np.exp(logs[:-1]), noise=float(np.exp(logs[-1])),
                                        gamma=gamma, relevance=relevance))
    return best[1]


def _maximise_likelihood(parts: list[np.ndarray], centred: np.ndarray):
    """Log-variances (orders, then noise) and the negative log marginal likelihood."""
    order, m = len(parts), len(centred)
    variance = max(float(centred @ centred) / m, 1e-12)

    def negative_log_likelihood(logs):
        theta, noise = np.exp(logs[:-1]), float(np.exp(logs[-1]))
        covariance = sum(t * k for t, k in zip(theta, parts)) + noise * np.eye(m)
        try:
            factor = cho_factor(covariance, lower=True, check_finite=False)
        except LinAlgError:
            return 1e300, np.zeros_like(logs)
        alpha = cho_solve(factor, centred, check_finite=False)
        inverse = cho_solve(factor, np.eye(m), check_finite=False)
        value = 0.5 * centred @ alpha + np.log(np.diag(factor[0])).sum()
        outer = np.outer(alpha, alpha) - inverse
        gradient = [-0.5 * t * np.sum(outer * k) for t, k in zip(theta, parts)]
        gradient.append(-0.5 * noise * np.trace(outer))
        return value, np.array(gradient)

    start = np.log(np.r_[np.full(order, variance / order), 0.1 * variance])
    # Variances from a millionth of the values' variance up to a hundred times it.
    bounds = [(np.log(variance) - 14.0, np.log(variance) + 4.6)] * (order + 1)
    result = minimize(negative_log_likelihood, start, jac=True, method="L-BFGS-B",
                      bounds=bounds, options={"maxiter": _SEARCH_ITERATIONS})
    return result.x, float(result.fun)
