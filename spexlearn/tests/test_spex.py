import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neighbors import KNeighborsRegressor

from spexlearn import ProxySPEXExplainer, SPEXExplainer
from spexlearn.datasets import make_sparse_function
from spexlearn.masks import every_mask
from spexlearn.metrics import support_recovery
from spexlearn.spectral._design import design_size
from spexlearn.spectral._peeling import exhaustive_spectrum


def _held_out(n, seed=1, m=500):
    return np.random.RandomState(seed).randint(0, 2, size=(m, n))


def _signal_std(truth):
    return float(np.sqrt((truth.coef[truth.orders > 0] ** 2).sum()))


@pytest.mark.parametrize(
    ("n", "order", "budget"),
    [(8, 2, 240), (10, 3, 700), (11, 2, 1000), (12, 3, 1000), (12, 4, 2000)],
)
def test_exhaustive_ground_truth_small_n(n, order, budget):
    """The coded design recovers every coefficient of the full Walsh-Hadamard transform."""
    f, _truth = make_sparse_function(n, n_terms=2 * n, max_order=order, random_state=n)
    est = SPEXExplainer(f, budget=budget, max_order=order, random_state=0).fit()
    assert est.fit_mode_ == "design"
    assert est.n_queries_ < 2**n
    masks = every_mask(n)
    exact = exhaustive_spectrum(masks, f.spectrum.evaluate(masks), n)
    assert est.spectrum_.allclose(exact, atol=1e-9)


def test_budget_of_every_mask_gives_the_exact_spectrum():
    rng = np.random.default_rng(0)
    table = rng.normal(size=2**7)

    def dense(masks):
        return table[masks.astype(np.int64) @ (1 << np.arange(7))]

    est = SPEXExplainer(dense, components=7, budget=128, max_order=7).fit()
    assert est.fit_mode_ == "exhaustive" and est.n_queries_ == 128
    np.testing.assert_allclose(est.predict(every_mask(7)), table, atol=1e-12)


@pytest.mark.slow
def test_acceptance_n1000_noise_free():
    f, truth = make_sparse_function(1000, n_terms=100, max_order=4, random_state=0)
    est = SPEXExplainer(f, budget=40_000, max_order=5, random_state=0).fit()
    assert est.design_.n_bits == 8 and est.n_queries_ <= 40_000
    recovery = support_recovery(est.spectrum_, truth)
    assert recovery.precision == recovery.recall == 1.0
    X = _held_out(1000)
    assert est.score(X, truth.evaluate(X)) >= 0.99


@pytest.mark.slow
def test_acceptance_n1000_ten_percent_noise():
    f, truth = make_sparse_function(1000, n_terms=100, max_order=4, random_state=0)
    f.noise = 0.1 * _signal_std(truth)
    est = SPEXExplainer(f, budget=10_000, max_order=5, random_state=0).fit()
    assert est.design_.n_bits == 6
    X = _held_out(1000)
    assert est.score(X, truth.evaluate(X)) >= 0.9
    assert support_recovery(est.spectrum_, truth).recall >= 0.95


def test_query_design_round_trip():
    f, _truth = make_sparse_function(60, n_terms=15, max_order=3, random_state=2)
    est = SPEXExplainer(f, max_order=3, random_state=4)
    masks = est.query_design()
    designed = est.fit().design_.n_queries
    assert masks.dtype == np.uint8 and masks.shape[1] == 60 and len(masks) > designed
    # After the design come fresh random masks, distinct and not in the design.
    fresh = {row.tobytes() for row in masks[designed:]}
    assert len(fresh) == len(masks) - designed
    assert not fresh & {row.tobytes() for row in masks[:designed]}
    direct = est.spectrum_
    offline = clone(est).set_params(value_function=None).fit(masks, f(masks))
    assert offline.fit_mode_ == "design" and offline.spectrum_.allclose(direct, atol=1e-9)
    queried = clone(est).fit(masks)
    assert queried.fit_mode_ == "design" and queried.spectrum_.allclose(direct, atol=1e-9)
    # The design is recognised from the masks alone, whatever random_state says.
    other_seed = SPEXExplainer(max_order=3, random_state=99).fit(masks, f(masks))
    assert other_seed.fit_mode_ == "design"


