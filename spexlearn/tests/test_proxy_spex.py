import itertools
import re

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import LassoCV, Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.tree import DecisionTreeRegressor

from spexlearn import Interactions, ProxySPEXExplainer, SparseSpectrum, SPEXExplainer
from spexlearn.datasets import make_sparse_function
from spexlearn.masks import draw_uniform_masks, every_mask
from spexlearn.metrics import faithfulness, top_k_overlap
from spexlearn.spectral import INDICES


def held_out(n, m=1000, seed=123):
    return np.random.default_rng(seed).integers(0, 2, size=(m, n))


@pytest.mark.slow
def test_acceptance_n100_default_proxy():
    f, truth = make_sparse_function(100, n_terms=40, max_order=3, random_state=0)
    est = ProxySPEXExplainer(f, budget=2000, random_state=0).fit()
    test = held_out(100)
    r2 = faithfulness(est, test, truth.evaluate(test))
    assert r2 >= 0.95
    assert top_k_overlap(est.spectrum_, truth, 10) == 1.0
    assert est.n_queries_ == 2000 == f.n_calls


def test_acceptance_lassocv_order2():
    f, truth = make_sparse_function(30, n_terms=25, max_order=2, random_state=1)
    est = ProxySPEXExplainer(f, proxy=LassoCV(), budget=600, max_order=2, random_state=0)
    est.fit()
    test = held_out(30)
    assert faithfulness(est, test, truth.evaluate(test)) >= 0.99


@pytest.mark.parametrize(
    "proxy",
    [
        DecisionTreeRegressor(max_depth=8, random_state=0),
        RandomForestRegressor(n_estimators=30, max_depth=6, random_state=0),
        GradientBoostingRegressor(n_estimators=200, max_depth=3, random_state=0),
        Ridge(alpha=1e-3),
        KNeighborsRegressor(n_neighbors=5),
    ],
    ids=lambda p: type(p).__name__,
)
def test_every_kind_of_proxy_finds_the_strong_terms(proxy):
    truth = SparseSpectrum(
        [(), (0,), (3,), (1, 2), (4, 5, 6)], [0.5, 2.0, -1.5, 1.2, 1.0], n_components=12
    )
    est = ProxySPEXExplainer(truth.evaluate, components=12, proxy=proxy, budget=600,
                             max_order=3, random_state=0).fit()
    test = held_out(12, 400)
    assert faithfulness(est, test, truth.evaluate(test)) > 0.99
    assert top_k_overlap(est.spectrum_, truth, 4) == 1.0


def test_all_masks_recover_exact_coefficients():
    f, truth = make_sparse_function(9, n_terms=12, max_order=3, random_state=4, intercept=0.7)
    est = ProxySPEXExplainer(f, budget=2**9, random_state=0).fit()
    assert est.spectrum_.allclose(truth, atol=1e-8)


def test_three_ways_to_fit_agree():
    f, truth = make_sparse_function(20, 10, 2, random_state=2)
    a = ProxySPEXExplainer(f, budget=300, random_state=5).fit()
    masks = draw_uniform_masks(20, 300, np.random.RandomState(0))
    b = ProxySPEXExplainer(f, budget=300, random_state=5).fit(masks)
    c = ProxySPEXExplainer(budget=300, random_state=5).fit(masks, f(masks))
    assert b.spectrum_ == c.spectrum_
    assert a.n_queries_ == b.n_queries_ == c.n_queries_ == 300
    for est in (a, b, c):
        assert top_k_overlap(est.spectrum_, truth, 5) == 1.0


def test_drawn_masks_are_distinct_and_include_extremes():
    for n, count in [(8, 256), (8, 50), (40, 500)]:
        masks = draw_uniform_masks(n, count, np.random.RandomState(0))
        assert masks.shape == (count, n)
        assert len({row.tobytes() for row in masks}) == count
        assert masks[0].all() and not masks[1].any()


def test_random_state_makes_fits_reproducible():
    f, _ = make_sparse_function(30, 10, 3, random_state=0)
    a = ProxySPEXExplainer(f, budget=300, random_state=7).fit()
    b = ProxySPEXExplainer(f, budget=300, random_state=7).fit()
    assert a.spectrum_ == b.spectrum_


