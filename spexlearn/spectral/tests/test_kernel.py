"""The Walsh-kernel posterior against the same Gaussian process written out term by term."""

from itertools import combinations
from math import comb

import numpy as np

from spexlearn.datasets import make_sparse_function
from spexlearn.spectral._kernel import KernelSearch, fit_walsh_kernel, kernel_order, kernel_rows
from spexlearn.spectral._peeling import every_mask


def _explicit_basis(X, order):
    """Every character of order 1..order as a column, and each column's subset."""
    signs = 1.0 - 2.0 * X
    columns, subsets = [], []
    for k in range(1, order + 1):
        for subset in combinations(range(X.shape[1]), k):
            columns.append(np.prod(signs[:, list(subset)], axis=1))
            subsets.append(subset)
    return np.column_stack(columns), subsets


def test_posterior_equals_the_explicit_gaussian_process():
    rng = np.random.RandomState(0)
    n, order = 7, 3
    X = rng.randint(0, 2, size=(60, n)).astype(float)
    y = rng.normal(size=60)
    search = KernelSearch(theta=np.array([2.0, 0.7, 0.2]), noise=0.3, gamma=1.0,
                          relevance=np.ones(n))
    spectrum, used = fit_walsh_kernel(X, y, order, search)
    # A reused search keeps its numbers but takes the relevances from these rows.
    relevance = used.relevance
    assert not np.allclose(relevance, 1.0) and used.gamma == 1.0
    # The same prior in the feature space: variance theta_k w_S / e_k(w) per coefficient.
    basis, subsets = _explicit_basis(X, order)
    totals = {k: sum(np.prod(relevance[list(s)]) for s in combinations(range(n), k))
              for k in range(1, order + 1)}
    prior = np.array([search.theta[len(s) - 1] * np.prod(relevance[list(s)]) / totals[len(s)]
                      for s in subsets])
    covariance = (basis * prior) @ basis.T + search.noise * np.eye(60)
    alpha = np.linalg.solve(covariance, y - y.mean())
    test = every_mask(n)
    test_basis, _ = _explicit_basis(test.astype(float), order)
    expected = y.mean() + (test_basis * prior) @ (basis.T @ alpha)
    np.testing.assert_allclose(spectrum.evaluate(test), expected, atol=1e-10)
    assert len(spectrum) == 1 + sum(comb(n, k) for k in range(1, order + 1))


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
