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
