"""DataAblation: a model's output at a test point when training rows or groups are removed."""

from __future__ import annotations

import hashlib
import pickle
import re

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone, is_classifier
from sklearn.dummy import DummyClassifier, DummyRegressor

from ._base import Ablation

__all__ = ["DataAblation", "canonical", "content_digest", "model_output", "resolve_class",
           "resolve_output"]

OUTPUTS = ("auto", "predict", "decision_function", "predict_proba")


class DataAblation(Ablation):
    """The output of an estimator refitted on the kept training rows (or groups).

    Each mask keeps some training rows (or groups of rows); the estimator is cloned,
    refitted on them, and its output at ``x_test`` is the value. A kept set it cannot be
    fitted on (no rows, one class for a classifier, or any ``ValueError`` from ``fit``,
    such as fewer rows than ``n_neighbors``) gives the output of a prior-only dummy model
    fitted on the kept labels (all training labels when none are kept).

    Parameters
    ----------
    estimator : scikit-learn estimator
        Cloned for every refit, never fitted in place.
    X_train : array-like of shape (n_samples, n_features)
    y_train : array-like of shape (n_samples,)
    x_test : array-like of shape (n_features,) or (1, n_features)
        The point whose output is explained.
    groups : array-like of shape (n_samples,) or None
        Group label of each training row: components are the groups (sorted). None:
        every row is a component.
    output : {"auto", "predict", "decision_function", "predict_proba"}
        "auto": the probability of ``target_class`` for classifiers with
        ``predict_proba``, else ``decision_function`` if there is one, else ``predict``.
    target_class : label or None
        The class whose probability (or decision value, binary) is the output. None:
        the class predicted for ``x_test`` by the model fitted on all rows.
    n_jobs : int or None
        Refits run in parallel with joblib.
    cache, batch_size, progress, backend, n_workers, repeats
        See :class:`~spexlearn.ablation.Ablation`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from spexlearn.ablation import DataAblation
    >>> X = np.arange(12.0).reshape(6, 2); y = X.sum(axis=1)
    >>> value = DataAblation(Ridge(), X, y, X[0], progress=False)
    >>> masks = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    >>> values = value(masks)
    >>> bool(np.isclose(values[1], Ridge().fit(X[:3], y[:3]).predict(X[:1])[0]))
    True
    """

    def __init__(self, estimator, X_train, y_train, x_test, *, groups=None, output="auto",
                 target_class=None, n_jobs=None, cache=None, batch_size=32, progress=True,
                 backend="local", n_workers=None, repeats=1):
        super().__init__(cache=cache, batch_size=batch_size, progress=progress,
                         backend=backend, n_workers=n_workers, repeats=repeats)
        self.estimator = estimator
        self.X_train = np.asarray(X_train)
        self.y_train = np.asarray(y_train)
        if len(self.X_train) != len(self.y_train) or len(self.X_train) == 0:
            raise ValueError(
                f"X_train has {len(self.X_train)} rows and y_train {len(self.y_train)}: give "
                "one label per training row (at least one row)."
            )
        self.x_test = np.asarray(x_test).reshape(1, -1)
        if self.x_test.shape[1] != self.X_train.reshape(len(self.X_train), -1).shape[1]:
            raise ValueError(
                f"x_test has {self.x_test.shape[1]} features but X_train has "
                f"{self.X_train.reshape(len(self.X_train), -1).shape[1]}."
            )
        self.n_jobs = n_jobs
        self._members, self.component_names = _components(groups, len(self.X_train))
        full = clone(estimator).fit(self.X_train, self.y_train)
        self.output = resolve_output(full, output)
        self.target_class = resolve_class(full, self.x_test, self.output, target_class)

    def _repr_settings(self) -> dict[str, object]:
        return {"estimator": self.estimator, **super()._repr_settings()}

    def _fingerprint(self) -> dict:
        # Only content, never object identities: the key must be the same in every
        # process for the same estimator and data, or no rerun could resume.
        return {"kind": "data", "estimator": canonical(self.estimator), "output": self.output,
                "target_class": canonical(self.target_class), "n_rows": len(self.X_train),
                "data": content_digest(self.X_train, self.y_train, self.x_test),
                "components": self.component_names}

    def _evaluate(self, masks: np.ndarray) -> np.ndarray:
        rows = [np.concatenate([self._members[j] for j in np.flatnonzero(mask)] or [[]])
                .astype(np.int64) for mask in masks]
        jobs = (delayed(self._refit_value)(kept) for kept in rows)
        return np.array(Parallel(n_jobs=self.n_jobs)(jobs), dtype=np.float64)

    def _refit_value(self, kept: np.ndarray) -> float:
        X, y = (self.X_train[kept], self.y_train[kept]) if kept.size else (
            self.X_train, self.y_train
        )
        fittable = kept.size > 0 and not (
            is_classifier(self.estimator) and len(np.unique(y)) < 2
        )
        if fittable:
            try:
                model = clone(self.estimator).fit(X, y)
                return _output_value(model, self.x_test, self.output, self.target_class)
            except ValueError:
                pass  # too few rows for this estimator (e.g. fewer than n_neighbors)
        dummy = DummyClassifier(strategy="prior") if is_classifier(self.estimator) else (
            DummyRegressor()
        )
        return _output_value(dummy.fit(X, y), self.x_test, self.output, self.target_class)


