"""Exact Fourier spectra of fitted tree models: checked against the models' own predictions."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from spexlearn._proxies import _tree_arrays, tree_model_spectrum
from spexlearn.masks import every_mask
from spexlearn.spectral import SparseSpectrum
from spexlearn.spectral._trees import TreeArrays, trees_spectrum

N_SMALL = 8
N_LARGE = 300
EXACT = 1e-9
FLOAT32_EPS = 2.0**-24  # unit round-off of float32


@pytest.fixture(autouse=True)
def one_thread():
    # OpenMP workers spin-wait; on a busy 2-core machine that makes tiny fits take seconds.
    with threadpool_limits(limits=1):
        yield


# ------------------------------------------------------------------ helpers
def random_masks(rng: np.random.Generator, m: int, n: int) -> np.ndarray:
    return rng.integers(0, 2, size=(m, n)).astype(np.float64)


def interacting_target(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = X.shape[1]
    return (
        2.0 * X[:, 0] * X[:, 1]
        - 1.5 * X[:, 2] * (1 - X[:, 3])
        + X[:, 4]
        - X[:, 5] * X[:, 6] * X[:, 7]
        + 0.8 * X[:, n - 1] * X[:, n // 2]
        + 0.1 * rng.normal(size=len(X))
    )


def naive_predict(tree: TreeArrays, X: np.ndarray) -> np.ndarray:
    """Walk the tree row by row: the reference for hand-made trees."""
    out = np.empty(len(X))
    for row, x in enumerate(X):
        node = 0
        while tree.feature[node] >= 0:
            v, t = x[tree.feature[node]], tree.threshold[node]
            go_left = v <= t if tree.left_if_equal else v < t
            node = tree.left[node] if go_left else tree.right[node]
        out[row] = tree.value[node]
    return out


def walsh_hadamard_spectrum(values: np.ndarray, n: int) -> SparseSpectrum:
    """The full Fourier spectrum of a table of 2^n values, by brute force."""
    masks = every_mask(n).astype(np.int64)
    signs = 1 - 2 * ((masks @ masks.T) % 2)
    coefs = signs @ values / 2**n
    subsets = [tuple(np.flatnonzero(mask)) for mask in masks]
    return SparseSpectrum(subsets, coefs, n_components=n)


def random_tree(rng: np.random.Generator, n: int, depth: int) -> TreeArrays:
    """A random tree whose thresholds send 0 and 1 every which way, features repeating."""
    feature, threshold, left, right, value = [], [], [], [], []

    def new_node() -> int:
        for column, fill in ((feature, -1), (threshold, 0.0), (left, -1), (right, -1)):
            column.append(fill)
        value.append(float(rng.normal()))
        return len(feature) - 1

    pending = [(new_node(), 0)]
    while pending:
        node, level = pending.pop()
        if level == depth or rng.random() < 0.2:
            continue
        feature[node] = int(rng.integers(n))
        threshold[node] = float(rng.choice([-1.0, 0.0, 0.5, 1.0, 2.0]))
        left[node], right[node] = new_node(), new_node()
        pending += [(left[node], level + 1), (right[node], level + 1)]
    return TreeArrays(
        *(np.array(a) for a in (feature, threshold, left, right, value)),
        left_if_equal=bool(rng.random() < 0.5),
    )


def stump(feature: int, threshold: float, low: float, high: float, **kw) -> TreeArrays:
    return TreeArrays(
        feature=np.array([feature, -1, -1]),
        threshold=np.array([threshold, 0.0, 0.0]),
        left=np.array([1, -1, -1]),
        right=np.array([2, -1, -1]),
        value=np.array([0.0, low, high]),
        **kw,
    )


# ------------------------------------------------------------------ fitted models
CASES = {}


def case(name: str, library: str = "sklearn"):
    def register(fit):
        CASES[name] = (library, fit)
        return fit

    return register


@case("decision-tree")
def fit_decision_tree(X, y):
    from sklearn.tree import DecisionTreeRegressor

    return DecisionTreeRegressor(max_depth=6, random_state=0).fit(X, y)


@case("extra-tree")
def fit_extra_tree(X, y):
    from sklearn.tree import ExtraTreeRegressor

    return ExtraTreeRegressor(max_depth=6, random_state=0).fit(X, y)


@case("random-forest")
def fit_random_forest(X, y):
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(n_estimators=10, max_depth=5, random_state=0).fit(X, y)


@case("extra-trees")
def fit_extra_trees(X, y):
    from sklearn.ensemble import ExtraTreesRegressor

    return ExtraTreesRegressor(n_estimators=10, max_depth=5, random_state=0).fit(X, y)


@case("gradient-boosting")
def fit_gradient_boosting(X, y):
    from sklearn.ensemble import GradientBoostingRegressor

    return GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0).fit(X, y)


@case("gradient-boosting-zero-init")
def fit_gradient_boosting_zero_init(X, y):
    from sklearn.ensemble import GradientBoostingRegressor

    model = GradientBoostingRegressor(n_estimators=30, max_depth=3, init="zero", random_state=0)
    return model.fit(X, y)


@case("gradient-boosting-huber-tree-init")
def fit_gradient_boosting_tree_init(X, y):
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.tree import DecisionTreeRegressor

    init = DecisionTreeRegressor(max_depth=2, random_state=0)
    model = GradientBoostingRegressor(
        loss="huber", n_estimators=20, max_depth=3, init=init, random_state=0
    )
    return model.fit(X, y)


@case("hist-gradient-boosting")
def fit_hist_gradient_boosting(X, y):
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(max_iter=30, max_depth=4, random_state=0).fit(X, y)


@case("pipeline")
def fit_pipeline(X, y):
    from sklearn.pipeline import Pipeline
    from sklearn.tree import DecisionTreeRegressor

    steps = [("skip", "passthrough"), ("tree", DecisionTreeRegressor(max_depth=5))]
    return Pipeline(steps).fit(X, y)


@case("lgbm", "lightgbm")
def fit_lgbm(X, y):
    from lightgbm import LGBMRegressor

    return LGBMRegressor(n_estimators=30, num_leaves=8, verbose=-1, n_jobs=1).fit(X, y)


@case("lgbm-l1-rf-mode", "lightgbm")
def fit_lgbm_random_forest(X, y):
    from lightgbm import LGBMRegressor

    model = LGBMRegressor(
        boosting_type="rf",
        objective="regression_l1",
        n_estimators=10,
        num_leaves=8,
        bagging_freq=1,
        bagging_fraction=0.7,
        verbose=-1,
        n_jobs=1,
    )
    return model.fit(X, y)


@case("lgbm-early-stopping", "lightgbm")
def fit_lgbm_early_stopping(X, y):
    import lightgbm

    half = len(X) // 2
    model = lightgbm.LGBMRegressor(
        n_estimators=200, num_leaves=8, learning_rate=0.5, verbose=-1, n_jobs=1
    )
    stop = lightgbm.early_stopping(2, verbose=False)
    with warnings.catch_warnings():
        # lightgbm 4.7 renamed eval_set; the old name keeps older versions working.
        warnings.simplefilter("ignore")
        model.fit(X[:half], y[:half], eval_set=[(X[half:], y[half:])], callbacks=[stop])
    assert model.best_iteration_ < 200
    return model


@case("lgbm-booster", "lightgbm")
def fit_lgbm_booster(X, y):
    import lightgbm

    params = {"num_leaves": 8, "verbose": -1, "num_threads": 1, "objective": "huber"}
    return lightgbm.train(params, lightgbm.Dataset(X, y), num_boost_round=30)


@case("xgb", "xgboost")
def fit_xgb(X, y):
    from xgboost import XGBRegressor

    return XGBRegressor(n_estimators=30, max_depth=3, n_jobs=1).fit(X, y)


@case("xgb-dart", "xgboost")
def fit_xgb_dart(X, y):
    from xgboost import XGBRegressor

    model = XGBRegressor(
        booster="dart", rate_drop=0.3, n_estimators=20, max_depth=3, n_jobs=1, random_state=0
    )
    return model.fit(X, y)


@case("xgb-early-stopping", "xgboost")
def fit_xgb_early_stopping(X, y):
    from xgboost import XGBRegressor

    half = len(X) // 2
    model = XGBRegressor(
        n_estimators=200, max_depth=3, learning_rate=0.5, early_stopping_rounds=2, n_jobs=1
    )
    model.fit(X[:half], y[:half], eval_set=[(X[half:], y[half:])], verbose=False)
    assert model.best_iteration + 1 < model.get_booster().num_boosted_rounds()
    return model


@case("xgb-booster", "xgboost")
def fit_xgb_booster(X, y):
    import xgboost

    params = {"max_depth": 3, "nthread": 1, "objective": "reg:absoluteerror"}
    return xgboost.train(params, xgboost.DMatrix(X, y), num_boost_round=30)


def fitted_case(name: str, X: np.ndarray, y: np.ndarray):
    library, fit = CASES[name]
    if library != "sklearn":
        pytest.importorskip(library)
    return fit(X, y)


def is_xgboost(model) -> bool:
    return type(model).__module__.partition(".")[0] == "xgboost"


def predict(model, X: np.ndarray) -> np.ndarray:
    if is_xgboost(model) and type(model).__name__ == "Booster":
        import xgboost

        return model.predict(xgboost.DMatrix(X))
    return model.predict(X)


def assert_spectrum_predicts(model, spectrum: SparseSpectrum, X: np.ndarray) -> None:
    if not is_xgboost(model):
        # float64 leaves summed in float64: only summation order differs.
        np.testing.assert_allclose(spectrum.evaluate(X), predict(model, X), atol=EXACT, rtol=0)
        return
    trees = _tree_arrays(model)
    # XGBoost's own leaves summed in float64 must agree exactly...
    np.testing.assert_allclose(
        spectrum.evaluate(X), xgboost_leaf_sum(model, trees, X), atol=EXACT, rtol=0
    )
    # ...while XGBoost accumulates in float32: each of its (weight products and) additions
    # rounds by at most FLOAT32_EPS times a partial sum, itself at most the bound below.
    bound = sum(np.abs(tree.value).max() for tree in trees)
    tolerance = 2 * len(trees) * FLOAT32_EPS * bound
    np.testing.assert_allclose(spectrum.evaluate(X), predict(model, X), atol=tolerance, rtol=0)


def xgboost_leaf_sum(model, trees: list[TreeArrays], X: np.ndarray) -> np.ndarray:
    """base_score plus the leaves XGBoost itself routes each row to, summed in float64."""
    import xgboost

    if type(model).__name__ == "Booster":
        leaves = model.predict(xgboost.DMatrix(X), pred_leaf=True)
    else:
        leaves = model.apply(X)
    leaves = leaves.reshape(len(X), -1).astype(np.int64)
    base, boosted = trees[0], trees[1:]
    assert leaves.shape[1] == len(boosted)
    return base.value[0] + sum(tree.value[leaves[:, t]] for t, tree in enumerate(boosted))


# ------------------------------------------------------------------ model tests
@pytest.mark.parametrize("name", list(CASES))
def test_spectrum_equals_predict_on_all_masks(name, all_masks):
    rng = np.random.default_rng(0)
    X = all_masks(N_SMALL)
    model = fitted_case(name, X[rng.permutation(len(X))], interacting_target(X, rng))
    spectrum = tree_model_spectrum(model, N_SMALL)
    assert spectrum is not None
    assert_spectrum_predicts(model, spectrum, X)


@pytest.mark.parametrize("name", list(CASES))
def test_spectrum_equals_predict_on_many_components(name):
    rng = np.random.default_rng(1)
    X = random_masks(rng, 600, N_LARGE)
    model = fitted_case(name, X, interacting_target(X, rng))
    spectrum = tree_model_spectrum(model, N_LARGE)
    assert_spectrum_predicts(model, spectrum, random_masks(rng, 2000, N_LARGE))


def test_deep_tree_fitted_to_every_mask_is_reproduced(all_masks):
    from sklearn.tree import DecisionTreeRegressor

    rng = np.random.default_rng(2)
    X = all_masks(N_SMALL)
    y = rng.normal(size=len(X))
    model = DecisionTreeRegressor().fit(X, y)
    spectrum = tree_model_spectrum(model, N_SMALL)
    np.testing.assert_allclose(spectrum.evaluate(X), y, atol=EXACT, rtol=0)
    assert spectrum.allclose(walsh_hadamard_spectrum(y, N_SMALL), atol=EXACT)


@pytest.mark.parametrize("name", ["lgbm-zero-as-missing", "xgb-missing-zero"])
def test_zero_treated_as_missing_is_routed_the_default_way(name, all_masks):
    # Real-valued training data makes the libraries treat exact zeros as missing.
    rng = np.random.default_rng(3)
    X = random_masks(rng, 400, N_SMALL) * rng.uniform(0.1, 0.9, size=(400, N_SMALL))
    y = interacting_target(np.ceil(X), rng) + X[:, 0]
    if name.startswith("lgbm"):
        lightgbm = pytest.importorskip("lightgbm")
        model = lightgbm.LGBMRegressor(
            n_estimators=20, num_leaves=8, zero_as_missing=True, verbose=-1, n_jobs=1
        ).fit(X, y)
        assert '"missing_type": "Zero"' in json.dumps(model.booster_.dump_model())
    else:
        xgboost = pytest.importorskip("xgboost")
        model = xgboost.XGBRegressor(n_estimators=20, max_depth=3, missing=0.0, n_jobs=1)
        model.fit(X, y)
    spectrum = tree_model_spectrum(model, N_SMALL)
    assert_spectrum_predicts(model, spectrum, all_masks(N_SMALL))


def test_constant_lightgbm_model_has_only_the_empty_term(all_masks):
    lightgbm = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(4)
    X = random_masks(rng, 50, 4)
    model = lightgbm.LGBMRegressor(n_estimators=3, min_child_samples=100, n_jobs=1, verbose=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, interacting_target(np.hstack([X, X]), rng))
    spectrum = tree_model_spectrum(model, 4)
    assert spectrum.subsets == [()]
    np.testing.assert_allclose(spectrum.evaluate(all_masks(4)), model.predict(all_masks(4)))


def test_max_order_of_a_fitted_model_truncates_its_spectrum(all_masks):
    from sklearn.ensemble import GradientBoostingRegressor

    rng = np.random.default_rng(5)
    X = all_masks(N_SMALL)
    model = GradientBoostingRegressor(n_estimators=20, max_depth=4, random_state=0)
    model.fit(X, interacting_target(X, rng))
    full = walsh_hadamard_spectrum(model.predict(X), N_SMALL)
    for order in range(5):
        truncated = tree_model_spectrum(model, N_SMALL, max_order=order)
        assert truncated.max_order <= order
        assert truncated.allclose(full.restrict(order), atol=EXACT)


# ------------------------------------------------------------------ unsupported models
def test_unsupported_models_return_none(all_masks):
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    X = all_masks(3)
    y = X.sum(axis=1)
    unsupported = [
        object(),
        LinearRegression().fit(X, y),
        DecisionTreeClassifier().fit(X, y > 1),
        make_pipeline(StandardScaler(), DecisionTreeRegressor()).fit(X, y),
    ]
    for model in unsupported:
        assert tree_model_spectrum(model, 3) is None, type(model).__name__


def test_lightgbm_categorical_split_raises():
    lightgbm = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(6)
    X = random_masks(rng, 200, 4)
    model = lightgbm.LGBMRegressor(
        n_estimators=2, num_leaves=4, min_data_per_group=1, n_jobs=1, verbose=-1
    )
    model.fit(X, 3 * X[:, 0] + X[:, 1], categorical_feature=[0])
    with pytest.raises(ValueError, match="categorical split"):
        tree_model_spectrum(model, 4)


def test_lightgbm_linear_leaves_raise():
    lightgbm = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(7)
    X = random_masks(rng, 200, 4)
    model = lightgbm.LGBMRegressor(
        n_estimators=2, num_leaves=4, linear_tree=True, n_jobs=1, verbose=-1
    )
    model.fit(X, 3 * X[:, 0] * X[:, 1] + X[:, 2])
    with pytest.raises(ValueError, match="linear leaves"):
        tree_model_spectrum(model, 4)


@pytest.mark.parametrize(
    "library, make, problem",
    [
        (
            "lightgbm",
            lambda m: m.LGBMRegressor(objective="poisson", n_jobs=1, verbose=-1),
            "poisson",
        ),
        ("lightgbm", lambda m: m.LGBMRegressor(reg_sqrt=True, n_jobs=1, verbose=-1), "sqrt"),
        ("xgboost", lambda m: m.XGBRegressor(objective="count:poisson", n_jobs=1), "count:poisson"),
        ("sklearn.ensemble", lambda m: m.HistGradientBoostingRegressor(loss="poisson"), "Log"),
    ],
)
def test_non_identity_link_raises(library, make, problem):
    module = pytest.importorskip(library)
    rng = np.random.default_rng(8)
    X = random_masks(rng, 100, 4)
    model = make(module).fit(X, 1.0 + X[:, 0] + X[:, 1] * X[:, 2])
    with pytest.raises(ValueError, match=problem):
        tree_model_spectrum(model, 4)


def test_unfitted_models_raise():
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.tree import DecisionTreeRegressor

    models = [DecisionTreeRegressor(), GradientBoostingRegressor()]
    for library, name in [("lightgbm", "LGBMRegressor"), ("xgboost", "XGBRegressor")]:
        module = pytest.importorskip(library)
        models.append(getattr(module, name)())
    for model in models:
        with pytest.raises(ValueError, match="not fitted"):
            tree_model_spectrum(model, 3)


# ------------------------------------------------------------------ trees_spectrum itself
def test_random_trees_match_the_walsh_hadamard_transform_of_their_values(all_masks):
    rng = np.random.default_rng(9)
    n = 5
    X = all_masks(n)
    for _ in range(20):
        trees = [random_tree(rng, n, depth=int(rng.integers(0, 6))) for _ in range(3)]
        values = sum(naive_predict(tree, X) for tree in trees)
        spectrum = trees_spectrum(trees, n)
        assert spectrum.allclose(walsh_hadamard_spectrum(values, n), atol=EXACT)
        for order in (0, 1, 2):
            truncated = trees_spectrum(trees, n, max_order=order)
            assert truncated.allclose(spectrum.restrict(order), atol=EXACT)


def test_components_too_many_for_integer_subset_keys_give_the_same_terms():
    # (n + 1) ** 5 overflows int64 here, so equal subsets are merged by sorting rows instead.
    rng = np.random.default_rng(10)
    trees = [random_tree(rng, 5, depth=5) for _ in range(4)]
    spread = 10**6
    wide = [
        tree._replace(feature=np.where(tree.feature < 0, -1, tree.feature * spread))
        for tree in trees
    ]
    expected = {
        tuple(j * spread for j in subset): coef
        for subset, coef in trees_spectrum(trees, 5).terms().items()
    }
    got = trees_spectrum(wide, 4 * spread + 1).terms()
    assert got.keys() == expected.keys()
    np.testing.assert_allclose([got[k] for k in expected], list(expected.values()), atol=EXACT)


@pytest.mark.parametrize(
    "threshold, left_if_equal, expected",
    [
        (1.0, True, {(): 2.0}),  # 0 <= 1 and 1 <= 1: both left
        (1.0, False, {(): 3.5, (1,): -1.5}),  # 0 < 1 left, 1 < 1 false: right
        (0.0, True, {(): 3.5, (1,): -1.5}),
        (0.0, False, {(): 5.0}),  # neither 0 < 0 nor 1 < 0: both right
        (-0.5, True, {(): 5.0}),
        (7.0, False, {(): 2.0}),
    ],
)
def test_threshold_sending_zero_and_one_the_same_way(threshold, left_if_equal, expected):
    tree = stump(1, threshold, 2.0, 5.0, left_if_equal=left_if_equal)
    assert trees_spectrum([tree], 3).terms() == expected


def test_repeated_feature_on_a_path_is_one_condition(all_masks):
    # Root tests x2; each child tests x2 again, so only one grandchild per side is reachable.
    tree = TreeArrays(
        feature=np.array([2, 2, 2, -1, -1, -1, -1]),
        threshold=np.array([0.5, 0.5, 0.5, 0, 0, 0, 0]),
        left=np.array([1, 3, 5, -1, -1, -1, -1]),
        right=np.array([2, 4, 6, -1, -1, -1, -1]),
        value=np.array([0.0, 0.0, 0.0, 1.0, 100.0, 200.0, 3.0]),
    )
    spectrum = trees_spectrum([tree], 3)
    assert spectrum.terms() == {(): 2.0, (2,): -1.0}
    np.testing.assert_array_equal(
        spectrum.evaluate(all_masks(3)), naive_predict(tree, all_masks(3))
    )


def test_children_that_coincide_impose_no_condition():
    tree = stump(0, 0.5, 4.0, 4.0)._replace(right=np.array([1, -1, -1]))
    assert trees_spectrum([tree], 2).terms() == {(): 4.0}


def test_single_leaf_tree_contributes_to_the_empty_set():
    leaf = TreeArrays(np.array([-1]), np.zeros(1), np.array([-1]), np.array([-1]), np.array([1.5]))
    assert trees_spectrum([leaf, leaf], 4).terms() == {(): 3.0}
    assert len(trees_spectrum([], 4)) == 0


def test_tree_outside_the_components_raises():
    with pytest.raises(ValueError, match="splits on component 3"):
        trees_spectrum([stump(3, 0.5, 0.0, 1.0)], 3)


def test_cyclic_tree_raises():
    cyclic = stump(0, 0.5, 0.0, 1.0)._replace(left=np.array([0, -1, -1]))
    with pytest.raises(ValueError, match="cycle"):
        trees_spectrum([cyclic], 2)
