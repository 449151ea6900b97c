"""The Walsh-kernel posterior against the same Gaussian process written out term by term."""

from itertools import combinations
from math import comb

import numpy as np

from spexlearn.datasets import make_sparse_function
from spexlearn.masks import every_mask
from spexlearn.spectral._kernel import KernelSearch, fit_walsh_kernel, kernel_order, kernel_rows


def _explicit_basis(X, order):
    """Every character of order 1..order as a column, and each column's subset."""
    signs = 1.0 - 2.0 * X
    columns, subsets = [], []
    for k in range(1, order + 1):
        for subset in combinations(range(X.shape[1]), k):
            columns.append(np.prod(signs[:, list(subset)], axis=1))
            subsets.append(subset)
    return np.column_stack(columns), subsets


def _explicit_prior(n, order, symmetric, search, relevance):
    """The prior covariance of every coefficient up to ``symmetric`` orders, written out:
    per order its Walsh variance, the locality variance of neighbouring pairs and
    triples, and the symmetric part shared by all subsets of one order."""
    subsets = [s for k in range(1, max(order, symmetric) + 1)
               for s in combinations(range(n), k)]
    theta = search.theta
    local_orders = [k for k in (2, 3) if k <= order]
    totals = {k: sum(np.prod(relevance[list(s)]) for s in combinations(range(n), k))
              for k in range(1, order + 1)}
    local = {}
    for k in local_orders:
        near = [s for s in combinations(range(n), k) if s[-1] - s[0] - (k - 1) <= 4]
        weights = {s: np.exp(-(s[-1] - s[0] - (k - 1))) * np.prod(relevance[list(s)])
                   for s in near}
        total = sum(weights.values())
        local.update({s: theta[order + local_orders.index(k)] * w / total
                      for s, w in weights.items()})
    covariance = np.zeros((len(subsets), len(subsets)))
    for i, s in enumerate(subsets):
        k = len(s)
        if k <= order:
            covariance[i, i] += theta[k - 1] * np.prod(relevance[list(s)]) / totals[k]
        covariance[i, i] += local.get(s, 0.0)
    for k in range(1, symmetric + 1):
        same = np.array([len(s) == k for s in subsets])
        shared = theta[order + len(local_orders) + k - 1] / comb(n, k)
        covariance[np.ix_(same, same)] += shared
    return subsets, covariance


def test_posterior_equals_the_explicit_gaussian_process():
    rng = np.random.RandomState(0)
    n, order, symmetric = 7, 3, 4
    X = rng.randint(0, 2, size=(60, n)).astype(float)
    y = rng.normal(size=60)
    # Walsh orders 1-3, locality of pairs and triples, symmetric parts of orders 1-4.
    theta = np.array([2.0, 0.7, 0.2, 0.5, 0.3, 0.4, 0.1, 0.2, 0.6])
    search = KernelSearch(theta=theta, noise=0.3, gamma=1.0, relevance=np.ones(n),
                          symmetric=symmetric)
    spectrum, used = fit_walsh_kernel(X, y, order, search)
    # A reused search keeps its numbers but takes the relevances from these rows.
    relevance = used.relevance
    assert not np.allclose(relevance, 1.0) and used.gamma == 1.0
    # The same prior in the feature space, coefficient by coefficient.
    subsets, prior = _explicit_prior(n, order, symmetric, search, relevance)
    basis, columns = _explicit_basis(X, symmetric)
    assert columns == subsets
    covariance = basis @ prior @ basis.T + search.noise * np.eye(60)
    alpha = np.linalg.solve(covariance, y - y.mean())
    test = every_mask(n)
    test_basis = _explicit_basis(test.astype(float), symmetric)[0]
    expected = y.mean() + test_basis @ prior @ (basis.T @ alpha)
    np.testing.assert_allclose(spectrum.evaluate(test), expected, atol=1e-10)
    assert len(spectrum) == 1 + sum(comb(n, k) for k in range(1, symmetric + 1))


