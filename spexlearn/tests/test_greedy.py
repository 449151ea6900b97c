"""GreedyAblationExplainer against a brute-force reference, query accounting, errors."""

import numpy as np
import pytest
from sklearn.base import clone

from spexlearn import GreedyAblationExplainer
from spexlearn.datasets import make_sparse_function


def reference_greedy(f, n, steps, direction="decrease"):
    """Plain-loop greedy search: one mask at a time, first strict maximum wins."""
    removed = []
    full = float(f(np.ones((1, n), dtype=np.uint8))[0])
    previous, values, gains = full, [full], []
    for _ in range(steps):
        best = None
        for j in range(n):
            if j in removed:
                continue
            mask = np.ones((1, n), dtype=np.uint8)
            mask[0, [*removed, j]] = 0
            value = float(f(mask)[0])
            change = value - previous
            gain = {"decrease": -change, "increase": change, "abs": abs(change)}[direction]
            if best is None or gain > best[2]:
                best = (j, value, gain)
        removed.append(best[0])
        values.append(best[1])
        gains.append(best[2])
        previous = best[1]
    return removed, gains, values


class CountingFunction:
    """Records the shape of every batch it is asked for."""

    def __init__(self, f):
        self.f = f
        self.n_components = f.n_components
        self.batches = []

    def __call__(self, masks):
        self.batches.append(np.asarray(masks).shape)
        return self.f(masks)


def flip_function(linear_x5=0.0):
    """Positive unless x0 and x3 are both ablated; small linear terms make x0 go first."""

    def f(masks):
        x = np.asarray(masks, dtype=float)
        return (1 - 2 * (1 - x[:, 0]) * (1 - x[:, 3]) + 0.3 * x[:, 0] + 0.1 * x[:, 1]
                + 0.05 * x[:, 2] + linear_x5 * x[:, 5])

    return f