def test_repeated_masks_are_queried_once():
    f, _ = make_sparse_function(30, n_terms=5, max_order=2, random_state=0)
    est = SPEXExplainer(f, max_order=2, random_state=0).fit()
    masks = est.query_design()
    distinct = len(np.unique(masks, axis=0))
    assert distinct < len(masks)  # the l = 0 masks of the groups coincide
    assert est.n_queries_ == distinct == f.n_calls


def test_other_masks_fall_back_to_screened_regression():
    f, truth = make_sparse_function(20, n_terms=8, max_order=2, random_state=3)
    X = _held_out(20, seed=5, m=600)
    est = SPEXExplainer(max_order=2, random_state=0).fit(X, f(X))
    assert est.fit_mode_ == "regression" and est.design_ is None
    X_test = _held_out(20, seed=6)
    assert est.score(X_test, truth.evaluate(X_test)) > 0.99


@pytest.mark.slow
def test_cross_validation_and_grid_search():
    f, _ = make_sparse_function(20, n_terms=8, max_order=2, random_state=3)
    X = _held_out(20, seed=5, m=600)
    y = f(X)
    scores = cross_val_score(SPEXExplainer(max_order=2, random_state=0), X, y, cv=3)
    assert scores.min() > 0.95
    search = GridSearchCV(SPEXExplainer(random_state=0), {"max_order": [1, 2]}, cv=3)
    assert search.fit(X, y).best_params_ == {"max_order": 2}


def test_interactions_and_indices():
    f, truth = make_sparse_function(40, n_terms=10, max_order=3, random_state=8)
    est = SPEXExplainer(f, max_order=3, index="mobius", random_state=0).fit()
    assert est.interactions_.index == "mobius"
    shapley = est.interactions("shapley")
    exact = truth.to_mobius()
    expected = np.zeros(40)
    for subset, coef in exact:
        for i in subset:
            expected[i] += coef / len(subset)
    values = np.array([shapley[(f"x{i}",)] for i in range(40)])
    np.testing.assert_allclose(values, expected, atol=1e-9)
    assert est.transform(_held_out(40)[:5]).shape == (5, len(est.spectrum_) - 1)


def test_hard_decoder_on_clean_data():
    f, truth = make_sparse_function(100, n_terms=20, max_order=3, random_state=9)
    est = SPEXExplainer(f, max_order=3, decoder="hard", random_state=0).fit()
    assert est.spectrum_.allclose(truth, atol=1e-9)


@pytest.mark.slow
def test_n_terms_keeps_the_strongest():
    f, truth = make_sparse_function(100, n_terms=20, max_order=3, random_state=9)
    est = SPEXExplainer(f, max_order=3, n_terms=5, random_state=0).fit()
    assert len(est.spectrum_) == 6  # five terms and the empty set
    strongest = truth.select(truth.orders > 0).largest(5)
    assert set(est.spectrum_.subsets) - {()} == set(strongest.subsets)


def test_budget_below_the_smallest_design_names_the_minimum():
    f, _ = make_sparse_function(1000, n_terms=5, max_order=2, random_state=0)
    # The design, then at least 2 % fresh random masks (20 at least) to judge the fit on.
    needed = design_size(1000, 5, 3, 3) + 25
    with pytest.raises(ValueError, match=rf"at least {needed}.*ProxySPEXExplainer"):
        SPEXExplainer(f, budget=needed - 1).fit()
    assert SPEXExplainer(f, budget=needed, random_state=0).fit().design_.n_bits == 3


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_groups": 0}, "'n_groups' parameter of SPEXExplainer must be an int in the"),
        ({"decoder": "magic"}, "'decoder' parameter .* among {'(hard|soft)', '.*Got 'magic'"),
        ({"n_terms": 0}, "'n_terms' parameter .* among {'auto'} or an int"),
        ({"budget": -5},
         "'budget' parameter .* an int in the range \\[1, inf\\) or a str among {'auto'}"),
        ({"max_order": 0}, "'max_order' parameter .* an int in the range \\[1, inf\\)"),
    ],
)
def test_bad_parameters(params, message):
    f, _ = make_sparse_function(20, n_terms=3, max_order=2, random_state=0)
    with pytest.raises(ValueError, match=message):
        SPEXExplainer(f, **params).fit()