def test_predict_fractional_masks_is_the_expected_value():
    truth = SparseSpectrum([(), (0,), (1, 2)], [1.0, -2.0, 3.0], n_components=3)
    est = ProxySPEXExplainer(truth.evaluate, components=3, budget=8, random_state=0).fit()
    p = np.array([[0.2, 0.7, 0.4]])
    expected = 0.0
    for bits in itertools.product([0, 1], repeat=3):
        weight = np.prod([pi if b else 1 - pi for pi, b in zip(p[0], bits)])
        expected += weight * truth.evaluate(np.array([bits]))[0]
    np.testing.assert_allclose(est.predict(p), [expected], atol=1e-9)


def test_transform_columns_are_the_kept_terms():
    f, _ = make_sparse_function(10, 6, 2, random_state=3)
    est = ProxySPEXExplainer(f, budget=300, random_state=0).fit()
    masks = held_out(10, 50)
    features = est.transform(masks)
    names = est.get_feature_names_out()
    assert features.shape == (50, len(est.spectrum_) - 1) == (50, len(names))
    assert set(np.unique(features)) <= {-1.0, 1.0}
    coef = est.spectrum_.coef[est.spectrum_.orders > 0]
    np.testing.assert_allclose(features @ coef + est.spectrum_[()], est.predict(masks))
    assert all(name.startswith("x") for name in names)


@pytest.mark.parametrize("index", INDICES)
def test_interactions_in_every_index(index):
    f, _ = make_sparse_function(8, 6, 3, random_state=0)
    est = ProxySPEXExplainer(f, budget=256, index=index, random_state=0).fit()
    inter = est.interactions_
    assert isinstance(inter, Interactions) and inter.index == index
    assert inter.component_names == [f"x{i}" for i in range(8)]
    if index in ("shapley", "stii", "fsii"):
        total = est.predict(np.ones((1, 8)))[0]
        assert sum(inter.values) == pytest.approx(total)
    assert est.interactions(index="mobius", order=2).order == 2


def test_component_names_flow_to_interactions():
    names = ["the", "movie", "was", "not", "bad"]
    truth = SparseSpectrum([(3, 4), (1,)], [2.0, 1.0], n_components=5)
    est = ProxySPEXExplainer(truth.evaluate, components=names, budget=32, random_state=0).fit()
    # Möbius by default: the Fourier coefficient 2 of {not, bad} is 2 * (-2)**2 = 8.
    assert est.interactions_.index == "mobius"
    assert est.interactions_["not", "bad"] == pytest.approx(8.0)
    assert est.interactions(index="fourier")["not", "bad"] == pytest.approx(2.0)
    assert est.interactions_.top(1).names_of(est.interactions_.top(1).subsets[0]) == (
        "not", "bad")
    assert list(est.get_feature_names_out()).count("not*bad") == 1


def test_fixed_n_terms_keeps_that_many():
    f, _ = make_sparse_function(15, 10, 2, random_state=0)
    est = ProxySPEXExplainer(f, budget=300, n_terms=4, random_state=0).fit()
    assert len(est.spectrum_) == 5  # four terms and the empty set


def test_verbose_reports_the_stages(capsys):
    f, _ = make_sparse_function(10, 5, 2, random_state=0)
    ProxySPEXExplainer(f, budget=200, random_state=0, verbose=1).fit()
    err = capsys.readouterr().err
    assert "200 samples" in err and "faithfulness 1.000" in err
    # The five true terms, found by the proxy or by the residual screen (which one depends
    # on the folds' draw).
    assert re.search(r"chosen surrogate: (sparse|screened) \(5 terms\)", err)
    ProxySPEXExplainer(f, budget=200, random_state=0).fit()
    assert capsys.readouterr().err == ""


def test_paired_sampling_draws_distinct_complementary_pairs():
    from spexlearn.masks import draw_paired_masks, row_keys

    for n, count in [(6, 64), (6, 33), (40, 501)]:
        masks = draw_paired_masks(n, count, np.random.RandomState(0))
        assert masks.shape == (count, n)
        assert len(set(row_keys(masks).tolist())) == count
        assert masks[0].all() and not masks[1].any()
        k = (count - 2) // 2
        assert (masks[2 : 2 + 2 * k : 2] + masks[3 : 3 + 2 * k : 2] == 1).all()


