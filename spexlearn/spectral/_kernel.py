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

Two more kinds of prior covariance are added, each with its own variance chosen by the
likelihood (near zero where the values do not ask for it):

- *Locality*: components have an order (words, sentences, layers), and neighbours
  interact more than distant ones ("not" × "bad"). The pairs and triples spanning few
  positions get extra variance ``theta * w_S * exp(-gaps(S))`` (normalised to add up to
  ``theta``), where ``gaps`` counts the positions a subset skips.
- *Symmetric terms*: a part shared by every subset of one order, ``c_k`` on each of them
  (variance ``theta / C(n, k)``, so the sum over the order has variance ``theta``): what
  depends only on how many components are kept (a prompt that falls apart as words go).
  Its covariance has rank one per order, and it reaches one order above the kernel's
  where that order's subsets can still be written out.

On the 28-word review of the benchmark suite at 500 queries (5 draws), the locality and
symmetric parts raised the kernel's R² on fresh masks from 0.684 to 0.750.

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
from scipy.linalg.lapack import dpotri
from scipy.optimize import minimize

from ._sparse import SparseSpectrum

__all__ = ["KernelSearch", "fit_walsh_kernel", "kernel_order", "kernel_rows",
           "symmetric_order"]

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
# Relative change of the likelihood at which the search stops: hyper-parameters need not
# be exact, and the default (2e-9) spent twice the steps for no change in the fit.
_SEARCH_TOLERANCE = 1e-6


# Orders whose neighbouring subsets get the locality variance, and the most positions
# such a subset may skip (exp(-4): under 2 % of a contiguous subset's share).
_LOCAL_ORDERS = (2, 3)
_LOCAL_MAX_GAPS = 4
# Highest order of the symmetric parts (measured on the review: order 4 carried its gain,
# order 5 and above added nothing).
_MAX_SYMMETRIC_ORDER = 4

# Heredity exponents tried for the components' relevances.
_GAMMAS = (0.0, 1.0)
# Relevance floor: a component with no own effect can still interact a little.
_RELEVANCE_FLOOR = 1e-3


@dataclass
class KernelSearch:
    """Prior variances ``theta`` of the parts (orders 1..K, then the locality parts of
    orders 2..min(K, 3), then the symmetric parts of orders 1..``symmetric``), the noise
    variance, the heredity exponent and the components' relevances."""

    theta: np.ndarray
    noise: float
    gamma: float
    relevance: np.ndarray
    symmetric: int = 0


@dataclass(frozen=True)
class _Shape:
    """Which parts the prior has: Walsh orders 1..order, locality parts, symmetric
    parts of orders 1..symmetric."""

    order: int
    symmetric: int

    @property
    def local(self) -> tuple[int, ...]:
        return tuple(k for k in _LOCAL_ORDERS if k <= self.order)

    def local_slot(self, k: int) -> int:
        """Position in ``theta`` of the locality part of order ``k``."""
        return self.order + self.local.index(k)

    def symmetric_slot(self, k: int) -> int:
        """Position in ``theta`` of the symmetric part of order ``k``."""
        return self.order + len(self.local) + k - 1


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


def symmetric_order(n: int, order: int, max_order: int) -> int:
    """The highest order of the symmetric parts: one above the kernel's ``order`` (at most
    4 and ``max_order``) where all its subsets can be written out, else ``order``."""
    above = order + 1
    if above <= min(_MAX_SYMMETRIC_ORDER, max_order, n) and comb(n, above) <= MAX_KERNEL_TERMS:
        return above
    return order


def fit_walsh_kernel(
    X: np.ndarray, y: np.ndarray, order: int, search: KernelSearch | None = None,
    symmetric: int | None = None,
) -> tuple[SparseSpectrum, KernelSearch]:
    """The posterior-mean spectrum of the Walsh-kernel GP on ``(X, y)``, and its search.

    ``order``: the highest order of the Walsh parts; ``symmetric``: of the symmetric parts
    (None: ``order``). ``search``: hyper-parameters chosen before (on every sample; each
    fold's fit reuses its few numbers, which leak next to nothing, but computes the
    components' relevances from its own rows: n of them chosen with the fold would leak).
    """
    X = np.asarray(X, dtype=np.float64)
    m = X.shape[0]
    signs = 1.0 - 2.0 * X
    mean = float(np.mean(y))
    centred = np.asarray(y, dtype=np.float64) - mean
    effects = _own_effects(signs, centred)
    if search is None:
        shape = _Shape(order, order if symmetric is None else symmetric)
        # Rows spread over the sample (a SPEX design comes first, its fresh masks last).
        rows = np.unique(np.linspace(0, m - 1, min(m, SEARCH_ROWS)).astype(np.int64))
        search = _search(signs[rows], centred[rows], shape, effects)
    else:
        shape = _Shape(order, search.symmetric)
        search = KernelSearch(search.theta, search.noise, search.gamma,
                              _relevance(effects, search.gamma), search.symmetric)
    parts = _parts(signs, search.relevance, shape)
    covariance = sum(t * part for t, part in zip(search.theta, parts))
    covariance[np.diag_indices(m)] += search.noise
    alpha = cho_solve(cho_factor(covariance, lower=True, check_finite=False), centred,
                      check_finite=False)
    return _posterior_spectrum(signs, alpha, search, mean, shape), search


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
    """``e_k(w * z) / e_k(w)`` for k = 1..order over every pair of rows, ``z`` the
    product of the two rows' signs.

    By Newton's identities from the power sums ``p_j = sum_i (w_i z_i)^j``: as every
    ``z_i`` is +-1, an odd power sum is one matrix product of the rows and an even one is
    the constant ``sum_i w_i^j``. That is ``order`` BLAS products instead of one ``m x m``
    update per component and order (8x faster at 270 components and 1,000 rows).
    """
    powers = [None] + [
        (left * relevance**j) @ right.T if j % 2 else float(np.sum(relevance**j))
        for j in range(1, order + 1)]
    parts = [np.ones((len(left), len(right)))]
    for k in range(1, order + 1):
        parts.append(sum((-1) ** (j - 1) * parts[k - j] * powers[j]
                         for j in range(1, k + 1)) / k)
    totals = _elementary(relevance, order)
    return [parts[k] / totals[k] for k in range(1, order + 1)]