@pytest.mark.parametrize("direction", ["decrease", "increase", "abs"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_reference(direction, seed):
    n = 7
    f, _ = make_sparse_function(n, n_terms=10, max_order=3, random_state=seed)
    est = GreedyAblationExplainer(f, direction=direction).fit()
    selected, gains, values = reference_greedy(f, n, n, direction)
    assert est.selected_.tolist() == selected
    np.testing.assert_allclose(est.gains_, gains, atol=1e-12)
    np.testing.assert_allclose(est.values_, values, atol=1e-12)
    assert est.selected_names_ == [f"x{i}" for i in selected]


def test_masks_and_values_are_consistent():
    f, truth = make_sparse_function(6, n_terms=8, max_order=2, random_state=3)
    est = GreedyAblationExplainer(f, max_steps=4).fit()
    assert est.masks_.dtype == np.uint8 and est.masks_.shape == (5, 6)
    assert est.masks_[0].tolist() == [1] * 6
    for k in range(5):
        assert sorted(np.flatnonzero(est.masks_[k] == 0)) == sorted(est.selected_[:k])
    np.testing.assert_allclose(truth.evaluate(est.masks_), est.values_, atol=1e-12)
    np.testing.assert_allclose(est.gains_, -np.diff(est.values_), atol=1e-12)


def test_first_pick_of_an_and_interaction_is_known():
    # Ablating x2 alone loses 0.5; ablating x4 alone loses 0.2; together they lose 3.
    def f(masks):
        x = np.asarray(masks, dtype=float)
        return 0.5 * x[:, 2] + 0.2 * x[:, 4] + 3 * x[:, 2] * x[:, 4] - 0.1 * x[:, 1]

    est = GreedyAblationExplainer(f, components=6, max_steps=2).fit()
    assert est.selected_.tolist() == [2, 4]
    np.testing.assert_allclose(est.gains_, [3.5, 0.2])
    up = GreedyAblationExplainer(f, components=6, max_steps=1, direction="increase").fit()
    assert up.selected_.tolist() == [1]
    np.testing.assert_allclose(up.gains_, [0.1])


def test_smallest_flipping_set_with_threshold():
    names = ["the", "movie", "was", "not", "bad", "at"]
    est = GreedyAblationExplainer(flip_function(), components=names, threshold=0.0).fit()
    assert est.flipped_ is True
    assert est.removal_set_ == ("the", "not")
    assert est.selected_.tolist() == [0, 3]
    assert est.values_[0] > 0 > est.values_[-1]
    assert est.n_queries_ == 1 + 6 + 5


def test_greedy_flipping_set_is_not_always_minimal():
    # A larger linear term on x5 is removed first: greedy returns a flipping set of 3.
    est = GreedyAblationExplainer(flip_function(linear_x5=0.4), components=6, threshold=0).fit()
    assert est.flipped_
    assert est.removal_set_ == ("x5", "x0", "x3")


def test_threshold_never_crossed():
    f = flip_function()
    est = GreedyAblationExplainer(f, components=6, threshold=-5.0).fit()
    assert est.flipped_ is False
    assert len(est.selected_) == 6
    assert est.removal_set_ == tuple(est.selected_names_)
    assert GreedyAblationExplainer(f, components=6).fit().flipped_ is False


def test_query_accounting_and_batches():
    f, _ = make_sparse_function(8, n_terms=6, max_order=2, random_state=0)
    counting = CountingFunction(f)
    est = GreedyAblationExplainer(counting, max_steps=3).fit()
    assert counting.batches == [(1, 8), (8, 8), (7, 8), (6, 8)]
    assert est.n_queries_ == 1 + 8 + 7 + 6 == f.n_calls
    assert est.query_seconds_ >= 0.0


@pytest.mark.parametrize(("budget", "steps"), [(7, 1), (12, 2), (15, 2), (16, 3), (100, 6)])
def test_budget_limits_steps(budget, steps):
    f, _ = make_sparse_function(6, n_terms=6, max_order=2, random_state=0)
    est = GreedyAblationExplainer(f, budget=budget).fit()
    assert len(est.selected_) == steps
    assert est.n_queries_ == 1 + sum(6 - s for s in range(steps)) <= budget


def test_max_steps_and_budget_together():
    f, _ = make_sparse_function(6, n_terms=6, max_order=2, random_state=0)
    assert len(GreedyAblationExplainer(f, max_steps=2, budget=100).fit().selected_) == 2
    assert len(GreedyAblationExplainer(f, max_steps=9).fit().selected_) == 6


def test_constant_function_ties_go_to_lowest_index():
    est = GreedyAblationExplainer(lambda m: np.zeros(len(m)), components=5).fit()
    assert est.selected_.tolist() == [0, 1, 2, 3, 4]
    assert np.all(est.gains_ == 0)


def test_component_names_come_from_the_value_function():
    f, _ = make_sparse_function(4, n_terms=3, max_order=2, random_state=0)
    f.component_names = ["a", "b", "c", "d"]
    est = GreedyAblationExplainer(f, max_steps=1).fit()
    assert est.component_names_ == ["a", "b", "c", "d"]
    assert est.n_features_in_ == 4


def test_to_frame():
    pytest.importorskip("pandas")
    est = GreedyAblationExplainer(flip_function(), components=6, max_steps=3).fit()
    frame = est.to_frame()
    assert list(frame.columns) == ["step", "component", "name", "gain", "value"]
    assert frame["step"].tolist() == [1, 2, 3]
    assert frame["component"].tolist() == est.selected_.tolist()
    np.testing.assert_allclose(frame["value"], est.values_[1:])


def test_clone_and_get_params():
    f, _ = make_sparse_function(5, n_terms=4, max_order=2, random_state=0)
    est = GreedyAblationExplainer(f, max_steps=2, threshold=0.5, direction="abs")
    params = est.get_params()
    assert params == {"value_function": f, "components": None, "max_steps": 2, "budget": None,
                      "direction": "abs", "threshold": 0.5, "verbose": 0}
    copy = clone(est)
    assert copy.value_function is f and copy.get_params() == params
    assert 1 <= len(copy.fit().selected_) <= 2
    assert not hasattr(est, "selected_")  # fitting the clone left the original unfitted


def test_verbose_reports_on_stderr(capsys):
    GreedyAblationExplainer(flip_function(), components=6, threshold=0, verbose=1).fit()
    err = capsys.readouterr().err
    assert "threshold" in err and "queries" in err


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"value_function": None, "components": 3}, ValueError, "value_function="),
        ({"value_function": 3.0, "components": 3}, TypeError,
         "'value_function' parameter of GreedyAblationExplainer must be a callable"),
        ({"components": None}, ValueError, "number of components is unknown"),
        ({"components": 0}, ValueError, r"'components' parameter .* int in the range \[1"),
        ({"direction": "up"}, ValueError, "'direction' parameter .* Got 'up'"),
        ({"max_steps": 0}, ValueError, r"'max_steps' parameter .* \[1, inf\) or None"),
        ({"max_steps": 1.5}, ValueError, "'max_steps' parameter .* Got 1.5"),
        ({"budget": 4}, ValueError, r"at least n \+ 1 = 5 queries"),
        ({"budget": "10"}, ValueError, "'budget' parameter .* Got '10'"),
        ({"threshold": "0"}, ValueError, "'threshold' parameter .* a float in the range"),
        ({"threshold": np.nan}, ValueError, "'threshold' parameter .* Got nan"),
        ({"threshold": np.inf}, ValueError, "'threshold' parameter .* Got inf"),
        ({"threshold": True}, ValueError, "threshold must be a finite number or None, got True"),
        ({"max_steps": True}, ValueError, "max_steps must be an integer >= 1 or None, got True"),
        ({"budget": True}, ValueError, "budget must be an integer >= 1 or None, got True"),
        ({"verbose": "loud"}, ValueError, "'verbose' parameter"),
    ],
)
def test_bad_parameters(params, error, match):
    kwargs = {"value_function": lambda m: m.sum(axis=1), "components": 4, **params}
    with pytest.raises(error, match=match):
        GreedyAblationExplainer(**kwargs).fit()