def test_query_design_needs_the_number_of_components():
    with pytest.raises(ValueError, match="number of components is unknown"):
        SPEXExplainer().query_design()
    assert SPEXExplainer(components=["a", "b", "c"]).query_design().shape == (8, 3)


def test_single_component_is_refused():
    with pytest.raises(ValueError, match="at least 2"):
        SPEXExplainer(lambda m: m[:, 0] * 1.0, components=1).fit()


def test_black_box_proxy_goes_through_the_decoder():
    f, truth = make_sparse_function(60, n_terms=12, max_order=2, random_state=4)

    class Oracle:
        """A black-box 'regressor' that ignores its training data: the truth itself."""

        def fit(self, X, y):
            return self

        def predict(self, X):
            return truth.evaluate(X)

        def get_params(self, deep=True):
            return {}

        def set_params(self, **params):
            return self

    est = ProxySPEXExplainer(
        f, proxy=Oracle(), budget=400, screen_residuals=False, random_state=0
    ).fit()
    assert est.spectrum_.allclose(truth, atol=1e-9)


@pytest.mark.slow
def test_knn_proxy_is_faithful():
    f, truth = make_sparse_function(40, n_terms=10, max_order=2, random_state=0)
    est = ProxySPEXExplainer(
        f, proxy=KNeighborsRegressor(), budget=800, random_state=0
    ).fit()
    X = _held_out(40)
    assert est.score(X, truth.evaluate(X)) > 0.99


def test_a_budget_below_every_design_is_refused_not_exceeded():
    f, _ = make_sparse_function(12, n_terms=5, max_order=2, random_state=0)
    with pytest.raises(ValueError, match="below the smallest SPEX design"):
        SPEXExplainer(f, budget=250, max_order=5, random_state=0).fit()
    assert f.n_calls == 0  # not all 4,096 masks behind the user's back
    explainer = SPEXExplainer(f, budget=4096, max_order=5, random_state=0).fit()
    assert explainer.fit_mode_ == "exhaustive" and explainer.n_queries_ == 4096


@pytest.mark.parametrize("kind", [SPEXExplainer, ProxySPEXExplainer])
def test_every_mask_below_the_functions_order_states_the_truncation(kind):
    # x0 ... x6 at n = 8: each of the seven shares the value 1 equally (Shapley 1/7).
    def product(masks):
        return np.prod(masks[:, :7], axis=1).astype(float)

    with pytest.warns(UserWarning, match=r"terms above max_order=5 carry 6\.3%.*max_order=8"):
        truncated = kind(product, components=8, budget=256, random_state=0).fit()
    assert truncated.faithfulness_ < 0.95
    assert "without terms above max_order=5" in truncated.faithfulness_method_
    exact = kind(product, components=8, budget=256, max_order=8, random_state=0).fit()
    assert exact.faithfulness_ == pytest.approx(1.0) and exact.faithfulness_method_ == (
        "exact, over every mask")
    shapley = exact.interactions("shapley")
    np.testing.assert_allclose([shapley[i] for i in range(7)], 1 / 7, atol=1e-12)
    assert shapley[7] == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("kind", [SPEXExplainer, ProxySPEXExplainer])
def test_two_components_every_mask_is_exact(kind):
    def g(masks):
        return masks[:, 0] + 2.0 * masks[:, 1] + masks[:, 0] * masks[:, 1]

    est = kind(g, components=2, budget=4, random_state=0).fit()
    table = every_mask(2)
    np.testing.assert_allclose(est.predict(table), g(table), atol=1e-12)
