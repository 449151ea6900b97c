import json

import numpy as np
import pytest

from spexlearn import Interactions


@pytest.fixture
def inter():
    return Interactions(
        [(), (0,), (1,), (0, 1), (1, 2, 3)],
        [0.25, 2.0, -3.0, 0.5, 1.5],
        component_names=["not", "bad", "at", "all"],
        index="mobius",
        order=3,
    )


def test_getitem_by_indices_names_and_order_insensitive(inter):
    assert inter[0] == 2.0
    assert inter["bad"] == -3.0
    assert inter[1, 0] == inter["not", "bad"] == 0.5
    assert inter["all", "at", "bad"] == 1.5
    assert inter[()] == inter.baseline == 0.25
    assert inter[2, 3] == 0.0  # a valid subset without a term


@pytest.mark.parametrize("key", [7, "good", ("not", "not"), 1.5])
def test_getitem_rejects_unknown_components(inter, key):
    with pytest.raises(KeyError):
        inter[key]


def test_duplicate_names_lookup_needs_indices():
    inter = Interactions([(0,), (1,)], [1.0, 2.0], component_names=["the", "the"])
    with pytest.raises(KeyError, match="indices"):
        inter["the"]
    assert inter[1] == 2.0


def test_top_sorts_by_magnitude_and_filters_order(inter):
    top = inter.top(3)
    assert top.subsets == [(1,), (0,), (1, 2, 3)]
    assert inter.top(10, order=2).subsets == [(0, 1)]
    assert inter.top(1, order=0).subsets == [()]
    assert len(inter.top(0)) == 0


def test_json_round_trip_is_lossless(inter, tmp_path):
    tricky = Interactions(
        [(0,), (0, 1)], [0.1 + 0.2, -1e-300], component_names=["é ünï", ""], index="fsii", order=2
    )
    for obj in (inter, tricky):
        back = Interactions.from_json(obj.to_json())
        assert back == obj
        assert back.values.tolist() == obj.values.tolist()
        path = tmp_path / "inter.json"
        obj.to_json(path)
        assert Interactions.from_json(path) == obj
    assert json.loads(inter.to_json())["component_names"][0] == "not"


def test_to_frame_has_names_and_orders(inter):
    pd = pytest.importorskip("pandas")
    frame = inter.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["subset", "components", "order", "value"]
    assert frame.loc[3, "components"] == ("not", "bad")
    assert frame["order"].tolist() == [0, 1, 1, 2, 3]


def test_repr_reads_like_a_table(inter):
    text = repr(inter)
    assert text.splitlines()[0].startswith("Interactions(index='mobius'")
    assert "bad, at, all" in text and "(baseline)" in text
    assert "+2.000000" in text


@pytest.mark.parametrize(
    "subsets, values, match",
    [([(0,), (0,)], [1.0, 2.0], "twice"), ([(5,)], [1.0], "outside"), ([(0,)], [1, 2], "values")],
)
def test_invalid_construction(subsets, values, match):
    with pytest.raises(ValueError, match=match):
        Interactions(subsets, values, component_names=["a", "b"])


def test_values_are_float_array(inter):
    assert inter.values.dtype == np.float64
    assert dict(inter)[(0, 1)] == 0.5


def test_from_json_refuses_nan_values_and_unknown_indices():
    good = Interactions([(0,), (1,)], [1.0, 2.0], component_names=["a", "b"], index="sii",
                        order=2)
    data = good.to_dict()
    # NaN is not JSON, but Python's json reads it: it must not pass silently.
    nan_text = good.to_json().replace("2.0]", "NaN]")
    with pytest.raises(ValueError, match=r"1 values are NaN or infinite .*subset \(1,\)"):
        Interactions.from_json(nan_text)
    with pytest.raises(ValueError, match="index='shapiq' is unknown"):
        Interactions.from_dict({**data, "index": "shapiq"})
    with pytest.raises(ValueError, match="order must be None or an integer >= 1"):
        Interactions.from_dict({**data, "order": 0})
    assert Interactions.from_dict(data) == good


def test_first_order_indices_are_labelled_order_one():
    from spexlearn import ProxySPEXExplainer
    from spexlearn.datasets import make_sparse_function

    f, _ = make_sparse_function(6, 5, 2, random_state=0)
    explainer = ProxySPEXExplainer(f, budget=64, random_state=0).fit()
    for index in ("shapley", "banzhaf"):
        values = explainer.interactions(index, order=3)
        assert values.order == 1 and values.orders.max() <= 1
    assert explainer.interactions("sii", order=3).order == 3


