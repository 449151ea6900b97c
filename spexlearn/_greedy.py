"""Greedy ablation: remove, one at a time, the component that changes the output most."""

from __future__ import annotations

import sys
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from ._base import QueryingMixin

__all__ = ["GreedyAblationExplainer"]

DIRECTIONS = ("decrease", "increase", "abs")


class GreedyAblationExplainer(QueryingMixin, BaseEstimator):
    """Greedy search for the components whose joint ablation changes the output most.

    Start from the full input (all components kept). At each step, try ablating each
    remaining component together with those already chosen, and add the one whose extra
    ablation changes the value most (its interaction gain given the chosen set). Stop
    after ``max_steps`` steps, before a step that would exceed ``budget`` queries, or at
    the first step where the value crosses ``threshold``.

    With a threshold this is the "smallest set whose removal flips the answer" tool (e.g.
    the value ``log p(positive) - log p(negative)`` with ``threshold=0``). Greedy search is
    a heuristic: the set it returns flips the answer but is not guaranteed to be the
    smallest such set (an interaction whose members do nothing alone is found only once
    one member has been chosen for another reason). It is also a baseline for the
    spectral explainers. It fits no surrogate, so it has no ``faithfulness_``: every value
    it reports (``values_``) is a measured model output, not an estimate.

    Parameters
    ----------
    value_function : callable or None, default=None
        ``masks (m, n) uint8 -> values (m,)``: the model output when only the components
        with mask 1 are kept (0 = ablated). Required by ``fit``.
    components : int, list of str or None, default=None
        The number of components or their names. None: taken from the value function
        (``component_names`` / ``n_components``).
    max_steps : int or None, default=None
        Largest number of components to ablate. None: all of them.
    budget : int or None, default=None
        Largest number of value-function queries. The full mask costs 1 query and step
        ``s`` (counting from 0) costs ``n - s``, one per remaining candidate; the search
        stops before a step it cannot afford. At least ``n + 1`` (one step). None: no limit.
    direction : {"decrease", "increase", "abs"}, default="decrease"
        Which change counts as a gain: "decrease" picks the component whose ablation
        lowers the value most (gain ``v_before - v_after``), "increase" the one that raises
        it most (gain ``v_after - v_before``), "abs" the largest change either way (gain
        ``|v_after - v_before|``).
    threshold : float or None, default=None
        Stop at the first step where the value crosses the threshold: the sign of
        ``value - threshold`` differs from its sign on the full input (reaching the
        threshold exactly counts). None: never stop early.
    verbose : int, default=0
        Above 0, show a progress bar of the steps on stderr.

    Attributes
    ----------
    selected_ : ndarray of shape (n_steps,)
        Indices of the ablated components, in the order chosen.
    selected_names_ : list of str
        Their names.
    gains_ : ndarray of shape (n_steps,)
        The gain of each step (see ``direction``); ``np.diff(values_)`` gives the signed
        changes.
    values_ : ndarray of shape (n_steps + 1,)
        The value on the full input, then after each step.
    masks_ : ndarray of shape (n_steps + 1, n_components), dtype uint8
        The mask after each step; the first row is all ones.
    flipped_ : bool
        Whether the value crossed ``threshold`` (False when ``threshold`` is None).
    removal_set_ : tuple of str
        Names of the components removed up to and including the step that crossed the
        threshold; all of ``selected_names_`` when it was not crossed.
    n_queries_ : int
        Number of masks the value function evaluated.
    query_seconds_ : float
        Time spent inside the value function.
    component_names_ : list of str
    n_features_in_ : int

    Examples
    --------
    >>> from spexlearn import GreedyAblationExplainer
    >>> from spexlearn.datasets import make_sparse_function
    >>> f, truth = make_sparse_function(8, n_terms=6, max_order=2, random_state=0)
    >>> explainer = GreedyAblationExplainer(f, max_steps=3).fit()
    >>> len(explainer.selected_), explainer.n_queries_  # 1 + 8 + 7 + 6 queries
    (3, 22)
    >>> bool(explainer.values_[-1] <= explainer.values_[0])
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        "value_function": [callable, None],
        "components": [Interval(Integral, 1, None, closed="left"), "array-like", str, None],
        "max_steps": [Interval(Integral, 1, None, closed="left"), None],
        "budget": [Interval(Integral, 1, None, closed="left"), None],
        "direction": [StrOptions(set(DIRECTIONS))],
        # Finite: a NaN or infinite threshold is never crossed, silently.
        "threshold": [Interval(Real, None, None, closed="neither"), None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        value_function=None,
        components=None,
        *,
        max_steps=None,
        budget=None,
        direction="decrease",
        threshold=None,
        verbose=0,
    ):
        self.value_function = value_function
        self.components = components
        self.max_steps = max_steps
        self.budget = budget
        self.direction = direction
        self.threshold = threshold
        self.verbose = verbose

    # ----------------------------------------------------------------- fit
    def fit(self, X=None, y=None):
        """Run the greedy search, querying ``value_function`` step by step.

        Parameters
        ----------
        X : None
            Must be None: the greedy search chooses its own masks.
        y : None
            Must be None: values come from ``value_function``.

        Returns
        -------
        self : object
        """
        if X is not None or y is not None:
            raise ValueError(
                "GreedyAblationExplainer picks its own masks step by step, so fit takes no "
                "X or y: call fit() and pass the model through value_function=..."
            )
        self._validate_params()
        self._refuse_booleans()
        self._require_value_function()
        n = self.n_features_in_ = self._set_components()
        steps = self._n_affordable_steps(n)
        self.query_seconds_ = 0.0
        self.n_queries_ = 0
        mask = np.ones(n, dtype=np.uint8)
        values = [float(self._query(mask[None, :])[0])]
        selected, gains, masks = [], [], [mask.copy()]
        self.flipped_ = False
        for step in tqdm(range(steps), desc="greedy ablation", disable=not self.verbose,
                         file=sys.stderr):
            best, value, gain = self._best_candidate(mask, values[-1])
            mask[best] = 0
            selected.append(best)
            gains.append(gain)
            values.append(value)
            masks.append(mask.copy())
            if self._crossed(values[0], value):
                self.flipped_ = True
                self._log(f"the value crossed threshold={self.threshold} at step {step + 1}")
                break
        self._set_results(selected, gains, values, masks)
        return self

    def _refuse_booleans(self) -> None:
        """The constraints take True for a number (bool is an int); as a step count, a
        budget or a threshold it is a mistake."""
        for name, kind in (("max_steps", "an integer >= 1"), ("budget", "an integer >= 1"),
                           ("threshold", "a finite number")):
            value = getattr(self, name)
            if isinstance(value, bool):
                raise ValueError(f"{name} must be {kind} or None, got {value!r}.")

    def _n_affordable_steps(self, n: int) -> int:
        """The number of steps ``max_steps`` and ``budget`` allow."""
        steps = n if self.max_steps is None else min(n, int(self.max_steps))
        if self.budget is None:
            return steps
        budget = int(self.budget)
        if budget < n + 1:
            raise ValueError(
                f"budget={budget} cannot pay for one greedy step with {n} components: it "
                f"needs at least n + 1 = {n + 1} queries (the full mask plus one per "
                "component); raise budget or pass budget=None."
            )
        spent, affordable = 1, 0
        while affordable < steps and spent + n - affordable <= budget:
            spent += n - affordable
            affordable += 1
        if affordable < steps:
            self._log(f"budget={budget} allows {affordable} of {steps} steps")
        return affordable

    def _best_candidate(self, mask: np.ndarray, previous: float) -> tuple[int, float, float]:
        """Ablate each remaining component in turn (one batch); the best (index, value, gain)."""
        candidates = np.flatnonzero(mask)
        batch = np.repeat(mask[None, :], len(candidates), axis=0)
        batch[np.arange(len(candidates)), candidates] = 0
        values = self._query(batch)
        gains = _gains(previous, values, self.direction)
        pick = int(np.argmax(gains))  # the first maximum: ties go to the lowest index
        return int(candidates[pick]), float(values[pick]), float(gains[pick])

    def _crossed(self, full: float, value: float) -> bool:
        if self.threshold is None:
            return False
        return bool(np.sign(value - self.threshold) != np.sign(full - self.threshold))

    def _set_results(self, selected, gains, values, masks) -> None:
        self.selected_ = np.asarray(selected, dtype=np.intp)
        self.selected_names_ = [self.component_names_[i] for i in selected]
        self.gains_ = np.asarray(gains, dtype=np.float64)
        self.values_ = np.asarray(values, dtype=np.float64)
        self.masks_ = np.vstack(masks).astype(np.uint8)
        self.removal_set_ = tuple(self.selected_names_)
        self._log(f"{len(selected)} steps, {self.n_queries_} queries")

    # ------------------------------------------------------------- results
    def to_frame(self):
        """A pandas DataFrame, one row per step: ``step, component, name, gain, value``.

        ``step`` counts from 1; ``value`` is the value after that step's ablation.
        """
        check_is_fitted(self, "selected_")
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_frame needs pandas: pip install pandas.") from exc
        return pd.DataFrame(
            {
                "step": np.arange(1, len(self.selected_) + 1),
                "component": self.selected_,
                "name": self.selected_names_,
                "gain": self.gains_,
                "value": self.values_[1:],
            }
        )


def _gains(previous: float, values: np.ndarray, direction: str) -> np.ndarray:
    if direction == "decrease":
        return previous - values
    if direction == "increase":
        return values - previous
    return np.abs(values - previous)


