"""Read fitted regressors into spectral terms.

Tree ensembles from scikit-learn, LightGBM and XGBoost are read into plain node arrays
(:class:`~spexlearn.spectral._trees.TreeArrays`) whose Fourier spectrum on 0/1 masks is
then exact. Models are recognised by the names of their classes, so no library is ever
imported here: a model can only come from a library that is already loaded. Linear models
are fitted on an explicit interaction basis and read off their coefficients; any other
regressor is a black box whose spectrum the SPEX decoder recovers from its predictions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from itertools import chain, combinations
from math import comb

import numpy as np
from numpy.typing import ArrayLike

from .masks import MAX_ENUMERATED_N
from .spectral._design import design_size, make_design
from .spectral._peeling import (
    bin_transforms,
    every_mask,
    exhaustive_spectrum,
    peel,
)
from .spectral._sparse import SparseSpectrum, pad_members
from .spectral._trees import TreeArrays, trees_spectrum

_Reader = Callable[[object], "list[TreeArrays] | None"]

# Bits of a LightGBM split's decision_type: categorical, default left, missing type (2 bits).
_LIGHTGBM_CATEGORICAL, _LIGHTGBM_DEFAULT_LEFT, _LIGHTGBM_ZERO_MISSING = 1, 2, 1
# LightGBM objectives whose prediction is the raw sum of leaf values.
_LIGHTGBM_IDENTITY_OBJECTIVES = frozenset(
    {"regression", "regression_l1", "huber", "fair", "quantile", "mape", "custom"}
)
# XGBoost objectives whose prediction is base_score plus the raw sum of leaf values.
_XGBOOST_IDENTITY_OBJECTIVES = frozenset(
    {
        "reg:squarederror",
        "reg:squaredlogerror",
        "reg:absoluteerror",
        "reg:pseudohubererror",
        "reg:quantileerror",
    }
)


def tree_model_spectrum(
    model, n_components: int, *, max_order: int | None = None
) -> SparseSpectrum | None:
    """The exact Fourier spectrum of a fitted tree-ensemble regressor on 0/1 masks.

    Supported: LightGBM ``LGBMRegressor`` and ``Booster``; scikit-learn
    ``DecisionTreeRegressor``, ``ExtraTreeRegressor``, ``RandomForestRegressor``,
    ``ExtraTreesRegressor``, ``GradientBoostingRegressor`` and
    ``HistGradientBoostingRegressor``; XGBoost ``XGBRegressor`` and ``Booster``; and a
    ``Pipeline`` whose only (non-passthrough) step is one of these.

    Parameters
    ----------
    model : object
        A fitted regressor. It is read, never modified.
    n_components : int
        Number of components ``n`` (the number of columns the model was fitted on).
    max_order : int, optional
        Keep only terms of order ``<= max_order``.

    Returns
    -------
    SparseSpectrum or None
        The Fourier spectrum ``F`` with ``model.predict(x) == sum_S F(S) (-1)^{|S ∩ x|}``
        for every 0/1 mask ``x``; ``None`` when ``model`` is not a supported tree model.

    Raises
    ------
    ValueError
        When the model is a supported kind but cannot be read exactly: not fitted, a
        prediction link other than the identity (e.g. Poisson or logistic objectives),
        several outputs, categorical splits or linear leaves.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.tree import DecisionTreeRegressor
    >>> from spexlearn._proxies import tree_model_spectrum
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    >>> tree = DecisionTreeRegressor().fit(X, [0.0, 0.0, 0.0, 4.0])
    >>> f = tree_model_spectrum(tree, n_components=2)
    >>> f.terms()
    {(): 1.0, (0,): -1.0, (1,): -1.0, (0, 1): 1.0}
    >>> np.allclose(f.evaluate(X), tree.predict(X))
    True
    >>> tree_model_spectrum(object(), n_components=2) is None
    True
    """
    trees = _tree_arrays(model)
    if trees is None:
        return None
    return trees_spectrum(trees, n_components, max_order=max_order)


def _tree_arrays(model) -> list[TreeArrays] | None:
    """The model's trees with ensemble weights folded into leaves, or None if unsupported."""
    reader = _reader_for(model)
    return None if reader is None else reader(model)