def _components(groups, n_rows: int) -> tuple[list[np.ndarray], list[str]]:
    if groups is None:
        return [np.array([i]) for i in range(n_rows)], [f"row {i}" for i in range(n_rows)]
    groups = np.asarray(groups)
    if groups.shape != (n_rows,):
        raise ValueError(f"groups must have one label per training row ({n_rows}).")
    labels = np.unique(groups)
    return [np.flatnonzero(groups == g) for g in labels], [str(g) for g in labels]


def resolve_output(model, output: str) -> str:
    """The output to read of a fitted ``model``: ``output`` itself (checked), or for
    "auto" the probability for a classifier, else the decision function, else predict."""
    if output not in OUTPUTS:
        raise ValueError(f"output={output!r} is unknown; choose one of {OUTPUTS}.")
    if output != "auto":
        if not hasattr(model, output):
            raise ValueError(f"{type(model).__name__} has no {output}; choose another output.")
        return output
    if _is_classifier(model) and hasattr(model, "predict_proba"):
        return "predict_proba"
    if hasattr(model, "decision_function"):
        return "decision_function"
    return "predict"


def _is_classifier(model) -> bool:
    """scikit-learn's test, and False for a model that is no scikit-learn estimator (any
    object with ``predict``: scikit-learn's tags then raise)."""
    try:
        return is_classifier(model)
    except AttributeError:
        return False


def resolve_class(model, x_test, output: str, target_class):
    """The class whose output is read (checked against ``classes_``); None: the class
    the model predicts for ``x_test``. None for ``output="predict"``."""
    if output == "predict":
        return None
    classes = list(getattr(model, "classes_", []))
    if target_class is None:
        return _plain(model.predict(x_test)[0]) if classes else None
    target_class = _plain(target_class)
    if classes and target_class not in classes:
        raise ValueError(f"target_class={target_class!r} is not one of the classes {classes}.")
    return target_class


def _plain(label):
    """A label as a plain Python value: NumPy scalars unwrapped, other objects (the str of
    an object-dtype label array) as they are."""
    return label.item() if isinstance(label, np.generic) else label


def _output_value(model, x_test, output: str, target_class) -> float:
    return float(model_output(model, x_test, output, target_class)[0])


def model_output(model, X, output: str, target_class) -> np.ndarray:
    """``model``'s ``output`` on each row of ``X``: the probability (or decision value)
    of ``target_class`` for a classifier, the prediction for a regressor."""
    if not hasattr(model, output):
        return np.zeros(len(X))  # a prior-only dummy has no decision function: no preference
    result = np.asarray(getattr(model, output)(X))
    classes = list(getattr(model, "classes_", []))
    if output == "predict_proba":
        if target_class not in classes:
            return np.zeros(len(X))  # the kept rows never show this class
        return result[:, classes.index(target_class)].astype(np.float64)
    if output == "decision_function" and result.ndim == 2:
        return result[:, classes.index(target_class)].astype(np.float64)
    if output == "decision_function" and classes and target_class == classes[0]:
        return -result.reshape(-1).astype(np.float64)  # binary: the score points to classes_[1]
    return result.reshape(len(X), -1)[:, 0].astype(np.float64)


def content_digest(*arrays) -> str:
    """A hash of the arrays' content, the same in every process.

    The bytes of an object array are pointers, different in every run; its elements are
    hashed one by one instead.
    """
    digest = hashlib.sha256()
    for array in arrays:
        array = np.asarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        if array.dtype.hasobject:
            for element in array.ravel():
                encoded = _element_bytes(element)
                digest.update(len(encoded).to_bytes(8, "little") + encoded)
        else:
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def _element_bytes(value) -> bytes:
    """One element of an object array as bytes that depend on its content only."""
    kind = type(value).__qualname__.encode() + b":"
    if isinstance(value, str):
        return kind + value.encode("utf-8", "surrogatepass")
    if isinstance(value, bytes):
        return kind + value
    if value is None or isinstance(value, (bool, int, float, complex, np.generic)):
        return kind + repr(value).encode()
    try:
        return kind + pickle.dumps(value, protocol=4)  # written only, never loaded
    except Exception:  # an unpicklable object: its text, without memory addresses
        return kind + _ADDRESS.sub("", repr(value)).encode()


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def canonical(value):
    """JSON-ready content of a setting: estimators by class and parameters, arrays by
    their digest, functions by name; never a repr holding a memory address."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return canonical(value.item())
    if isinstance(value, np.ndarray):
        return {"array": content_digest(value)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    if hasattr(value, "get_params") and not isinstance(value, type):
        return {"class": kind, "params": canonical(value.get_params(deep=False))}
    if callable(value) and hasattr(value, "__qualname__"):
        name = f"{getattr(value, '__module__', '')}.{value.__qualname__}"
        code = getattr(value, "__code__", None)  # two lambdas share a name, not a body
        return name if code is None else f"{name}:{hashlib.sha256(code.co_code).hexdigest()[:8]}"
    return {"class": kind, "content": hashlib.sha256(_element_bytes(value)).hexdigest()[:16]}