def test_neighbours_and_symmetric_terms_get_their_variance_where_the_values_ask():
    # Adjacent pairs and a part shared by every subset of order 4 (it depends only on how
    # many components are kept), with independent noise: the likelihood gives both parts
    # variance, and the posterior predicts fresh masks far better than without them.
    n = 14
    rng = np.random.RandomState(4)

    def value(masks):
        s = 1.0 - 2.0 * masks
        adjacent = sum(rng_coef[i] * s[:, i] * s[:, i + 1] for i in range(n - 1))
        kept = masks.sum(axis=1) / n
        return s[:, :n] @ own + adjacent + 3.0 * (kept - 0.5) ** 4 * 16

    rng_coef, own = rng.normal(size=n), rng.normal(size=n)
    X = rng.randint(0, 2, size=(300, n))
    spectrum, search = fit_walsh_kernel(X, value(X), 2, symmetric=3)
    assert search.symmetric == 3 and len(search.theta) == 2 + 1 + 3
    variance = value(X).var()
    assert search.theta[2] > 0.05 * variance  # the locality of pairs
    test = every_mask(n)[::7]
    error = np.var(value(test) - spectrum.evaluate(test)) / np.var(value(test))
    plain = _walsh_only(X, value(X), 2)
    plain_error = np.var(value(test) - plain.evaluate(test)) / np.var(value(test))
    assert error < 0.5 * plain_error


def _walsh_only(X, y, order):
    """The posterior with the locality and symmetric parts switched off."""
    full = fit_walsh_kernel(X, y, order, symmetric=0)[1]
    theta = full.theta.copy()
    theta[order:] = 1e-12
    return fit_walsh_kernel(X, y, order, KernelSearch(
        theta, full.noise, full.gamma, full.relevance, full.symmetric))[0]


def test_subsets_of_one_order_are_indexed_lexicographically():
    from spexlearn.spectral._kernel import _all_subsets, _subset_index

    for n, k in [(9, 2), (9, 3), (12, 4)]:
        every = _all_subsets(n, k)
        np.testing.assert_array_equal(_subset_index(every, n), np.arange(len(every)))


def test_marginal_likelihood_recovers_a_low_order_function():
    f, truth = make_sparse_function(12, n_terms=30, max_order=2, random_state=1)
    X = np.random.RandomState(2).randint(0, 2, size=(300, 12))
    spectrum, search = fit_walsh_kernel(X, f(X), 3)
    test = every_mask(12)
    residual = truth.evaluate(test) - spectrum.evaluate(test)
    assert residual.var() < 1e-3 * truth.evaluate(test).var()
    # Nothing of order 3 in the function: the search gives it almost no prior variance.
    assert search.theta[2] < 1e-2 * search.theta[1]


def test_heredity_weights_strong_components_where_the_likelihood_prefers_it():
    # Interactions only among components with strong own effects: heredity fits.
    rng = np.random.RandomState(3)
    strong = [0, 1, 2, 3]

    def value(masks):
        s = 1.0 - 2.0 * masks
        pairs = sum(s[:, i] * s[:, j] for i in strong for j in strong if i < j)
        return 3.0 * s[:, strong].sum(axis=1) + 0.1 * s[:, 4:].sum(axis=1) + pairs

    X = rng.randint(0, 2, size=(200, 14))
    spectrum, search = fit_walsh_kernel(X, value(X), 2)
    assert search.relevance[strong].min() > 5 * search.relevance[4:].max()
    test = every_mask(14)
    assert np.var(value(test) - spectrum.evaluate(test)) < 1e-2 * np.var(value(test))


def test_kernel_order_keeps_the_written_out_terms_affordable():
    assert kernel_order(28, 5) == 3
    assert kernel_order(100, 5) == 2
    assert kernel_order(2000, 5) == 1
    assert kernel_rows(28) == 3000 and kernel_rows(1000) < 1500
    assert kernel_order(28, 1) == 1


def test_symmetric_parts_reach_one_order_above_where_it_can_be_written_out():
    from spexlearn.spectral._kernel import symmetric_order

    assert symmetric_order(28, 3, 5) == 4  # C(28, 4) = 20,475 subsets
    assert symmetric_order(40, 3, 5) == 3  # C(40, 4) = 91,390: too many
    assert symmetric_order(28, 3, 3) == 3  # max_order caps it
    assert symmetric_order(100, 2, 5) == 2  # C(100, 3) = 161,700
