"""Pictures of interactions: a network, a bar chart, and faithfulness against budget.

Needs matplotlib and networkx (``pip install "spexlearn[plots]"``). Each function draws
on a given ``ax`` or a new figure and returns the axes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.base import clone

from .interactions import Interactions

__all__ = ["faithfulness_curve", "plot_bar", "plot_faithfulness", "plot_network"]

_POSITIVE, _NEGATIVE = "#1b7837", "#b2182b"


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            'plots need matplotlib and networkx: pip install "spexlearn[plots]"'
        ) from exc
    return plt


def _axes(ax):
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=(8, 5), layout="constrained")
    return ax


def _label(interactions: Interactions, subset, width: int = 24) -> str:
    names = [" ".join(str(name).split()) for name in interactions.names_of(subset)]
    names = [n if len(n) <= width else n[: width - 1] + "…" for n in names]
    return " × ".join(names) if names else "(baseline)"


def plot_bar(interactions: Interactions, k: int = 10, *, order: int | None = None, ax=None):
    """Horizontal bars of the ``k`` strongest interactions, strongest on top.

    Parameters
    ----------
    interactions : Interactions
    k : int, default=10
    order : int or None, default=None
        Only interactions of exactly this order.
    ax : matplotlib Axes or None

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> from spexlearn import Interactions
    >>> from spexlearn.plot import plot_bar
    >>> result = Interactions([(0,), (0, 1)], [0.5, -1.2], component_names=["not", "bad"])
    >>> plot_bar(result).get_title()
    'Top 2 interactions (fourier)'
    """
    top = interactions.top(k, order=order)
    ax = _axes(ax)
    labels = [_label(top, s) for s in top.subsets][::-1]
    values = np.asarray(top.values, dtype=float)[::-1]
    colors = [_POSITIVE if v >= 0 else _NEGATIVE for v in values]
    ax.barh(np.arange(len(values)), values, color=colors)
    ax.set_yticks(np.arange(len(values)), labels)
    ax.axvline(0, color="0.3", linewidth=0.8)
    ax.set_xlabel(f"{interactions.index} value")
    ax.set_title(f"Top {len(values)} interactions ({interactions.index})")
    return ax


def plot_network(interactions: Interactions, k: int = 20, *, ax=None, seed: int = 0):
    """The strongest interactions as a network of components.

    Nodes are the components taking part in the ``k`` strongest interactions, sized by the
    magnitude of their first-order value and coloured by its sign (green raises the
    output, red lowers it). Edges are pairwise interactions, their width the magnitude.
    A term of order 3 or more is a hyperedge: a small square joined to its members.

    Parameters
    ----------
    interactions : Interactions
    k : int, default=20
        How many of the strongest interactions (of any order) to draw.
    ax : matplotlib Axes or None
    seed : int, default=0
        Seed of the layout.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> from spexlearn import Interactions
    >>> from spexlearn.plot import plot_network
    >>> result = Interactions([(0,), (1,), (0, 1), (0, 1, 2)], [0.5, 0.2, -1.2, 0.4],
    ...                       component_names=["not", "bad", "film"])
    >>> plot_network(result).get_title()
    'Interaction network (fourier): 3 components, 1 term of order >= 3'
    """
    import networkx as nx

    top = interactions.top(k)
    members = sorted({i for subset in top.subsets for i in subset})
    first = {i: interactions[(i,)] for i in members}
    graph = nx.Graph()
    graph.add_nodes_from(members)
    hyper = [(s, v) for s, v in top if len(s) >= 3]
    for subset, value in top:
        if len(subset) == 2:
            graph.add_edge(*subset, value=value)
    for h, (subset, value) in enumerate(hyper):
        graph.add_node(("hyper", h))
        for i in subset:
            graph.add_edge(("hyper", h), i, value=value)
    positions = nx.spring_layout(graph, seed=seed)
    ax = _axes(ax)
    scale = max([abs(v) for _, v in top] + [1e-12])
    for u, v, data in graph.edges(data=True):
        (x0, y0), (x1, y1) = positions[u], positions[v]
        hyperedge = isinstance(u, tuple) or isinstance(v, tuple)
        ax.plot([x0, x1], [y0, y1], color=_POSITIVE if data["value"] >= 0 else _NEGATIVE,
                linewidth=(1 if hyperedge else 1 + 5 * abs(data["value"]) / scale),
                linestyle=":" if hyperedge else "-", alpha=0.7, zorder=1)
    xy = np.array([positions[i] for i in members]).reshape(-1, 2)
    sizes = [200 + 1800 * abs(first[i]) / scale for i in members]
    ax.scatter(xy[:, 0], xy[:, 1], s=sizes, zorder=2, edgecolors="0.2",
               c=[_POSITIVE if first[i] >= 0 else _NEGATIVE for i in members], alpha=0.85)
    for i, (x, y) in zip(members, xy):
        ax.annotate(_label(interactions, (i,), 18), (x, y), ha="center", va="center",
                    fontsize=8, zorder=3)
    for h, (_, value) in enumerate(hyper):
        x, y = positions[("hyper", h)]
        ax.scatter([x], [y], marker="s", s=60, color="0.35", zorder=2)
        ax.annotate(f"{value:+.2g}", (x, y), textcoords="offset points", xytext=(0, 7),
                    ha="center", fontsize=7)
    ax.set_axis_off()
    terms = "term" if len(hyper) == 1 else "terms"
    ax.set_title(f"Interaction network ({interactions.index}): {len(members)} components, "
                 f"{len(hyper)} {terms} of order >= 3")
    return ax


def faithfulness_curve(estimator, X, y, X_test, y_test, budgets: Sequence[int]) -> dict:
    """Held-out R² of ``estimator`` refitted on the first ``b`` samples, for each budget.

    No model is queried: the estimator (e.g. a ``ProxySPEXExplainer``) is cloned and
    fitted on ``(X[:b], y[:b])``, so one set of queried masks gives the whole curve.

    Parameters
    ----------
    estimator : explainer or any scikit-learn regressor over masks
    X, y : training masks and their values, in the order they were drawn
    X_test, y_test : held-out masks and values
    budgets : sequence of int
        Sample counts, each at most ``len(X)``.

    Returns
    -------
    dict
        ``{"budgets": [...], "r2": [...]}``.

    Examples
    --------
    >>> from spexlearn import ProxySPEXExplainer
    >>> from spexlearn.datasets import make_sparse_function
    >>> f, _ = make_sparse_function(12, n_terms=8, max_order=2, random_state=0)
    >>> rng = np.random.default_rng(0)
    >>> X, X_test = rng.integers(0, 2, (400, 12)), rng.integers(0, 2, (200, 12))
    >>> curve = faithfulness_curve(ProxySPEXExplainer(max_order=2, random_state=0),
    ...                            X, f(X), X_test, f(X_test), [50, 400])
    >>> curve["r2"][-1] > 0.99
    True
    """
    X, y = np.asarray(X), np.asarray(y, dtype=float)
    budgets = [int(b) for b in budgets]
    if any(b < 2 or b > len(X) for b in budgets):
        raise ValueError(f"budgets must lie in [2, {len(X)}] (the samples given), got {budgets}.")
    scores = [clone(estimator).fit(X[:b], y[:b]).score(X_test, y_test) for b in budgets]
    return {"budgets": budgets, "r2": [float(s) for s in scores]}


def plot_faithfulness(curves: Mapping[str, Mapping], *, ax=None):
    """Faithfulness (held-out R²) against the number of queries, one line per method.

    Parameters
    ----------
    curves : mapping of label -> {"budgets": [...], "r2": [...]}
        E.g. the results of :func:`faithfulness_curve`.
    ax : matplotlib Axes or None

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> ax = plot_faithfulness({"ProxySPEX": {"budgets": [100, 500], "r2": [0.6, 0.9]}})
    >>> ax.get_xlabel()
    'queries (budget)'
    """
    ax = _axes(ax)
    for label, curve in curves.items():
        ax.plot(curve["budgets"], curve["r2"], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("queries (budget)")
    ax.set_ylabel("faithfulness R² (held-out masks)")
    ax.set_title("Faithfulness against budget")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax
