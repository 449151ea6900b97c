import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import Lasso, LinearRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import Binarizer
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils.estimator_checks import parametrize_with_checks

from spexlearn import ProxySPEXExplainer, SPEXExplainer
from spexlearn.datasets import make_sparse_function
from spexlearn.masks import draw_uniform_masks

# The common checks that feed arbitrary real features (make_blobs and the like): an
# explainer refuses values outside [0, 1], since a mask entry is a keep-probability and
# -1 or 2 would be read silently as an extrapolation. They run again below on the same
# explainer behind a Binarizer, which turns their features into masks.
REAL_FEATURE_CHECKS = (
    "check_estimators_dtypes", "check_estimators_fit_returns_self",
    "check_readonly_memmap_input", "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit", "check_pipeline_consistency",
    "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
    "check_estimators_pickle", "check_f_contiguous_array_estimator", "check_regressors_train",
    "check_regressor_data_not_an_array", "check_regressors_no_decision_function",
    "check_regressors_int", "check_transformer_data_not_an_array", "check_transformer_general",
    "check_transformer_preserve_dtypes", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_fit2d_1feature", "check_dict_unchanged",
    "check_fit_idempotent", "check_fit_check_is_fitted", "check_n_features_in",
    "check_fit2d_predict1d",
)
REASON = "feeds real features outside [0, 1]; run behind a Binarizer below"
EXPECTED_FAILURES = dict.fromkeys(REAL_FEATURE_CHECKS, REASON)


@parametrize_with_checks(
    [ProxySPEXExplainer(budget=100, random_state=0), SPEXExplainer(random_state=0)],
    expected_failed_checks=lambda est: EXPECTED_FAILURES,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# What fails behind the Binarizer fails for the pipeline, not the explainer: a Pipeline
# fits its steps in place, has no set_output without every step having one, and 0/1
# features cannot reach the score that check_regressors_train asks of its real features.
PIPELINE_FAILURES = {
    "check_estimators_overwrite_params": "a Pipeline fits its steps in place",
    "check_dont_overwrite_parameters": "a Pipeline fits its steps in place",
    "check_transformer_preserve_dtypes": "set_output needs every step to have it",
    "check_regressors_train": "binarised features lose what its R² > 0.5 needs",
}


@parametrize_with_checks(
    [make_pipeline(Binarizer(threshold=0.5), ProxySPEXExplainer(budget=100, random_state=0)),
     make_pipeline(Binarizer(threshold=0.5), SPEXExplainer(random_state=0))],
    expected_failed_checks=lambda est: PIPELINE_FAILURES,
)
def test_sklearn_compatible_on_masks(estimator, check):
    check(estimator)


def test_values_outside_zero_one_are_refused_on_every_path(cached):
    masks, values, _ = cached
    bad = masks.astype(float)
    bad[3, 2] = 2.0
    for explainer in (ProxySPEXExplainer(random_state=0), SPEXExplainer(random_state=0)):
        with pytest.raises(ValueError, match=r"values in \[0, 1\].*found 2.0 at row 3"):
            explainer.fit(bad, values)
        explainer.fit(masks, values)
        bad[3, 2] = -1.0
        with pytest.raises(ValueError, match=r"found -1\.0 at row 3, column 2"):
            explainer.predict(bad)
        with pytest.raises(ValueError, match=r"found -1\.0"):
            explainer.transform(bad)
        bad[3, 2] = 2.0
    # Keep-probabilities between 0 and 1 are the multilinear extension: accepted.
    assert np.isfinite(explainer.predict(np.full((1, masks.shape[1]), 0.5))).all()


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


def test_the_base_declares_its_hooks():
    from spexlearn import BaseExplainer

    class Half(BaseExplainer):  # a new explainer that forgot how to fit its spectrum
        def _planned_queries(self, n):
            return 10

        def _bytes_needed(self, n, m):
            return 0

        def _draw_masks(self, n, rng):
            return draw_uniform_masks(n, 10, rng)

        def _fitted_proxy(self, X, y, rng, search):
            return None

    with pytest.raises(TypeError, match=r"abstract method.*_fit_spectrum"):
        Half()
    assert BaseExplainer.__abstractmethods__ == {
        "_planned_queries", "_bytes_needed", "_draw_masks", "_fit_spectrum", "_fitted_proxy"}