# ----------------------------------------------------------------- shapiq
SHAPIQ_INDICES = ["shapley", "banzhaf", "sii", "bii", "stii", "fsii", "fbii", "ksii", "mobius"]


@pytest.fixture(scope="module")
def small_explainer():
    from spexlearn import ProxySPEXExplainer
    from spexlearn.datasets import make_sparse_function

    f, _ = make_sparse_function(6, n_terms=8, max_order=3, random_state=0)
    return ProxySPEXExplainer(f, budget=64, random_state=0).fit()


@pytest.mark.parametrize("index", SHAPIQ_INDICES)
def test_to_shapiq_and_back_is_the_same_result(small_explainer, index):
    pytest.importorskip("shapiq")
    ours = small_explainer.interactions(index=index, order=2)
    theirs = ours.to_shapiq()
    assert theirs.n_players == 6 and theirs.baseline_value == pytest.approx(ours.baseline)
    back = Interactions.from_shapiq(theirs, component_names=ours.component_names)
    assert back.index == ours.index and back.subsets == ours.subsets
    np.testing.assert_array_equal(back.values, ours.values)


def test_our_values_equal_shapiqs_exact_computer_read_back():
    shapiq = pytest.importorskip("shapiq")
    from spexlearn import ProxySPEXExplainer
    from spexlearn.datasets import make_sparse_function

    f, truth = make_sparse_function(6, n_terms=8, max_order=3, random_state=1)
    explainer = ProxySPEXExplainer(f, budget=64, random_state=0).fit()  # every mask: exact

    def game(coalitions):
        return truth.evaluate(np.asarray(coalitions, dtype=np.uint8))

    exact = shapiq.ExactComputer(n_players=6, game=game)("k-SII", order=2)
    read = Interactions.from_shapiq(exact)
    ours = explainer.interactions(index="ksii", order=2)
    for subset, value in read:
        assert ours[subset] == pytest.approx(value, abs=1e-8)


def test_shapiqs_plots_render_our_results(small_explainer):
    pytest.importorskip("shapiq")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shapley = small_explainer.interactions(index="shapley").to_shapiq()
    names = np.array(small_explainer.component_names_)
    # One figure at a time: shapiq draws on pyplot's current figure.
    assert shapley.plot_force(feature_names=names, show=False) is not None
    plt.close("all")
    assert shapley.plot_waterfall(feature_names=names, show=False) is not None
    plt.close("all")
    pairs = small_explainer.interactions(index="ksii", order=2).to_shapiq()
    assert pairs.plot_upset(show=False) is not None
    plt.close("all")
    assert pairs.plot_si_graph(show=False) is not None
    plt.close("all")


def test_shapiq_conversion_refuses_what_has_no_counterpart(small_explainer):
    with pytest.raises(ValueError, match="index='mobius'"):
        small_explainer.interactions(index="fourier").to_shapiq()
    shapiq = pytest.importorskip("shapiq")
    chii = shapiq.InteractionValues(np.zeros(1), index="CHII", max_order=2, n_players=2,
                                    min_order=2, interaction_lookup={(0, 1): 0})
    with pytest.raises(ValueError, match="no counterpart"):
        Interactions.from_shapiq(chii)
    with pytest.raises(ValueError, match="one name per player"):
        Interactions.from_shapiq(small_explainer.interactions(index="shapley").to_shapiq(),
                                 component_names=["a"])


def test_a_shapiq_game_is_a_value_function_with_its_players():
    shapiq = pytest.importorskip("shapiq")
    from spexlearn import ProxySPEXExplainer

    class Game(shapiq.Game):
        def __init__(self):
            super().__init__(n_players=8, normalize=False,
                             player_names=[f"p{i}" for i in range(8)])

        def value_function(self, coalitions):
            c = np.asarray(coalitions, dtype=float)
            return 2.0 * c[:, 0] * c[:, 1] + c[:, 2] - c[:, 3] * c[:, 4] * c[:, 5]

    explainer = ProxySPEXExplainer(Game(), budget=256, index="mobius", random_state=0).fit()
    assert explainer.component_names_ == [f"p{i}" for i in range(8)]
    found = {s: v for s, v in explainer.interactions_.top(10) if abs(v) > 1e-9}
    assert found == pytest.approx({(0, 1): 2.0, (2,): 1.0, (3, 4, 5): -1.0})
