"""TabularAblation: a fitted model's output on one row when some of its features are ablated."""

from __future__ import annotations

import numpy as np

from ._base import Ablation
from .data import canonical, content_digest, model_output, resolve_class, resolve_output

__all__ = ["TabularAblation"]


class TabularAblation(Ablation):
    """The output of a fitted model on one row whose ablated features come from a
    background, interventionally.

    A mask keeps some features (or named groups of features) of ``x`` at their values;
    each ablated feature takes its value from a background row, and the value is the
    model's output averaged over the background rows (the interventional, "marginal"
    convention of SHAP and shapiq's ``MarginalImputer``). One background row is a single
    baseline (shapiq's ``BaselineImputer`` with that row).

    Parameters
    ----------
    estimator : fitted scikit-learn estimator or pipeline
        Only its output is called; it is never refitted.
    x : array-like of shape (n_features,) or (1, n_features), or a one-row DataFrame
        The row whose output is explained.
    background : array-like or DataFrame of shape (n_background, n_features)
        Where ablated features take their values: every row, averaged (a few dozen
        rows are typical; the cost of a mask is one prediction per row), or one row.
    features : None, or dict of name -> list of columns
        Components: None, one per column (named by the DataFrame's columns, else
        ``x0, x1, ...``); a dict: named groups of columns (names or indices), ablated
        together. Every column must be in exactly one group.
    output : {"auto", "predict", "decision_function", "predict_proba"}, default="auto"
        "auto": the probability of ``target_class`` for a classifier with
        ``predict_proba``, else ``decision_function``, else ``predict``.
    target_class : label or None
        The class whose probability (or decision value) is the output. None: the class
        the model predicts for ``x``.
    cache, batch_size, progress, backend, n_workers, repeats
        See :class:`~spexlearn.ablation.Ablation`.

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> import numpy as np
    >>> from spexlearn.ablation import TabularAblation
    >>> X = np.random.default_rng(0).normal(size=(50, 3)); y = X @ [1.0, 2.0, 0.0]
    >>> model = LinearRegression().fit(X, y)
    >>> value = TabularAblation(model, X[0], X, progress=False)
    >>> keep_first = value(np.array([[1, 0, 0]]))[0]   # x0 kept, the others averaged
    >>> bool(np.isclose(keep_first, model.predict(np.c_[X[:, :0], np.full((50, 1), X[0, 0]),
    ...                                               X[:, 1:]]).mean()))
    True
    """

    def __init__(self, estimator, x, background, *, features=None, output="auto",
                 target_class=None, cache=None, batch_size=64, progress=True,
                 backend="local", n_workers=None, repeats=1):
        super().__init__(cache=cache, batch_size=batch_size, progress=progress,
                         backend=backend, n_workers=n_workers, repeats=repeats)
        self.estimator = estimator
        self.columns = _columns(background)
        self.x = _rows(x, self.columns, "x").reshape(1, -1)
        self.background = _rows(background, self.columns, "background")
        if self.x.shape[1] != self.background.shape[1]:
            raise ValueError(f"x has {self.x.shape[1]} features but the background has "
                             f"{self.background.shape[1]}: give the same columns.")
        if len(self.background) == 0:
            raise ValueError("the background is empty: give at least one row.")
        self.component_names, self._members = _groups(features, self.columns,
                                                      self.x.shape[1])
        self.output = resolve_output(estimator, output)
        self.target_class = resolve_class(estimator, self._frame(self.x), self.output,
                                          target_class)

    def _repr_settings(self) -> dict[str, object]:
        return {"estimator": self.estimator, "n_background": len(self.background),
                **super()._repr_settings()}

    def describe(self) -> dict[str, str]:
        """The value in words, for reports."""
        what = self.output if self.target_class is None else (
            f"{self.output} of class {self.target_class!r}")
        return {"model": type(self.estimator).__name__,
                "value": f"{what}, ablated features from {len(self.background)} "
                         "background row(s)"}

    def _fingerprint(self) -> dict:
        # The parameters do not say what a fitted model learned: its outputs on the row
        # and the background do (two fits of one estimator on other data differ there).
        rows = np.vstack([self.x, self.background])
        learned = model_output(self.estimator, self._frame(rows), self.output,
                               self.target_class)
        return {"kind": "tabular", "estimator": canonical(self.estimator),
                "output": self.output, "target_class": canonical(self.target_class),
                "data": content_digest(self.x, self.background),
                "outputs": content_digest(learned), "components": self.component_names}

    def _evaluate(self, masks: np.ndarray) -> np.ndarray:
        keep = np.zeros((len(masks), self.x.shape[1]), dtype=bool)
        for j, columns in enumerate(self._members):
            keep[:, columns] = masks[:, [j]].astype(bool)
        # Every (mask, background row) pair in one prediction call: row (i, b) is x where
        # mask i keeps a feature and background row b elsewhere.
        n_background = len(self.background)
        imputed = np.where(np.repeat(keep, n_background, axis=0),
                           np.repeat(self.x, len(masks) * n_background, axis=0),
                           np.tile(self.background, (len(masks), 1)))
        values = model_output(self.estimator, self._frame(imputed), self.output,
                              self.target_class)
        return values.reshape(len(masks), n_background).mean(axis=1)

    def _frame(self, rows: np.ndarray):
        """``rows`` as the model was fitted: a DataFrame with the columns' dtypes where the
        background was one, else the array."""
        if self.columns is None:
            return rows
        import pandas as pd

        frame = pd.DataFrame(rows, columns=self.columns.index)
        return frame.astype(self.columns.to_dict())


def _columns(background):
    """The background DataFrame's dtypes by column (a Series), or None for an array."""
    dtypes = getattr(background, "dtypes", None)
    return dtypes if hasattr(background, "columns") else None


def _rows(data, columns, name: str) -> np.ndarray:
    if columns is not None and hasattr(data, "columns"):
        missing = [c for c in columns.index if c not in data.columns]
        if missing:
            raise ValueError(f"{name} lacks the background's columns {missing[:5]}.")
        data = data[list(columns.index)]
    # Object dtype keeps mixed columns (strings, categories) as they are.
    rows = np.asarray(data, dtype=object if columns is not None else None)
    if rows.dtype.kind not in "biufcO":
        rows = rows.astype(object)
    return rows if rows.ndim == 2 else rows.reshape(1, -1)


def _groups(features, columns, n_features: int) -> tuple[list[str], list[list[int]]]:
    names = ([str(c) for c in columns.index] if columns is not None
             else [f"x{i}" for i in range(n_features)])
    if features is None:
        return names, [[i] for i in range(n_features)]
    if not isinstance(features, dict) or not features:
        raise TypeError("features must be None or a dict of group name -> list of columns.")
    position = {name: i for i, name in enumerate(names)}
    members = []
    for group, listed in features.items():
        indices = []
        for column in listed:
            if isinstance(column, (int, np.integer)) and not isinstance(column, bool):
                index = int(column)
            elif str(column) in position:
                index = position[str(column)]
            else:
                raise ValueError(f"group {group!r} names column {column!r}, which is not one "
                                 f"of the {n_features} columns ({names[:8]}...).")
            if not 0 <= index < n_features:
                raise ValueError(f"group {group!r}: column {index} is out of range.")
            indices.append(index)
        members.append(sorted(indices))
    flat = sorted(i for m in members for i in m)
    if flat != list(range(n_features)):
        raise ValueError("every column must be in exactly one group: "
                         f"{sorted(set(range(n_features)) - set(flat))} are in none, or some "
                         "are in two.")
    return [str(g) for g in features], members
