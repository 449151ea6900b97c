"""Each picture renders to a non-empty PNG and carries the components' names."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
pytest.importorskip("networkx")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from spexlearn import Interactions, ProxySPEXExplainer  # noqa: E402
from spexlearn.datasets import make_sparse_function  # noqa: E402
from spexlearn.plot import faithfulness_curve, plot_faithfulness  # noqa: E402

NAMES = ["the", "film", "was", "not", "bad", "wonderful"]


@pytest.fixture
def interactions():
    return Interactions(
        [(), (3,), (4,), (5,), (3, 4), (1, 5), (0, 1, 2)],
        [0.3, 0.4, -1.0, 1.5, 2.0, -0.2, 0.1],
        component_names=NAMES, index="mobius",
    )


def _saved(ax, path):
    ax.figure.savefig(path, dpi=60)
    plt.close(ax.figure)
    image = plt.imread(path)
    assert path.stat().st_size > 2000
    # Something other than the white background was drawn.
    assert (image[..., :3] < 0.9).mean() > 0.005
    return image


def test_bar_chart_is_labelled_strongest_on_top(interactions, tmp_path):
    ax = interactions.plot(kind="bar", k=4)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-1] == "not × bad" and labels[-2] == "wonderful" and len(labels) == 4
    assert ax.get_xlabel() == "mobius value"
    widths = [patch.get_width() for patch in ax.patches]
    assert widths[-1] == pytest.approx(2.0) and widths[0] == pytest.approx(0.4)
    _saved(ax, tmp_path / "bar.png")


def test_network_draws_members_pairs_and_hyperedges(interactions, tmp_path):
    ax = interactions.plot(kind="network", k=6)
    texts = {t.get_text() for t in ax.texts}
    assert {"not", "bad", "wonderful", "film", "the", "was"} <= texts
    assert "+0.1" in texts  # the order-3 term's value beside its square
    assert "1 term of order >= 3" in ax.get_title()
    _saved(ax, tmp_path / "network.png")


WORDS = ["Not", "bad", "at", "all", ":", "the", "jokes", "land", ",", "although",
         "expected", "I"]


def _names_and_nodes(ax):
    """The components' names, their white boxes as drawn (turned with the text, in
    pixels), and the nodes' centres (pixels)."""
    ax.figure.draw_without_rendering()
    names = [t for t in ax.texts if t.get_fontsize() == 9]
    boxes = [t.get_bbox_patch().get_transform().transform_path(t.get_bbox_patch().get_path())
             for t in names]
    nodes = max(ax.collections, key=lambda c: len(c.get_offsets()))
    return names, boxes, ax.transData.transform(nodes.get_offsets())


@pytest.mark.parametrize("n, long_names", [(12, False), (30, True)])
def test_network_names_fit_do_not_overlap_and_fill_the_picture(n, long_names, tmp_path):
    f, _ = make_sparse_function(n, n_terms=2 * n, max_order=3, random_state=0)
    f.component_names = ([f"sentence {i}: a long one" for i in range(n)] if long_names
                         else WORDS)
    explainer = ProxySPEXExplainer(f, budget=40 * n, max_order=3, random_state=0).fit()
    ax = explainer.interactions(index="mobius").plot(kind="network", k=3 * n)
    names, boxes, centres = _names_and_nodes(ax)
    assert len(names) == len(centres) >= n - 2
    assert any(t.get_rotation() != 0 for t in names) == long_names  # turned where crowded
    figure = ax.figure.bbox
    for text, box in zip(names, boxes):  # inside the picture, not cut off
        (x0, y0), (x1, y1) = box.vertices.min(axis=0), box.vertices.max(axis=0)
        assert figure.x0 <= x0 and x1 <= figure.x1, text.get_text()
        assert figure.y0 <= y0 and y1 <= figure.y1, text.get_text()
    for j, box in enumerate(boxes):  # no name on another name, or on another node
        assert not any(box.intersects_path(other, filled=True) for other in boxes[j + 1:]), \
            names[j].get_text()
        others = np.delete(centres, j, axis=0)
        assert not box.contains_points(others).any(), names[j].get_text()
    # The ring and its names fill the axes: no large empty areas.
    area = ax.get_window_extent()
    spread = np.ptp(centres, axis=0) / [area.width, area.height]
    ink = np.concatenate([box.vertices for box in boxes])
    filled = np.ptp(ink, axis=0) / [area.width, area.height]
    assert (spread > 0.5).all() and (filled > 0.9).all(), (spread, filled)
    # A legend for the lines and a colour bar for the nodes.
    assert "red > 0, blue < 0" in ax.get_legend().get_title().get_text()
    assert any("own effect" in other.get_ylabel() for other in ax.figure.axes)
    _saved(ax, tmp_path / "network.png")


def test_network_of_nothing_says_so():
    ax = Interactions([()], [0.5], component_names=["alone"]).plot(kind="network")
    assert "no interaction to draw" in {t.get_text() for t in ax.texts}
    assert "0 components, 0 terms" in ax.get_title()
    plt.close(ax.figure)


def test_faithfulness_curve_rises_with_budget(tmp_path):
    f, _ = make_sparse_function(16, n_terms=12, max_order=2, random_state=1)
    rng = np.random.default_rng(0)
    X, X_test = rng.integers(0, 2, (600, 16)), rng.integers(0, 2, (300, 16))
    curve = faithfulness_curve(ProxySPEXExplainer(max_order=2, random_state=0),
                               X, f(X), X_test, f(X_test), [40, 150, 600])
    assert curve["budgets"] == [40, 150, 600]
    assert curve["r2"][-1] > 0.99 and curve["r2"][-1] >= curve["r2"][0]
    ax = plot_faithfulness({"ProxySPEX": curve})
    assert ax.get_ylabel().startswith("faithfulness") and ax.get_legend() is not None
    _saved(ax, tmp_path / "curve.png")
    with pytest.raises(ValueError, match="budgets must lie"):
        faithfulness_curve(ProxySPEXExplainer(), X, f(X), X_test, f(X_test), [10_000])


def test_unknown_kind(interactions):
    with pytest.raises(ValueError, match="kind='pie' is unknown"):
        interactions.plot(kind="pie")