@pytest.mark.slow
def test_paired_sampling_estimates_first_order_terms_more_precisely():
    # Noise from unexplained even-order terms cancels in odd-order estimates.
    rng = np.random.default_rng(0)
    n, errors = 10, {"paired": [], "uniform": []}
    weights = rng.normal(size=(n, n))
    for seed in range(6):
        def value(X, w=weights):
            s = 1 - 2 * np.asarray(X, float)
            return 1.0 * s[:, 0] + 0.05 * np.einsum("mi,ij,mj->m", s, w, s)
        for sampling in errors:
            # The property is the least-squares refit's: no blend with the proxy.
            explainer = ProxySPEXExplainer(value, components=n, budget=200, max_order=1,
                                           sampling=sampling, blend=False,
                                           random_state=seed).fit()
            fourier = explainer.interactions(index="fourier")
            errors[sampling].append(abs(fourier[(0,)] - 1.0))
    assert np.mean(errors["paired"]) < 1e-9 < np.mean(errors["uniform"])


def _dense_function(n, rng):
    """Every pair and triple interacts a little: no sparse surrogate fits it well."""
    w1, w2, w3 = rng.normal(size=n), 0.3 * rng.normal(size=(n, n)), 0.05 * rng.normal(
        size=(n, n, n))

    def value(X):
        s = 1 - 2 * np.asarray(X, float)
        return (10.0 + s @ w1 + np.einsum("mi,ij,mj->m", s, w2, s)
                + np.einsum("mi,mj,mk,ijk->m", s, s, s, w3))

    return value


@pytest.mark.parametrize("seed", [0, 1])
def test_blend_with_the_proxy_is_more_faithful_on_a_dense_function(seed):
    rng = np.random.default_rng(seed)
    value = _dense_function(16, rng)
    X, test = rng.integers(0, 2, size=(300, 16)), rng.integers(0, 2, size=(2000, 16))
    blended = ProxySPEXExplainer(random_state=seed).fit(X, value(X))
    sparse = ProxySPEXExplainer(blend=False, random_state=seed).fit(X, value(X))
    assert blended.blend_weight_ < 0.75
    assert blended.selected_surrogate_ in ("blend", "proxy", "kernel")
    assert sparse.blend_weight_ == 1.0 and sparse.selected_surrogate_ != "blend"
    measured = faithfulness(blended, test, value(test))
    assert measured > faithfulness(sparse, test, value(test)) + 0.02
    # The estimate from the queries alone is close to the measure on fresh masks.
    assert abs(blended.faithfulness_ - measured) < 0.1


def test_blend_keeps_a_sparse_function_sparse():
    f, _ = make_sparse_function(40, n_terms=12, max_order=2, noise=0.01, random_state=0)
    X = draw_uniform_masks(40, 600, np.random.RandomState(0))
    y = f(X)
    est = ProxySPEXExplainer(random_state=0).fit(X, y)
    assert est.blend_weight_ == 1.0
    unblended = ProxySPEXExplainer(blend=False, random_state=0).fit(X, y)
    assert est.spectrum_ == unblended.spectrum_


@pytest.mark.parametrize("proxy", [GradientBoostingRegressor(random_state=0), Ridge()],
                         ids=["tree", "linear"])
def test_blend_with_a_given_proxy(proxy):
    rng = np.random.default_rng(0)
    value = _dense_function(10, rng)
    X = rng.integers(0, 2, size=(300, 10))
    est = ProxySPEXExplainer(proxy=proxy, max_order=2, random_state=0).fit(X, value(X))
    # Any proxy is blended, with the weight its folds' predictions earn.
    assert est.blend_weight_ < 1.0
    assert est.selected_surrogate_ in ("blend", "proxy", "kernel")
    assert np.isfinite(est.predict(X)).all()


def test_fixed_n_terms_is_never_blended():
    rng = np.random.default_rng(0)
    value = _dense_function(12, rng)
    X = rng.integers(0, 2, size=(300, 12))
    est = ProxySPEXExplainer(n_terms=5, random_state=0).fit(X, value(X))
    assert est.blend_weight_ == 1.0 and len(est.spectrum_) == 6


@pytest.mark.parametrize("kind", [ProxySPEXExplainer, SPEXExplainer])
def test_a_budget_of_every_mask_reproduces_every_value(kind):
    # ProxySPEX scored R² 0.22-0.29 on its own 64 masks here before every mask meant exact.
    f, _ = make_sparse_function(6, 20, 3, random_state=0)
    est = kind(f, budget=64, random_state=0).fit()
    table = every_mask(6)
    np.testing.assert_allclose(est.predict(table), f(table), atol=1e-9)
    assert est.faithfulness_ == pytest.approx(1.0)