def _parts(signs, relevance, shape: _Shape) -> list[np.ndarray]:
    """Every part's covariance between the rows of ``signs``, in the order of
    ``KernelSearch.theta`` (see ``_Shape``'s slots)."""
    parts = _order_parts(signs, signs, relevance, shape.order)
    for k in shape.local:
        subsets, weights = _local_subsets(len(relevance), k, relevance)
        characters = _characters(signs, subsets)
        parts.append(characters * weights @ characters.T)
    parts.extend(np.outer(f, f) for f in _symmetric_features(signs, shape.symmetric))
    return parts


def _local_subsets(n: int, k: int, relevance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The subsets of order ``k`` that skip at most ``_LOCAL_MAX_GAPS`` positions, and
    their prior weights ``w_S exp(-gaps)``, adding up to 1."""
    from itertools import combinations

    span = k + _LOCAL_MAX_GAPS
    subsets = np.array(sorted({
        (start, *rest) for start in range(n)
        for rest in combinations(range(start + 1, min(n, start + span)), k - 1)
    }), dtype=np.int64).reshape(-1, k)
    gaps = subsets[:, -1] - subsets[:, 0] - (k - 1)
    weights = np.exp(-gaps.astype(float)) * np.prod(relevance[subsets], axis=1)
    total = weights.sum()
    return subsets, weights / total if total > 0 else weights


def _characters(signs: np.ndarray, subsets: np.ndarray) -> np.ndarray:
    """``chi_S(x)`` for each row and subset (columns)."""
    return np.prod(signs[:, subsets], axis=2) if len(subsets) else np.zeros((len(signs), 0))


def _symmetric_features(signs: np.ndarray, top: int) -> list[np.ndarray]:
    """``e_k(signs) / sqrt(C(n, k))`` for k = 1..top: the sum of every character of order k,
    scaled to unit variance over uniform masks."""
    n = signs.shape[1]
    sums = [np.ones(len(signs))] + [np.zeros(len(signs)) for _ in range(top)]
    for i in range(n):
        for k in range(top, 0, -1):
            sums[k] = sums[k] + signs[:, i] * sums[k - 1]
    return [sums[k] / np.sqrt(comb(n, k)) for k in range(1, top + 1)]


def _posterior_spectrum(signs, alpha, search: KernelSearch, mean: float,
                        shape: _Shape) -> SparseSpectrum:
    n, order = signs.shape[1], shape.order
    width = max(order, shape.symmetric)
    relevance, theta = search.relevance, search.theta
    totals = _elementary(relevance, order)
    # The symmetric parts' shared coefficient per order: theta / sqrt(C(n, k)) times the
    # weighted sum of their unit-variance features.
    features = _symmetric_features(signs, shape.symmetric)
    shared = {k: theta[shape.symmetric_slot(k)] / np.sqrt(comb(n, k))
              * float(features[k - 1] @ alpha) for k in range(1, shape.symmetric + 1)}
    members, coefs = [np.zeros((1, width), np.int64) - 1], [np.array([mean])]
    weighted = signs * alpha[:, None]
    for k in range(1, order + 1):
        subsets = _all_subsets(n, k)
        sums = _all_character_sums(signs, weighted, subsets)
        prior = theta[k - 1] * np.prod(relevance[subsets], axis=1) / totals[k]
        if k in shape.local:
            local, weights = _local_subsets(n, k, relevance)
            prior[_subset_index(local, n)] += theta[shape.local_slot(k)] * weights
        members.append(np.pad(subsets, ((0, 0), (0, width - k)), constant_values=-1))
        coefs.append(prior * sums + shared.get(k, 0.0))
    for k in range(order + 1, shape.symmetric + 1):
        subsets = _all_subsets(n, k)
        members.append(np.pad(subsets, ((0, 0), (0, width - k)), constant_values=-1))
        coefs.append(np.full(len(subsets), shared[k]))
    return SparseSpectrum.from_arrays(np.vstack(members), np.concatenate(coefs), n)


def _subset_index(subsets: np.ndarray, n: int) -> np.ndarray:
    """Positions of sorted ``subsets`` (all of one order k) in ``_all_subsets(n, k)``,
    by the combinatorial number system (lexicographic rank)."""
    k = subsets.shape[1]
    rank = np.zeros(len(subsets), dtype=np.int64)
    previous = np.full(len(subsets), -1)
    for j in range(k):
        # Subsets of the same length passed over at position j: those whose j-th member
        # lies between the previous member and this one.
        for value in range(n):
            between = (value > previous) & (value < subsets[:, j])
            rank += between * comb(n - value - 1, k - j - 1)
        previous = subsets[:, j]
    return rank


def _elementary(values: np.ndarray, order: int) -> np.ndarray:
    """``e_0 .. e_order`` of ``values``."""
    totals = np.zeros(order + 1)
    totals[0] = 1.0
    for v in values:
        for k in range(order, 0, -1):
            totals[k] += v * totals[k - 1]
    return totals


def _all_character_sums(signs, weighted, subsets: np.ndarray) -> np.ndarray:
    """``sum_i alpha_i chi_S(x_i)`` for every row of ``subsets`` (all of one order): for
    pairs, entries of one Gram matrix ``signs^T (alpha * signs)``; above, in chunks."""
    if subsets.shape[1] == 2:
        gram = signs.T @ weighted
        return gram[subsets[:, 0], subsets[:, 1]]
    return np.concatenate([_character_sums(signs, weighted, chunk)
                           for chunk in np.array_split(subsets, 1 + len(subsets) // 2000)])


def _character_sums(signs, weighted, subsets: np.ndarray) -> np.ndarray:
    """``sum_i alpha_i chi_S(x_i)`` for each subset row, by products of sign columns."""
    chars = np.ones((len(subsets), signs.shape[0]))
    for j in range(subsets.shape[1] - 1):
        chars *= signs[:, subsets[:, j]].T
    return np.einsum("si,is->s", chars, weighted[:, subsets[:, -1]])


def _all_subsets(n: int, k: int) -> np.ndarray:
    from itertools import combinations

    return np.array(list(combinations(range(n), k)), dtype=np.int64).reshape(-1, k)


def _search(signs: np.ndarray, centred: np.ndarray, shape: _Shape,
            effects: np.ndarray) -> KernelSearch:
    """The heredity exponent, the parts' variances and the noise by the marginal
    likelihood."""
    best = None
    for gamma in _GAMMAS:
        relevance = _relevance(effects, gamma)
        parts = _parts(signs, relevance, shape)
        logs, value = _maximise_likelihood(parts, centred)
        if best is None or value < best[0]:
            best = (value, KernelSearch(theta=np.exp(logs[:-1]), noise=float(np.exp(logs[-1])),
                                        gamma=gamma, relevance=relevance,
                                        symmetric=shape.symmetric))
    return best[1]


def _inverse_from_cholesky(lower: np.ndarray) -> np.ndarray:
    """The inverse of ``L L^T`` from its lower Cholesky factor (LAPACK ``potri``, a third
    of the work of solving against the identity)."""
    inverse, info = dpotri(lower, lower=1)
    if info != 0:
        raise LinAlgError(f"potri failed ({info})")
    # potri writes the lower triangle only.
    return np.tril(inverse) + np.tril(inverse, -1).T


def _maximise_likelihood(parts: list[np.ndarray], centred: np.ndarray):
    """Log-variances (parts, then noise) and the negative log marginal likelihood."""
    order, m = len(parts), len(centred)
    variance = max(float(centred @ centred) / m, 1e-12)
    # One (parts, m * m) matrix: the covariance and the gradient are then one product each.
    stacked = np.stack([part.reshape(-1) for part in parts])

    def negative_log_likelihood(logs):
        theta, noise = np.exp(logs[:-1]), float(np.exp(logs[-1]))
        covariance = (theta @ stacked).reshape(m, m)
        covariance[np.diag_indices(m)] += noise
        try:
            factor = cho_factor(covariance, lower=True, check_finite=False)
        except LinAlgError:
            return 1e300, np.zeros_like(logs)
        alpha = cho_solve(factor, centred, check_finite=False)
        inverse = _inverse_from_cholesky(factor[0])
        value = 0.5 * centred @ alpha + np.log(np.diag(factor[0])).sum()
        outer = np.outer(alpha, alpha) - inverse
        gradient = -0.5 * theta * (stacked @ outer.reshape(-1))
        return value, np.append(gradient, -0.5 * noise * np.trace(outer))

    start = np.log(np.r_[np.full(order, variance / order), 0.1 * variance])
    # Variances from a millionth of the values' variance up to a hundred times it.
    bounds = [(np.log(variance) - 14.0, np.log(variance) + 4.6)] * (order + 1)
    result = minimize(negative_log_likelihood, start, jac=True, method="L-BFGS-B",
                      bounds=bounds,
                      options={"maxiter": _SEARCH_ITERATIONS, "ftol": _SEARCH_TOLERANCE})
    return result.x, float(result.fun)
