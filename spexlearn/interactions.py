"""`Interactions`: the result of an explanation, one value per subset of components."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from numbers import Integral

import numpy as np

from .spectral import INDICES, canonical_terms

__all__ = ["Interactions"]

_REPR_ROWS = 10
# Our index names and shapiq's. "fourier" has no shapiq counterpart with our convention
# (a term's sign flips with each kept component); the others agree value for value with
# shapiq's ExactComputer, but for SII's empty set (see ``to_shapiq``).
_SHAPIQ_INDEX = {"mobius": "Moebius", "shapley": "SV", "banzhaf": "BV", "sii": "SII",
                 "bii": "BII", "stii": "STII", "fsii": "FSII", "fbii": "FBII",
                 "ksii": "k-SII"}
_FROM_SHAPIQ = {theirs: ours for ours, theirs in _SHAPIQ_INDEX.items()}


def _order_of(index: str, max_order: int) -> int | None:
    """The ``order`` an explainer gives an index: 1 for per-component values, none for
    Möbius coefficients, shapiq's ``max_order`` for the others."""
    if index in ("shapley", "banzhaf"):
        return 1
    return None if index == "mobius" else int(max_order)


class Interactions:
    """Interaction values of subsets of named components.

    Produced by the explainers (``interactions_`` and ``interactions(index=, order=)``);
    one value per subset in the chosen interaction index (``"fourier"``, ``"mobius"``,
    ``"shapley"``, ``"banzhaf"``, ``"sii"``, ``"bii"``, ``"stii"``, ``"fsii"``, ``"fbii"``,
    ``"ksii"``).
    Subsets that carry no value have value 0.

    Parameters
    ----------
    subsets : sequence of sequences of int
        Component indices of each subset.
    values : array-like of shape (n_subsets,)
    component_names : sequence of str
        One name per component (names may repeat, e.g. the same word twice).
    index : str, default="fourier"
        The interaction index the values are expressed in.
    order : int or None, default=None
        The order the index was computed for (None where it does not apply).

    Examples
    --------
    >>> from spexlearn import Interactions
    >>> inter = Interactions([(), (0,), (0, 1)], [0.5, 2.0, -1.0],
    ...                      component_names=["not", "bad"], index="mobius")
    >>> inter["not", "bad"]
    -1.0
    >>> inter.top(1)
    Interactions(index='mobius', n_components=2, 1 of 3 terms)
          value  order  components
      +2.000000      1  not
    """

    def __init__(
        self,
        subsets: Iterable[Sequence[int]],
        values,
        *,
        component_names: Sequence[str],
        index: str = "fourier",
        order: int | None = None,
        _n_total: int | None = None,
    ):
        self.component_names = [str(name) for name in component_names]
        if index not in INDICES:
            raise ValueError(f"index={index!r} is unknown; choose one of {INDICES}.")
        self.index = str(index)
        if order is not None and (not isinstance(order, Integral) or order < 1):
            raise ValueError(f"order must be None or an integer >= 1, got {order!r}.")
        self.order = None if order is None else int(order)
        self.subsets = [tuple(sorted(int(i) for i in s)) for s in subsets]
        self.values = np.asarray(values, dtype=np.float64).reshape(-1)
        if len(self.subsets) != len(self.values):
            raise ValueError(
                f"got {len(self.subsets)} subsets but {len(self.values)} values."
            )
        bad = np.flatnonzero(~np.isfinite(self.values))
        if bad.size:  # a NaN would sort, plot and sum silently wrong
            raise ValueError(
                f"{bad.size} values are NaN or infinite (first at subset "
                f"{self.subsets[bad[0]]}); every value must be a finite number."
            )
        n = len(self.component_names)
        for subset in self.subsets:
            if subset and (subset[0] < 0 or subset[-1] >= n):
                raise ValueError(f"subset {subset} refers to components outside 0..{n - 1}.")
            if len(set(subset)) != len(subset):
                raise ValueError(f"subset {subset} repeats a component.")
        self._lookup = {subset: row for row, subset in enumerate(self.subsets)}
        if len(self._lookup) != len(self.subsets):
            raise ValueError("a subset appears twice; give each subset one value.")
        self._n_total = len(self.subsets) if _n_total is None else int(_n_total)

    @classmethod
    def from_members(cls, members, values, **kwargs) -> Interactions:
        """Interactions from a members array, the layout spectra use.

        Parameters
        ----------
        members : ndarray of shape (n_subsets, width)
            One subset per row: its component indices, padded with -1.
        values : array-like of shape (n_subsets,)
        **kwargs
            ``component_names``, ``index`` and ``order``, as in the constructor.

        Examples
        --------
        >>> import numpy as np
        >>> from spexlearn import Interactions
        >>> inter = Interactions.from_members(np.array([[0, 1], [2, -1]]), [1.5, -0.5],
        ...                                   component_names=["a", "b", "c"])
        >>> inter["a", "b"]
        1.5
        """
        members, values = canonical_terms(members, values)
        subsets = [tuple(int(i) for i in row[row >= 0]) for row in members]
        return cls(subsets, values, **kwargs)

    # --------------------------------------------------------------- access
    @property
    def n_components(self) -> int:
        return len(self.component_names)

    @property
    def baseline(self) -> float:
        """The value of the empty set (0.0 when absent)."""
        return self[()]

    @property
    def orders(self) -> np.ndarray:
        return np.array([len(s) for s in self.subsets], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.subsets)

    def __iter__(self) -> Iterator[tuple[tuple[int, ...], float]]:
        return iter(zip(self.subsets, self.values.tolist()))

    def names_of(self, subset: Sequence[int]) -> tuple[str, ...]:
        """The component names of a subset of indices."""
        return tuple(self.component_names[i] for i in subset)

    def __getitem__(self, key) -> float:
        """Value of a subset given as indices or names (a single one for a component)."""
        subset = self._resolve(key)
        row = self._lookup.get(subset)
        return 0.0 if row is None else float(self.values[row])

    def _resolve(self, key) -> tuple[int, ...]:
        if not isinstance(key, (tuple, list)):
            key = (key,)
        resolved = [self._component_index(item) for item in key]
        if len(set(resolved)) != len(resolved):
            raise KeyError(f"{key!r} names a component twice.")
        return tuple(sorted(resolved))

    def _component_index(self, item) -> int:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not 0 <= item < self.n_components:
                raise KeyError(f"component {item} is outside 0..{self.n_components - 1}.")
            return int(item)
        if isinstance(item, str):
            hits = [i for i, name in enumerate(self.component_names) if name == item]
            if not hits:
                raise KeyError(f"no component is named {item!r}.")
            if len(hits) > 1:
                raise KeyError(
                    f"{len(hits)} components are named {item!r} (indices {hits}); "
                    "look the subset up by indices instead."
                )
            return hits[0]
        raise KeyError(f"components are looked up by int index or str name, got {item!r}.")

    # ---------------------------------------------------------- selection
    def top(self, k: int = 10, order: int | None = None) -> Interactions:
        """The ``k`` subsets with the largest absolute value, strongest first.

        Parameters
        ----------
        k : int, default=10
        order : int or None, default=None
            Only subsets of exactly this size. ``None``: every non-empty subset (the
            empty set holds the baseline, not an interaction).
        """
        sizes = self.orders
        candidates = np.flatnonzero(sizes > 0 if order is None else sizes == int(order))
        ranked = candidates[np.argsort(-np.abs(self.values[candidates]), kind="stable")]
        chosen = ranked[: max(int(k), 0)]
        return Interactions(
            [self.subsets[i] for i in chosen],
            self.values[chosen],
            component_names=self.component_names,
            index=self.index,
            order=self.order,
            _n_total=len(self),
        )

    # ------------------------------------------------------------- pictures
    def plot(self, kind: str = "bar", **kwargs):
        """Draw the interactions (needs ``spexlearn[plots]``).

        Parameters
        ----------
        kind : {"bar", "network"}, default="bar"
            "bar": :func:`spexlearn.plot.plot_bar`; "network":
            :func:`spexlearn.plot.plot_network`.
        **kwargs
            Passed on (``k``, ``order``, ``ax``, ...).

        Returns
        -------
        ax : matplotlib Axes
        """
        from . import plot

        kinds = {"bar": plot.plot_bar, "network": plot.plot_network}
        if kind not in kinds:
            raise ValueError(f"kind={kind!r} is unknown; choose one of {tuple(kinds)}.")
        return kinds[kind](self, **kwargs)

    # ------------------------------------------------------------ export
    def to_frame(self):
        """A pandas DataFrame: ``subset``, ``components``, ``order``, ``value`` columns."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "to_frame needs pandas: pip install pandas (or use to_dict())."
            ) from exc
        return pd.DataFrame(
            {
                "subset": self.subsets,
                "components": [self.names_of(s) for s in self.subsets],
                "order": self.orders,
                "value": self.values,
            }
        )

    def terms(self) -> dict[tuple[int, ...], float]:
        """``{subset tuple: value}``, as :meth:`SparseSpectrum.terms` gives coefficients."""
        return dict(self)

    def to_dict(self) -> dict:
        """Plain Python types only; ``from_dict(to_dict())`` is an exact copy."""
        return {
            "index": self.index,
            "order": self.order,
            "component_names": list(self.component_names),
            "subsets": [list(s) for s in self.subsets],
            "values": self.values.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Interactions:
        return cls(
            data["subsets"],
            data["values"],
            component_names=data["component_names"],
            index=data["index"],
            order=data.get("order"),
        )

    def to_json(self, path=None, **kwargs) -> str | None:
        """JSON text (floats written exactly); written to ``path`` when given."""
        text = json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False, **kwargs)
        if path is None:
            return text
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        return None

    @classmethod
    def from_json(cls, text_or_path) -> Interactions:
        """Read what `to_json` wrote (a JSON string or a file path); never evaluates code."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            with open(text_or_path, encoding="utf-8") as fh:
                text = fh.read()
        return cls.from_dict(json.loads(text))

    def to_shapiq(self, baseline: float | None = None):
        """These values as a ``shapiq.InteractionValues``, for shapiq's plots and tools.

        Index names map to shapiq's ("shapley" -> "SV", "banzhaf" -> "BV", "sii" ->
        "SII", "bii" -> "BII", "stii" -> "STII", "fsii" -> "FSII", "fbii" -> "FBII",
        "ksii" -> "k-SII", "mobius" -> "Moebius"); every value is kept as it is, and
        they equal shapiq's ``ExactComputer`` for the same game, with one difference:
        our SII gives the empty set the baseline ``f(∅)``, shapiq's ExactComputer its
        SII value. "fourier" has no shapiq counterpart: convert the explainer's result
        with ``interactions(index="mobius")`` first. shapiq's plots take the names as
        ``feature_names=np.array(explainer.component_names_)``.

        Parameters
        ----------
        baseline : float or None, default=None
            shapiq's ``baseline_value``, the value with no component kept. None: the
            empty set's value here (``f(∅)`` for Shapley, SII, STII, FSII, k-SII and
            Möbius values; pass it for Banzhaf values, whose empty set holds the mean).

        Returns
        -------
        shapiq.InteractionValues

        Examples
        --------
        >>> from spexlearn import Interactions
        >>> inter = Interactions([(), (0,), (1,)], [0.5, 2.0, -1.0],
        ...                      component_names=["not", "bad"], index="shapley")
        >>> values = inter.to_shapiq()  # doctest: +SKIP
        >>> values.index, values.baseline_value  # doctest: +SKIP
        ('SV', 0.5)
        """
        if self.index not in _SHAPIQ_INDEX:
            raise ValueError(
                f"index={self.index!r} has no shapiq counterpart with the same meaning; "
                "convert with explainer.interactions(index='mobius') (or any of "
                f"{', '.join(_SHAPIQ_INDEX)}) first.")
        try:
            from shapiq import InteractionValues
        except ImportError as exc:
            raise ImportError("to_shapiq needs shapiq: pip install shapiq.") from exc
        sizes = self.orders
        largest = int(sizes.max()) if len(sizes) else 0
        return InteractionValues(
            values=self.values.copy(),
            index=_SHAPIQ_INDEX[self.index],
            max_order=max(self.order or 0, largest, 1),
            min_order=int(sizes.min()) if len(sizes) else 0,
            n_players=self.n_components,
            interaction_lookup={subset: row for row, subset in enumerate(self.subsets)},
            estimated=True,
            baseline_value=float(self.baseline if baseline is None else baseline),
        )

    @classmethod
    def from_shapiq(cls, values, component_names: Sequence[str] | None = None
                    ) -> Interactions:
        """Read a ``shapiq.InteractionValues`` (the inverse of `to_shapiq`).

        ``component_names``: one name per player (None: "0", "1", ...). Its index must
        be one `to_shapiq` writes.
        """
        index = _FROM_SHAPIQ.get(values.index)
        if index is None:
            raise ValueError(
                f"shapiq index {values.index!r} has no counterpart here; readable: "
                f"{', '.join(_FROM_SHAPIQ)}.")
        names = ([str(i) for i in range(values.n_players)] if component_names is None
                 else list(component_names))
        if len(names) != values.n_players:
            raise ValueError(f"got {len(names)} component names for {values.n_players} "
                             "players; give one name per player.")
        lookup = values.interaction_lookup
        subsets = sorted(lookup, key=lambda s: (len(s), s))
        return cls(subsets, [values.values[lookup[s]] for s in subsets],
                   component_names=names, index=index,
                   order=_order_of(index, values.max_order))

    def __eq__(self, other) -> bool:
        return isinstance(other, Interactions) and self.to_dict() == other.to_dict()

    __hash__ = None

    # --------------------------------------------------------------- repr
    def _repr_html_(self) -> str:
        """The strongest interactions as a table, in a notebook."""
        from .report import interactions_html

        return interactions_html(self)

    def __repr__(self) -> str:
        shown = f"{len(self)} of {self._n_total} terms" if self._n_total != len(self) else (
            f"{len(self)} terms"
        )
        head = (
            f"Interactions(index={self.index!r}, n_components={self.n_components}, {shown})"
        )
        lines = [head, f"{'value':>11}  {'order':>5}  components"]
        for subset, value in list(self)[:_REPR_ROWS]:
            names = ", ".join(self.names_of(subset)) if subset else "(baseline)"
            lines.append(f"{value:+11.6f}  {len(subset):>5}  {names}")
        if len(self) > _REPR_ROWS:
            lines.append(f"... {len(self) - _REPR_ROWS} more (use .top(k) or .to_frame())")
        return "\n".join(lines)
