"""Pictures of interactions: a network, a bar chart, and faithfulness against budget.

Needs matplotlib and networkx (``pip install "spexlearn[plots]"``). Each function draws
on a given ``ax`` or a new figure and returns the axes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.base import clone

from .interactions import Interactions

__all__ = ["faithfulness_curve", "plot_bar", "plot_faithfulness", "plot_image", "plot_network"]

# Red raises the output, blue lowers it (as in shap), in every picture and the report.
_POSITIVE, _NEGATIVE, _CMAP = "#b2182b", "#2166ac", "RdBu_r"


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
        Where to draw; None: a new figure.

    Returns
    -------
    ax : matplotlib Axes
        One bar per interaction, strongest on top.

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


def plot_image(explainer, value_function, k: int = 5, *, ax=None):
    """The image with each patch shaded by its own effect, and the strongest pairwise
    interactions drawn as lines between patch centres.

    A patch is tinted red where keeping it raises the score and blue where it lowers it
    (its Shapley value, the strongest fully tinted); a line joins the two patches of each
    of the ``k`` strongest pairwise Möbius interactions, red where together they raise
    the score beyond what each does alone, blue where they lower it, its width the
    magnitude.

    Parameters
    ----------
    explainer : fitted SPEXExplainer or ProxySPEXExplainer
    value_function : ImageAblation
        Gives the image and its patches.
    k : int, default=5
    ax : matplotlib Axes or None
        Where to draw; None: a new figure.

    Returns
    -------
    ax : matplotlib Axes
        The image, its patch grid and the interaction lines.

    Examples
    --------
    >>> import numpy as np
    >>> from spexlearn import ProxySPEXExplainer
    >>> from spexlearn.ablation import ImageAblation
    >>> from spexlearn.plot import plot_image
    >>> value = ImageAblation(lambda x: x[:, :4, :4].sum(axis=(1, 2)) * x[:, 4:, 4:].mean(
    ...     axis=(1, 2)), np.ones((8, 8)), grid=(2, 2), baseline=0.0, progress=False)
    >>> explainer = ProxySPEXExplainer(value, budget=16, random_state=0).fit()
    >>> ax = plot_image(explainer, value)
    """
    ax = _axes(ax)
    image = value_function.image
    shown = image if image.ndim == 2 else image[..., :3]
    low, high = float(np.min(shown)), float(np.max(shown))
    # Faded, so that the tints read against any picture.
    ax.imshow((shown - low) / (high - low or 1.0), cmap="gray" if image.ndim == 2 else None,
              interpolation="nearest", alpha=0.5)
    effects = explainer.interactions(index="shapley", order=1)
    values = np.array([effects[(j,)] for j in range(len(value_function.patches))])
    scale = float(np.abs(values).max()) or 1.0
    centres = []
    for j, (rows, cols) in enumerate(value_function.patches):
        colour = _POSITIVE if values[j] >= 0 else _NEGATIVE
        box = _pyplot().Rectangle((cols.start - 0.5, rows.start - 0.5), cols.stop - cols.start,
                                  rows.stop - rows.start, facecolor=colour,
                                  alpha=0.6 * abs(values[j]) / scale, edgecolor="white",
                                  linewidth=0.5)
        ax.add_patch(box)
        centres.append(((cols.start + cols.stop - 1) / 2, (rows.start + rows.stop - 1) / 2))
    pairs = explainer.interactions(index="mobius").top(k, order=2)
    strongest = max((abs(v) for _, v in pairs), default=1.0) or 1.0
    for (a, b), value in pairs:
        (x0, y0), (x1, y1) = centres[a], centres[b]
        ax.plot([x0, x1], [y0, y1], color=_POSITIVE if value >= 0 else _NEGATIVE,
                linewidth=1 + 4 * abs(value) / strongest, solid_capstyle="round")
    ax.set_xticks([])
    ax.set_yticks([])
    linked = f"lines: the {len(pairs)} strongest pairs" if len(pairs) else "no pairs"
    ax.set_title(f"Patches by own effect (red raises, blue lowers); {linked}", fontsize=9)
    return ax


def plot_network(interactions: Interactions, k: int = 20, *, ax=None, seed: int = 0):
    """The strongest interactions as a network of components.

    The components taking part in the ``k`` strongest interactions sit on a ring in
    their order (for a text: its words, clockwise from the top), each named beside its
    node. A node's colour and size give the component's own effect (its first-order
    value; red raises the output, blue lowers it; the colour bar gives the scale). A
    line joins the two members of a pairwise interaction: red where together they raise
    the output beyond what each does alone, blue where they lower it, its width the
    magnitude. A term of order 3 or more is a grey square joined to its members, with its
    value beside it. The strongest values are written on their lines.

    Parameters
    ----------
    interactions : Interactions
    k : int, default=20
        How many of the strongest interactions (of any order) to draw.
    ax : matplotlib Axes or None
        Axes to draw on; None: a new figure, sized to the number of components.
    seed : int, default=0
        Unused: the ring layout is deterministic. Kept so that existing calls work.

    Returns
    -------
    ax : matplotlib Axes
        The components on a ring, linked by their interactions.

    Examples
    --------
    >>> from spexlearn import Interactions
    >>> from spexlearn.plot import plot_network
    >>> result = Interactions([(0,), (1,), (0, 1), (0, 1, 2)], [0.5, 0.2, -1.2, 0.4],
    ...                       component_names=["not", "bad", "film"])
    >>> plot_network(result).get_title()
    'Interaction network (fourier): 3 components, 1 term of order >= 3'
    """
    plt = _pyplot()
    from matplotlib import colors
    from matplotlib.cm import ScalarMappable
    from matplotlib.lines import Line2D

    top = interactions.top(k)
    largest = max([abs(v) for _, v in top] + [0.0])
    top = [(s, float(v)) for s, v in top if abs(v) > 1e-9 * largest]  # no rounding noise
    members = sorted({i for subset, _ in top for i in subset})
    if ax is None:
        side = 6.0 if len(members) <= 12 else 7.5
        _, ax = plt.subplots(figsize=(side + 2.2, side), layout="constrained")
    figure = ax.figure
    own = {i: float(interactions[(i,)]) for i in members}
    own_scale = max([abs(v) for v in own.values()] + [1e-12])
    norm = colors.Normalize(-own_scale, own_scale)
    cmap = plt.get_cmap(_CMAP)
    # The ring: component order clockwise from the top (a text reads around it).
    angles = np.pi / 2 - 2 * np.pi * np.arange(len(members)) / max(len(members), 1)
    if len(members) == 2:
        angles = np.array([np.pi, 0.0])  # side by side, reading from left to right
    ring = np.c_[np.cos(angles), np.sin(angles)] if len(members) > 1 else np.zeros((1, 2))
    where = {i: ring[j] for j, i in enumerate(members)}
    terms = [(s, v) for s, v in top if len(s) >= 2]
    scale = max([abs(v) for _, v in terms] + [1e-12])

    def width(value):
        return 1.0 + 6.0 * abs(value) / scale

    notes = []  # (x, y, value, is a square) of the values to write on the picture
    hyper = [(s, v) for s, v in terms if len(s) >= 3]
    squares = []
    for subset, value in terms:
        color = _POSITIVE if value >= 0 else _NEGATIVE
        if len(subset) == 2:
            (x0, y0), (x1, y1) = where[subset[0]], where[subset[1]]
            ax.plot([x0, x1], [y0, y1], color=color, linewidth=width(value),
                    alpha=0.35 + 0.5 * abs(value) / scale, solid_capstyle="round", zorder=1)
            notes.append(((x0 + x1) / 2, (y0 + y1) / 2, value, False))
            continue
        centre = _free_place(np.mean([where[i] for i in subset], axis=0), squares)
        squares.append(centre)
        for i in subset:
            ax.plot([centre[0], where[i][0]], [centre[1], where[i][1]], color=color,
                    linewidth=max(1.0, width(value) / 2), linestyle=(0, (2, 2)),
                    alpha=0.8, zorder=1)
        ax.scatter([centre[0]], [centre[1]], marker="s", s=55, color="0.35", zorder=3)
        notes.append((centre[0], centre[1], value, True))
    sizes = np.array([150 + 650 * abs(own[i]) / own_scale for i in members])
    xy = np.array([where[i] for i in members]).reshape(-1, 2)
    ax.scatter(xy[:, 0], xy[:, 1], s=sizes, c=[own[i] for i in members], cmap=cmap,
               norm=norm, edgecolors="0.25", linewidths=0.8, zorder=2)
    ax.set_axis_off()
    ax.set_title(f"Interaction network ({interactions.index}): "
                 f"{_count(len(members), 'component')}, "
                 f"{_count(len(hyper), 'term')} of order >= 3")
    if not members:
        ax.text(0.5, 0.5, "no interaction to draw", ha="center", va="center",
                transform=ax.transAxes, color="0.4")
        return ax
    figure.colorbar(ScalarMappable(norm, cmap), ax=ax, shrink=0.55, pad=0.02, aspect=25,
                    label=f"node: own effect ({interactions.index} value alone)")
    handles = [Line2D([], [], color=_POSITIVE if v > 0 else _NEGATIVE, linewidth=width(v),
                      label=f"{v:+.2g}") for v in (scale, scale / 2, -scale / 2, -scale)
               if terms]
    if hyper:
        handles.append(Line2D([], [], color="0.35", marker="s", linestyle=(0, (2, 2)),
                              label="order >= 3"))
    if handles:
        legend = ax.legend(
            handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
            ncol=len(handles), frameon=False, fontsize=8, handlelength=2.5,
            title_fontsize=8, title=f"lines: {interactions.index} values of pairs, red > 0, "
            "blue < 0, width by size; components clockwise from the top, in order")
        legend.get_title().set_color("0.3")
    labels = _ring_labels(ax, interactions, members, xy, sizes)
    _fit_limits(ax, labels, xy, sizes)
    _write_values(ax, notes, scale, labels)
    return ax


def _free_place(centre, taken, gap: float = 0.2):
    """``centre``, or the nearest point around it at least ``gap`` from every point in
    ``taken`` (squares of terms on similar members would otherwise coincide)."""
    turns = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    for radius in (0.0, gap, 2 * gap, 3 * gap):
        for turn in turns[: 1 if radius == 0 else None]:
            point = centre + radius * np.array([np.cos(turn), np.sin(turn)])
            if all(np.hypot(*(point - other)) >= gap for other in taken):
                return point
    return centre


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _renderer(figure):
    figure.draw_without_rendering()  # applies the layout engine, if any
    return figure.canvas.get_renderer()


def _extent(artist, renderer, pad: float = 0.0):
    box = artist.get_window_extent(renderer)
    return box.padded(pad) if pad else box


def _overlapping(boxes) -> bool:
    return any(a.overlaps(b) for j, a in enumerate(boxes) for b in boxes[j + 1:])


def _ring_labels(ax, interactions: Interactions, members, xy, sizes) -> list:
    """Each component's name just outside its node, in a white box; turned along the
    radius where level names would overlap (many components)."""
    texts = []
    for i, (x, y), size in zip(members, xy, sizes):
        gap = np.sqrt(size) / 2 + 3  # the marker's radius in points, and a little air
        direction = np.array([x, y]) if len(members) > 1 else np.array([0.0, 1.0])
        texts.append(ax.annotate(
            _label(interactions, (i,), 18), (x, y), xytext=tuple(gap * direction),
            textcoords="offset points", fontsize=9, zorder=4,
            ha="left" if x > 0.3 else "right" if x < -0.3 else "center",
            va="bottom" if y > 0.3 else "top" if y < -0.3 else "center",
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "0.75",
                  "linewidth": 0.6}))
    renderer = _renderer(ax.figure)
    if _overlapping([_extent(t, renderer) for t in texts]):
        for text, (x, y) in zip(texts, xy):
            angle = np.degrees(np.arctan2(y, x))
            left = x < -1e-9
            text.set_rotation(angle + 180 if left else angle)
            text.set_rotation_mode("anchor")
            text.set_ha("right" if left else "left")
            text.set_va("center")
    return texts


def _fit_limits(ax, texts, xy, sizes, pad: float = 6.0) -> None:
    """Data limits that hold every node and every name, with ``pad`` pixels to spare.

    The names are sized in points, the ring in data units: the limits are found by a few
    rounds of measuring (each round shrinks the remaining error several times)."""
    ax.set_xlim(-1.2, 1.2)
    ax.set_ylim(-1.2, 1.2)
    radii = np.sqrt(sizes)[:, None] / 2 * ax.figure.dpi / 72 + pad  # in pixels
    for _ in range(6):
        renderer = _renderer(ax.figure)
        boxes = [_extent(t, renderer, pad) for t in texts]
        centres = ax.transData.transform(xy)
        corners = np.concatenate([[[b.x0, b.y0] for b in boxes],
                                  [[b.x1, b.y1] for b in boxes],
                                  centres - radii, centres + radii])
        data = ax.transData.inverted().transform(corners)
        low, high = data.min(axis=0), data.max(axis=0)
        ax.set_xlim(low[0], high[0])
        ax.set_ylim(low[1], high[1])


def _write_values(ax, notes, scale: float, taken) -> None:
    """Write the value of every term of order 3 or more beside its square, and of the
    strongest pairs on their lines where the place is free."""
    from matplotlib.transforms import Bbox

    renderer = _renderer(ax.figure)
    boxes = [_extent(t, renderer, 2.0) for t in taken]
    for x, y, _, square in notes:  # the squares themselves
        if square:
            (cx, cy), = ax.transData.transform([(x, y)])
            boxes.append(Bbox([[cx - 6, cy - 6], [cx + 6, cy + 6]]))
    places = {True: [((0, 7), "center", "bottom"), ((0, -7), "center", "top"),
                     ((8, 0), "left", "center"), ((-8, 0), "right", "center")],
              False: [((0, 0), "center", "center")]}
    pairs_written = 0
    for x, y, value, square in sorted(notes, key=lambda note: (not note[3], -abs(note[2]))):
        if not square and (pairs_written >= 6 or abs(value) < 0.3 * scale):
            continue
        for attempt, (offset, ha, va) in enumerate(places[square]):
            text = ax.annotate(f"{value:+.2g}", (x, y), textcoords="offset points",
                               xytext=offset, ha=ha, va=va, fontsize=7.5, zorder=5,
                               color=_POSITIVE if value >= 0 else _NEGATIVE,
                               bbox={"boxstyle": "round,pad=0.1", "facecolor": "white",
                                     "edgecolor": "none", "alpha": 0.8})
            box = _extent(text, renderer, 2.0)
            if not any(box.overlaps(b) for b in boxes):
                break
            if not square or attempt < len(places[square]) - 1:
                text.remove()  # a square's value is written even where nothing is free
                text = None
        if text is None:
            continue
        boxes.append(box)
        pairs_written += not square


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
        Where to draw; None: a new figure.

    Returns
    -------
    ax : matplotlib Axes
        The curves, one line per label.

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
