import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import Lasso, LinearRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils.estimator_checks import parametrize_with_checks

from spexlearn import ProxySPEXExplainer, SPEXExplainer
from spexlearn._base import draw_uniform_masks
from spexlearn.datasets import make_sparse_function

# Every check passes; nothing is expected to fail.
EXPECTED_FAILURES: dict[str, dict[str, str]] = {"ProxySPEXExplainer": {}, "SPEXExplainer": {}}


@parametrize_with_checks(
    [ProxySPEXExplainer(budget=100, random_state=0), SPEXExplainer(random_state=0)],
    expected_failed_checks=lambda est: EXPECTED_FAILURES[type(est).__name__],
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def cached():
    f, truth = make_sparse_function(16, n_terms=12, max_order=2, random_state=0)
    masks = draw_uniform_masks(16, 400, np.random.RandomState(0))
    return masks, f(masks), truth


def test_pipeline_with_downstream_regressor(cached):
    masks, values, _ = cached
    pipe = Pipeline(
        [("explain", ProxySPEXExplainer(random_state=0)), ("linear", LinearRegression())]
    )
    pipe.fit(masks, values)
    assert pipe.score(masks, values) > 0.99
    assert pipe.named_steps["linear"].coef_.shape[0] == len(
        pipe.named_steps["explain"].get_feature_names_out()
    )


@pytest.mark.parametrize("screen", [False, True])
def test_grid_search_over_tree_depth(cached, screen):
    masks, values, _ = cached
    search = GridSearchCV(
        # Without screens or blending (the Walsh kernel alone fits this function), the
        # surrogate is the proxy's terms: the proxy's depth decides.
        ProxySPEXExplainer(
            proxy=DecisionTreeRegressor(random_state=0), screen_residuals=screen,
            blend=screen, random_state=0,
        ),
        {"proxy__max_depth": [1, 8]},
        cv=KFold(3, shuffle=True, random_state=0),
    ).fit(masks, values)
    scores = search.cv_results_["mean_test_score"]
    if screen:  # the residual screens find what a stump misses
        assert scores.min() > 0.99
    else:
        assert search.best_params_ == {"proxy__max_depth": 8}
        assert scores[1] > scores[0] + 0.1


def test_grid_search_over_lasso_alpha(cached):
    masks, values, _ = cached
    search = GridSearchCV(
        ProxySPEXExplainer(
            proxy=Lasso(), max_order=2, screen_residuals=False, random_state=0
        ),
        {"proxy__alpha": [10.0, 1e-3]},
        cv=3,
    ).fit(masks, values)
    assert search.best_params_ == {"proxy__alpha": 1e-3}
    assert search.best_score_ > 0.99


def test_cross_val_score_compares_explainers(cached):
    masks, values, _ = cached
    good = cross_val_score(ProxySPEXExplainer(random_state=0), masks, values, cv=3)
    weak = cross_val_score(
        ProxySPEXExplainer(max_order=1, random_state=0), masks, values, cv=3
    )
    assert good.mean() > 0.99
    assert weak.mean() < good.mean() - 0.1


def test_clone_never_copies_the_value_function():
    f, _ = make_sparse_function(10, 5, 2, random_state=0)
    est = ProxySPEXExplainer(f, proxy=Lasso(alpha=0.1), budget=200, random_state=0)
    copy = clone(est)
    assert copy.value_function is f
    assert copy.proxy is not est.proxy
    est.fit()
    assert not hasattr(est.proxy, "coef_")  # the user's proxy is never fitted in place
    assert est.proxy_ is not est.proxy