def test_fit_refuses_masks_or_values():
    est = GreedyAblationExplainer(lambda m: m.sum(axis=1), components=3)
    with pytest.raises(ValueError, match="picks its own masks"):
        est.fit(np.ones((2, 3)))
    with pytest.raises(ValueError, match="picks its own masks"):
        est.fit(None, np.ones(2))


@pytest.mark.parametrize(
    ("vf", "match"),
    [
        (lambda m: np.ones((len(m), 2)), r"returned shape \(1, 2\) for 1 masks"),
        (lambda m: np.full(len(m), np.nan), "NaN or inf"),
        (lambda m: np.where(m.sum(axis=1) < 4, np.inf, 1.0), "NaN or inf for 4 of 4"),
    ],
)
def test_bad_value_function_output(vf, match):
    with pytest.raises(ValueError, match=match):
        GreedyAblationExplainer(vf, components=4).fit()


def test_to_frame_before_fit():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        GreedyAblationExplainer(lambda m: m.sum(axis=1), components=3).to_frame()


def test_greedy_queries_through_the_shared_code():
    # One querying path for every explainer: dedup, timing, counting, value checks.
    from spexlearn._base import BaseExplainer, QueryingMixin

    for name in ("_require_value_function", "_set_components", "_query", "_log"):
        assert getattr(GreedyAblationExplainer, name) is getattr(QueryingMixin, name)
    assert issubclass(BaseExplainer, QueryingMixin)
    with pytest.raises(ValueError, match="GreedyAblationExplainer has no value_function"):
        GreedyAblationExplainer(components=3).fit()