def _reader_for(model) -> _Reader | None:
    # The most specific class in the MRO wins, so subclasses of supported models work too.
    for cls in type(model).__mro__:
        reader = _READERS.get((cls.__module__.partition(".")[0], cls.__name__))
        if reader is not None:
            return reader
    return None


def _constant_tree(value: float) -> TreeArrays:
    return TreeArrays(
        feature=np.array([-1]),
        threshold=np.zeros(1),
        left=np.array([-1]),
        right=np.array([-1]),
        value=np.array([float(value)]),
    )


def _scaled(tree: TreeArrays, factor: float) -> TreeArrays:
    return tree._replace(value=np.asarray(tree.value, dtype=np.float64) * factor)


def _route_zero_as_missing(
    threshold: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    zero_is_missing: np.ndarray,
    default_left: np.ndarray,
    one_goes_left: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rewrite nodes that send 0 the 'missing' way as ``x <= 0.5`` splits.

    The new children are where 0 goes and where 1 goes: no threshold can express "0 right,
    1 left", but swapped children can.
    """
    child0 = np.where(default_left, left, right)
    child1 = np.where(one_goes_left, left, right)
    return (
        np.where(zero_is_missing, 0.5, threshold),
        np.where(zero_is_missing, child0, left),
        np.where(zero_is_missing, child1, right),
    )


def _require_fitted(model, attribute: str) -> None:
    if getattr(model, attribute, None) is None:
        raise _not_fitted(model)


def _not_fitted(model) -> ValueError:
    return ValueError(
        f"This {type(model).__name__} is not fitted yet: fit it before reading its spectrum."
    )


# ------------------------------------------------------------------ scikit-learn
def _read_pipeline(pipeline) -> list[TreeArrays] | None:
    steps = [step for _, step in pipeline.steps if step is not None and step != "passthrough"]
    if len(steps) != 1 or steps[0] is not pipeline.steps[-1][1]:
        return None
    return _tree_arrays(steps[0])


def _sklearn_tree(estimator, factor: float = 1.0) -> TreeArrays:
    tree = estimator.tree_
    if tree.n_outputs != 1:
        raise ValueError(
            f"{type(estimator).__name__} was fitted on {tree.n_outputs} outputs; only a "
            "single output can be read as one spectrum."
        )
    is_leaf = tree.children_left < 0
    return TreeArrays(
        feature=np.where(is_leaf, -1, tree.feature),
        threshold=tree.threshold,
        left=tree.children_left,
        right=tree.children_right,
        value=tree.value[:, 0, 0] * factor,
        left_if_equal=True,
    )


def _read_sklearn_tree(model) -> list[TreeArrays]:
    _require_fitted(model, "tree_")
    return [_sklearn_tree(model)]


def _read_sklearn_forest(model) -> list[TreeArrays]:
    _require_fitted(model, "estimators_")
    factor = 1.0 / len(model.estimators_)
    return [_sklearn_tree(tree, factor) for tree in model.estimators_]


def _read_sklearn_gradient_boosting(model) -> list[TreeArrays]:
    _require_fitted(model, "estimators_")
    stages = np.asarray(model.estimators_, dtype=object)
    if stages.ndim != 2 or stages.shape[1] != 1:
        raise ValueError(
            f"{type(model).__name__} holds {stages.shape[1:]} trees per stage; only single-"
            "output regression can be read as one spectrum."
        )
    boosted = [_sklearn_tree(tree, model.learning_rate) for tree in stages[:, 0]]
    return _gradient_boosting_init(model) + boosted


def _gradient_boosting_init(model) -> list[TreeArrays]:
    """The initial prediction as trees: nothing, a constant, or a supported tree model."""
    init = model.init_
    if isinstance(init, str) and init == "zero":
        return []
    if type(init).__name__ == "DummyRegressor":
        return [_constant_tree(np.ravel(init.constant_)[0])]
    trees = _tree_arrays(init)
    if trees is None:
        raise ValueError(
            f"{type(model).__name__} starts from init={type(init).__name__}, which is not a "
            "constant or a supported tree model, so its spectrum cannot be read exactly."
        )
    return trees


def _read_sklearn_hist_gradient_boosting(model) -> list[TreeArrays]:
    _require_fitted(model, "_predictors")
    link = type(model._loss.link).__name__
    if link != "IdentityLink":
        raise ValueError(
            f"{type(model).__name__}(loss={model.loss!r}) predicts through a {link}, not "
            "the identity; only losses whose prediction is the sum of the trees can be read."
        )
    if getattr(model, "_preprocessor", None) is not None:
        raise ValueError(
            f"{type(model).__name__} was fitted with categorical features, which are not "
            "supported; fit it on numeric 0/1 masks."
        )
    baseline = np.ravel(model._baseline_prediction)
    if len(baseline) != 1 or any(len(stage) != 1 for stage in model._predictors):
        raise ValueError(
            f"{type(model).__name__} has several trees per iteration; only single-output "
            "regression can be read as one spectrum."
        )
    return [_constant_tree(baseline[0])] + [
        _hist_tree(stage[0].nodes) for stage in model._predictors
    ]


def _hist_tree(nodes: np.ndarray) -> TreeArrays:
    is_leaf = nodes["is_leaf"].astype(bool)
    if np.any(nodes["is_categorical"].astype(bool) & ~is_leaf):
        raise ValueError(
            "HistGradientBoostingRegressor has a categorical split, which is not supported."
        )
    return TreeArrays(
        feature=np.where(is_leaf, -1, nodes["feature_idx"]),
        threshold=nodes["num_threshold"],
        left=np.where(is_leaf, -1, nodes["left"].astype(np.int64)),
        right=np.where(is_leaf, -1, nodes["right"].astype(np.int64)),
        value=nodes["value"],
        left_if_equal=True,
    )


# ------------------------------------------------------------------ LightGBM
def _read_lgbm_regressor(model) -> list[TreeArrays]:
    _require_fitted(model, "_Booster")
    return _read_lightgbm_booster(model._Booster)


def _read_lightgbm_booster(booster) -> list[TreeArrays]:
    # The text model is read rather than dump_model()'s JSON: producing and parsing that
    # took most of a ProxySPEX fit's overhead. num_iteration=None follows best_iteration,
    # exactly as Booster.predict does.
    header, blocks = _lightgbm_text_model(booster.model_to_string())
    _check_lightgbm_objective(header)
    trees = [_lightgbm_text_tree(block) for block in blocks]
    if "average_output" in header and trees:
        # Random-forest mode predicts the mean over iterations (one tree per iteration).
        trees = [_scaled(tree, 1.0 / len(trees)) for tree in trees]
    return trees


def _lightgbm_text_model(text: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The header's and each tree's ``key=value`` lines of a LightGBM text model."""
    trees_text = text.split("\nend of trees", 1)[0]
    head, *trees = re.split(r"^Tree=\d+$", trees_text, flags=re.MULTILINE)
    return _key_values(head), [_key_values(tree) for tree in trees]


def _key_values(text: str) -> dict[str, str]:
    return dict(line.partition("=")[::2] for line in text.splitlines() if line)


def _lightgbm_text_tree(block: dict[str, str]) -> TreeArrays:
    """Node arrays of one tree of a LightGBM text model: splits first, then leaves."""
    if block.get("is_linear", "0") != "0":
        raise ValueError(
            "LightGBM model has linear leaves (linear_tree=True), which are not supported."
        )
    leaf_value = np.array(block["leaf_value"].split(), dtype=float)
    n_splits = int(block["num_leaves"]) - 1
    if n_splits == 0:
        return _lightgbm_arrays([-1], [0.0], leaf_value[:1], [-1], [-1], [False], [False])
    feature = np.array(block["split_feature"].split(), dtype=np.int64)
    decision = np.array(block["decision_type"].split(), dtype=np.int64)
    if int(block.get("num_cat", "0")) > 0 or (decision & _LIGHTGBM_CATEGORICAL).any():
        where = feature[np.flatnonzero(decision & _LIGHTGBM_CATEGORICAL)[:1]]
        raise ValueError(
            f"LightGBM model has a categorical split on feature {where[0] if len(where) else '?'}"
            "; only numerical '<=' splits are supported (fit without categorical_feature)."
        )
    leaves = np.full(n_splits + 1, -1, dtype=np.int64)
    no = np.zeros(n_splits + 1, dtype=bool)

    def children(key: str) -> np.ndarray:
        child = np.array(block[key].split(), dtype=np.int64)
        # A negative child c is leaf ~c; leaves follow the splits in the node arrays.
        return np.concatenate([np.where(child >= 0, child, n_splits + ~child), leaves])

    return _lightgbm_arrays(
        np.concatenate([feature, leaves]),
        np.concatenate([np.array(block["threshold"].split(), dtype=float), no]),
        np.concatenate([np.zeros(n_splits), leaf_value]),
        children("left_child"),
        children("right_child"),
        np.concatenate([(decision >> 2) & 3 == _LIGHTGBM_ZERO_MISSING, no]),
        np.concatenate([decision & _LIGHTGBM_DEFAULT_LEFT > 0, no]),
    )


def _check_lightgbm_objective(header: dict[str, str]) -> None:
    per_iteration = int(header.get("num_tree_per_iteration", 1))
    if per_iteration != 1 or int(header.get("num_class", 1)) != 1:
        raise ValueError(
            "LightGBM model has several trees per iteration (multiclass?); only single-"
            "output regression can be read as one spectrum."
        )
    tokens = str(header.get("objective", "custom")).split()
    name = tokens[0] if tokens else "custom"
    # "regression sqrt" (reg_sqrt=True) squares the sum of the leaves when predicting.
    if name not in _LIGHTGBM_IDENTITY_OBJECTIVES or "sqrt" in tokens:
        raise ValueError(
            f"LightGBM objective {' '.join(tokens)!r} does not predict the raw sum of its "
            "leaves (a non-identity link); use a regression objective such as 'regression', "
            "'regression_l1', 'huber' or 'quantile'."
        )


def _lightgbm_arrays(
    feature: ArrayLike,
    threshold: ArrayLike,
    value: ArrayLike,
    left: ArrayLike,
    right: ArrayLike,
    zero_missing: ArrayLike,
    default_left: ArrayLike,
) -> TreeArrays:
    threshold_arr = np.array(threshold)
    left_arr, right_arr = np.array(left, dtype=np.int64), np.array(right, dtype=np.int64)
    zero_missing_arr = np.array(zero_missing, dtype=bool)
    if zero_missing_arr.any():
        # missing_type "Zero" (zero_as_missing=True): a 0 takes the default direction.
        threshold_arr, left_arr, right_arr = _route_zero_as_missing(
            threshold_arr,
            left_arr,
            right_arr,
            zero_missing_arr,
            np.array(default_left, dtype=bool),
            1.0 <= threshold_arr,
        )
    return TreeArrays(
        feature=np.array(feature, dtype=np.int64),
        threshold=threshold_arr,
        left=left_arr,
        right=right_arr,
        value=np.array(value),
        left_if_equal=True,
    )


# ------------------------------------------------------------------ XGBoost
def _read_xgb_regressor(model) -> list[TreeArrays] | None:
    try:
        booster = model.get_booster()
    except (ValueError, AttributeError) as exc:  # XGBoost's NotFittedError is a ValueError.
        raise _not_fitted(model) from exc
    try:
        # XGBRegressor.predict stops at the early-stopping optimum when there is one.
        n_iterations = model.best_iteration + 1
    except AttributeError:
        n_iterations = None
    zero_is_missing = model.missing == 0
    return _xgboost_trees(booster, n_iterations, zero_is_missing)


def _read_xgboost_booster(booster) -> list[TreeArrays] | None:
    return _xgboost_trees(booster, None, zero_is_missing=False)


def _xgboost_trees(
    booster, n_iterations: int | None, zero_is_missing: bool
) -> list[TreeArrays] | None:
    learner = json.loads(bytes(booster.save_raw(raw_format="json")))["learner"]
    _check_xgboost_objective(learner)
    gradient_booster = learner["gradient_booster"]
    kind = gradient_booster["name"]
    if kind == "gblinear":
        return None
    forest = gradient_booster["gbtree"]["model"] if kind == "dart" else gradient_booster["model"]
    trees = forest["trees"]
    weights = gradient_booster.get("weight_drop", [1.0] * len(trees))
    if n_iterations is not None:
        indptr = forest.get("iteration_indptr")
        stop = indptr[n_iterations] if indptr is not None else n_iterations
        trees, weights = trees[:stop], weights[:stop]
    base = _xgboost_base_score(learner["learner_model_param"])
    read = [_xgboost_tree(tree, zero_is_missing) for tree in trees]
    # DART scales each tree by its weight when predicting.
    read = [_scaled(tree, w) if w != 1.0 else tree for tree, w in zip(read, weights)]
    return [_constant_tree(base), *read]


def _check_xgboost_objective(learner: dict) -> None:
    name = learner["objective"]["name"]
    if name not in _XGBOOST_IDENTITY_OBJECTIVES:
        raise ValueError(
            f"XGBoost objective {name!r} does not predict base_score plus the raw sum of its "
            "leaves (a non-identity link or a classifier); use a regression objective such "
            "as 'reg:squarederror', 'reg:absoluteerror' or 'reg:pseudohubererror'."
        )
    params = learner["learner_model_param"]
    if int(params.get("num_target", 1)) > 1 or int(params.get("num_class", 0)) > 1:
        raise ValueError(
            "XGBoost model has several outputs; only single-output regression can be read "
            "as one spectrum."
        )


def _xgboost_base_score(params: dict) -> float:
    # Stored as a float32 decimal, "0.5" or "[5E-1]" depending on the version.
    scores = str(params["base_score"]).strip("[]").split(",")
    return _float32_exact(float(scores[0]))


def _float32_exact(values):
    """XGBoost's float32 numbers, printed in shortest decimal form, as exact float64s."""
    return np.asarray(values, dtype=np.float32).astype(np.float64)


def _xgboost_tree(tree: dict, zero_is_missing: bool) -> TreeArrays:
    if int(tree["tree_param"].get("size_leaf_vector", 1)) > 1:
        raise ValueError("XGBoost model has vector leaves (multi-output trees); not supported.")
    left = np.asarray(tree["left_children"], dtype=np.int64)
    right = np.asarray(tree["right_children"], dtype=np.int64)
    is_leaf = left < 0
    if np.any(np.asarray(tree["split_type"])[~is_leaf] != 0):
        raise ValueError(
            "XGBoost model has a categorical split; only numerical splits are supported "
            "(fit without enable_categorical)."
        )
    # At leaves, split_conditions holds the (learning-rate scaled) leaf value.
    conditions = _float32_exact(tree["split_conditions"])
    threshold = np.where(is_leaf, 0.0, conditions)
    if zero_is_missing:
        threshold, left, right = _route_zero_as_missing(
            threshold,
            left,
            right,
            ~is_leaf,
            np.asarray(tree["default_left"], dtype=bool),
            1.0 < threshold,
        )
    return TreeArrays(
        feature=np.where(is_leaf, -1, np.asarray(tree["split_indices"], dtype=np.int64)),
        threshold=threshold,
        left=left,
        right=right,
        value=np.where(is_leaf, conditions, 0.0),
        left_if_equal=False,
    )


_READERS: dict[tuple[str, str], _Reader] = {
    ("sklearn", "Pipeline"): _read_pipeline,
    ("sklearn", "DecisionTreeRegressor"): _read_sklearn_tree,
    ("sklearn", "ExtraTreeRegressor"): _read_sklearn_tree,
    ("sklearn", "RandomForestRegressor"): _read_sklearn_forest,
    ("sklearn", "ExtraTreesRegressor"): _read_sklearn_forest,
    ("sklearn", "GradientBoostingRegressor"): _read_sklearn_gradient_boosting,
    ("sklearn", "HistGradientBoostingRegressor"): _read_sklearn_hist_gradient_boosting,
    ("lightgbm", "LGBMRegressor"): _read_lgbm_regressor,
    ("lightgbm", "Booster"): _read_lightgbm_booster,
    ("xgboost", "XGBRegressor"): _read_xgb_regressor,
    ("xgboost", "Booster"): _read_xgboost_booster,
}

# ------------------------------------------------------------ linear and black-box proxies
# Largest interaction basis a linear proxy is fitted on (columns), and the basis and sample
# sizes of the black-box route.
_MAX_LINEAR_COLUMNS = 50_000
# The black-box route's SPEX design: 256 bins in each of 3 groups.
_BLACK_BOX_BITS = 8
_BLACK_BOX_GROUPS = 3


def is_linear_model(model) -> bool:
    """Whether a regressor is a linear model to be fitted on the interaction basis."""
    module = type(model).__module__
    return module.startswith("sklearn.linear_model") or type(model).__name__ == "LinearSVR"


def count_subsets(n: int, max_order: int) -> int:
    """Number of non-empty subsets of at most ``max_order`` of ``n`` components."""
    return sum(comb(n, k) for k in range(1, min(max_order, n) + 1))


def all_subsets_spectrum(n: int, max_order: int) -> SparseSpectrum:
    """Unit coefficients on every non-empty subset of size ``<= max_order``."""
    max_order = min(max_order, n)
    blocks = []
    for k in range(1, max_order + 1):
        block = np.full((comb(n, k), max_order), -1, dtype=np.int64)
        block[:, :k] = np.fromiter(
            chain.from_iterable(combinations(range(n), k)), dtype=np.int64
        ).reshape(-1, k)
        blocks.append(block)
    members = np.vstack(blocks) if blocks else np.zeros((0, 1), dtype=np.int64)
    return SparseSpectrum.from_arrays(members, np.ones(len(members)), n)


def fit_linear_proxy(model, X: np.ndarray, y: np.ndarray, max_order: int):
    """Fit a linear model on the Fourier basis of all subsets up to ``max_order``.

    Returns the fitted model and its coefficients as a Fourier spectrum (the intercept is
    the empty set's coefficient).
    """
    n = X.shape[1]
    columns = count_subsets(n, max_order)
    if columns > _MAX_LINEAR_COLUMNS:
        fits = [k for k in range(1, max_order + 1) if count_subsets(n, k) <= _MAX_LINEAR_COLUMNS]
        hint = f"max_order={fits[-1]} ({count_subsets(n, fits[-1]):,} columns)" if fits else (
            "a tree proxy (proxy=None)"
        )
        raise ValueError(
            f"a linear proxy is fitted on every subset up to max_order: max_order={max_order} "
            f"with {n} components gives {columns:,} basis columns (limit "
            f"{_MAX_LINEAR_COLUMNS:,}); use {hint}."
        )
    terms = all_subsets_spectrum(n, max_order)
    model.fit(terms.basis(X), y)
    coef = np.asarray(model.coef_, dtype=np.float64).reshape(-1)
    intercept = float(np.ravel(getattr(model, "intercept_", 0.0))[0])
    spectrum = terms.with_coef(coef).prune(0.0)
    return model, spectrum.add(SparseSpectrum([()], [intercept], n))


def black_box_spectrum(model, n: int, max_order: int, rng) -> SparseSpectrum:
    """Recover a cheap model's sparse Fourier spectrum with the SPEX decoder.

    The model's predictions on a SPEX design with ``2**_BLACK_BOX_BITS`` bins per group
    are decoded by peeling; for small n, when the design is no cheaper, on every mask.
    The terms found are candidates: ProxySPEX refits them on the real samples.
    """
    t = min(max_order, n)
    bits = min(_BLACK_BOX_BITS, n)
    if n <= MAX_ENUMERATED_N and 2**n <= design_size(n, t, bits, _BLACK_BOX_GROUPS):
        masks = every_mask(n)
        return exhaustive_spectrum(masks, _predictions(model, masks), max_order)
    design = make_design(n, t, bits, _BLACK_BOX_GROUPS, rng)
    values = _predictions(model, design.masks())
    found = peel(bin_transforms(values, design), design, max_order=max_order)
    width = max(1, found.members.shape[1])
    spectrum = SparseSpectrum.from_arrays(pad_members(found.members, width), found.coefs, n)
    return spectrum.add(SparseSpectrum([()], [0.0], n))


def _predictions(model, masks: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(masks.astype(np.float64)), dtype=np.float64).reshape(-1)
