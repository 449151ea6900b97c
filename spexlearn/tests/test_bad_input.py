"""Every refused input gets an error that names the problem and the fix."""

import numpy as np
import pytest

from spexlearn import ProxySPEXExplainer, SPEXExplainer
from spexlearn.datasets import make_sparse_function


@pytest.fixture
def f():
    return make_sparse_function(6, 5, 2, random_state=0)[0]


def test_masks_not_binary_with_value_function(f):
    masks = np.full((4, 6), 0.5)
    with pytest.raises(ValueError, match=r"0 \(ablated\) or 1 \(kept\).*row 0, column 0"):
        ProxySPEXExplainer(f).fit(masks)


def test_wrong_number_of_components(f):
    with pytest.raises(ValueError, match="6 components"):
        ProxySPEXExplainer(f).fit(np.ones((4, 5)))
    est = ProxySPEXExplainer(f, budget=40, random_state=0).fit()
    with pytest.raises(ValueError, match="6 features"):
        est.predict(np.ones((3, 7)))


def test_components_disagree_with_masks():
    with pytest.raises(ValueError, match="one mask column per component"):
        ProxySPEXExplainer(components=["a", "b", "c"]).fit(np.eye(4), np.arange(4.0))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_value_function_returns_nan_or_inf(bad):
    def vf(masks):
        values = masks.sum(axis=1).astype(float)
        values[[2, 5]] = bad
        return values

    with pytest.raises(ValueError, match=r"NaN or inf for 2 of 40 masks \(rows \[2, 5\]\)"):
        ProxySPEXExplainer(vf, components=8, budget=40).fit()


@pytest.mark.parametrize(
    "output", [lambda m: np.ones((len(m), 2)), lambda m: np.ones(len(m) - 1), lambda m: 3.0]
)
def test_value_function_wrong_shape(output):
    with pytest.raises(ValueError, match="one float per mask"):
        ProxySPEXExplainer(output, components=8, budget=40).fit()


def test_value_function_returns_non_numbers():
    with pytest.raises(TypeError, match="must return numbers"):
        ProxySPEXExplainer(lambda m: ["a"] * len(m), components=8, budget=40).fit()


def test_budget_below_n_plus_one(f):
    with pytest.raises(ValueError, match=r"budget=5 is too small.*n \+ 1 = 7"):
        ProxySPEXExplainer(f, budget=5).fit()


def test_fewer_queries_than_components_warn_and_stay_conservative():
    # 270 attention heads at 250 queries: no refusal, but a warning, and a fit that keeps
    # only what predicts unseen masks (here the few strong components, or the constant).
    from spexlearn.datasets import make_sparse_function

    f60, truth = make_sparse_function(60, n_terms=5, max_order=1, random_state=0)
    with pytest.warns(UserWarning, match=r"budget=40 is below n \+ 1 = 61") as caught:
        explainer = ProxySPEXExplainer(f60, budget=40, random_state=0).fit()
    assert sum("below n + 1" in str(w.message) for w in caught) == 1
    X = np.random.RandomState(1).randint(0, 2, size=(500, 60))
    measured = explainer.score(X, truth.evaluate(X))
    assert measured > -0.05
    # The Lasso of the additive rung finds 5 effects among 60 from 40 queries (R² 0.99998
    # measured); the estimate from the queries alone may lag, never run ahead.
    assert explainer.faithfulness_ < measured + 0.05
    with pytest.raises(ValueError, match=r"budget=19 is too small.*at least 20"):
        ProxySPEXExplainer(f60, budget=19).fit()


def test_budget_above_all_masks(f):
    with pytest.raises(ValueError, match="exceeds the 64 distinct masks"):
        ProxySPEXExplainer(f, budget=65).fit()


def test_single_component():
    with pytest.raises(ValueError, match="at least 2"):
        ProxySPEXExplainer(lambda m: m[:, 0] * 1.0, components=1, budget=2).fit()


def test_constant_function():
    with pytest.raises(ValueError, match=r"same value .* nothing to explain"):
        ProxySPEXExplainer(lambda m: np.full(len(m), 2.5), components=5, budget=20).fit()


def test_no_value_function_and_no_values():
    with pytest.raises(ValueError, match="no value_function to query"):
        ProxySPEXExplainer(components=5).fit()
    with pytest.raises(ValueError, match="number of components is unknown"):
        ProxySPEXExplainer(lambda m: m.sum(1)).fit()


def test_value_function_not_callable():
    with pytest.raises(TypeError, match=r"value_function.* must be a callable or None"):
        ProxySPEXExplainer("model.bin", components=4, budget=10).fit()


def test_components_as_a_single_string():
    with pytest.raises(TypeError, match="not a single string"):
        ProxySPEXExplainer(lambda m: m.sum(1), components="a b c", budget=10).fit()


P, S = ProxySPEXExplainer, SPEXExplainer


@pytest.mark.parametrize(
    "kind, params, match",
    [
        (P, {"index": "shap"}, "'index' parameter of ProxySPEXExplainer must be a str among"),
        (P, {"index": "SII"}, "'index' parameter .* Got 'SII'"),
        (P, {"max_order": 0}, "'max_order' parameter .* must be an int in the range"),
        (P, {"n_terms": 0}, "'n_terms' parameter .* must be a str among {'auto'} or an int"),
        (P, {"budget": 20.5}, "'budget' parameter .* must be an int"),
        # A set's order varies between processes.
        (P, {"sampling": "bogus"}, "'sampling' parameter .* among {'(paired|uniform)', '"),
        (P, {"blend": "yes please"}, "'blend' parameter .* must be an instance of 'bool'"),
        (P, {"screen_residuals": None}, "'screen_residuals' parameter .* 'bool'"),
        (P, {"proxy": "lightgbm"}, "'proxy' parameter .* implementing 'fit' and 'predict'"),
        (P, {"n_threads": 0}, "'n_threads' parameter .* int in the range"),
        (S, {"decoder": "fuzzy"}, "'decoder' parameter of SPEXExplainer must be a str among"),
        (S, {"n_groups": 0}, "'n_groups' parameter .* int in the range"),
        (S, {"budget": "many"}, "'budget' parameter .* int .* or a str among {'auto'}"),
        (S, {"budget": None}, r"budget=None\) is now spelled budget='auto'"),
    ],
)
def test_invalid_parameters_are_refused_on_every_path(f, kind, params, match):
    # Queried, and given values: the same declarative check on both paths.
    with pytest.raises(ValueError, match=match):
        kind(f, **params).fit()
    masks = np.random.RandomState(0).randint(0, 2, (50, f.n_components))
    with pytest.raises(ValueError, match=match):
        kind(**params).fit(masks, f(masks))


@pytest.mark.parametrize("kind", [P, S])
def test_renamed_spellings_are_refused_with_the_new_name(f, kind):
    with pytest.raises(TypeError, match=r"n_jobs=\.\.\.\) is now spelled n_threads=\.\.\.: "
                       r"pass n_threads=2 instead \(in scikit-learn n_jobs counts"):
        kind(f, n_jobs=2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_thread'"):
        kind(f, n_thread=2)
    # Unknown keywords are not parameters: clone and get_params see the same set as before.
    assert "n_jobs" not in kind().get_params() and "n_threads" in kind().get_params()
    explainer = kind(f, budget=64, random_state=0).fit()  # every mask: an exact fit
    assert explainer.residual_std_ == pytest.approx(0, abs=1e-9)
    with pytest.raises(AttributeError, match="noise_std_ is now residual_std_"):
        explainer.noise_std_  # noqa: B018 (the access is what is tested)


def test_interactions_take_the_constructors_index_names(f):
    explainer = ProxySPEXExplainer(f, budget=60, random_state=0).fit()
    with pytest.raises(ValueError, match=r"index='SII' is unknown.*lower case"):
        explainer.interactions(index="SII")
    assert explainer.interactions(index="sii").index == "sii"
    with pytest.raises(ValueError, match="order must be an integer >= 1"):
        explainer.interactions(index="sii", order=0)


def test_linear_proxy_basis_too_large():
    from sklearn.linear_model import Ridge

    f, _ = make_sparse_function(100, 5, 2, random_state=0)
    with pytest.raises(ValueError, match=r"max_order=3 .* use max_order=2"):
        ProxySPEXExplainer(f, proxy=Ridge(), budget=200, max_order=3).fit()


def test_y_without_x():
    with pytest.raises(ValueError, match="no masks X"):
        ProxySPEXExplainer().fit(None, np.ones(3))


@pytest.mark.parametrize("explainer", [
    lambda f: SPEXExplainer(f, budget=40_000, max_order=5, random_state=0),
    lambda f: ProxySPEXExplainer(f, budget=20_000, random_state=0),
])
def test_a_fit_that_would_not_fit_in_memory_is_refused_before_any_query(explainer,
                                                                        monkeypatch):
    import spexlearn._base as base

    f, _ = make_sparse_function(1000, n_terms=5, max_order=2, random_state=0)
    monkeypatch.setattr(base, "_available_memory", lambda: 50 * 2**20)
    with pytest.raises(MemoryError, match=r"needs about .* [MG]iB \(\d+ masks x 1000 "
                       r"components\) but only 50\.0 MiB .* try budget=\d+") as refused:
        explainer(f).fit()
    assert f.n_calls == 0
    suggested = int(str(refused.value).split("budget=")[1].split()[0])
    smaller = explainer(f).set_params(budget=suggested)
    assert smaller._bytes_needed(1000, suggested) <= 0.8 * 50 * 2**20


def test_models_load_without_remote_code(tmp_path, monkeypatch):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("torch")
    from spexlearn.lm import load_lm

    calls = []

    class Stop(Exception):
        pass

    def record(*args, **kwargs):
        calls.append(kwargs)
        raise Stop

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", record)
    with pytest.raises(Stop):
        load_lm(tmp_path)
    assert calls and not calls[0].get("trust_remote_code", False)
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        load_lm(tmp_path / "missing")


@pytest.mark.parametrize("draw", ["draw_uniform_masks", "draw_paired_masks"])
def test_a_budget_near_every_mask_above_twenty_components_is_drawn_at_once(draw):
    # Rejection sampling would collect the last few of 2^21 masks for hours.
    from spexlearn import masks as module

    masks = getattr(module, draw)(21, 2**21 - 2, np.random.RandomState(0))
    assert masks.shape == (2**21 - 2, 21)
    assert len(np.unique(module.row_keys(masks))) == 2**21 - 2
    assert masks[0].all() and not masks[1].any()


def test_masks_in_fortran_order_or_a_dataframe_fit_like_c_ordered_ones():
    import pandas as pd

    from spexlearn.masks import row_keys

    # Above 8 components a packed row takes two bytes: the layout matters.
    f = make_sparse_function(20, 5, 2, random_state=0)[0]
    masks = np.random.RandomState(0).randint(0, 2, (40, f.n_components)).astype(np.uint8)
    np.testing.assert_array_equal(row_keys(np.asfortranarray(masks)), row_keys(masks))
    expected = ProxySPEXExplainer(f, budget=40, random_state=0).fit(masks).predict(masks)
    for given in (np.asfortranarray(masks), pd.DataFrame(masks)):
        for explainer in (ProxySPEXExplainer(f, budget=40, random_state=0),
                          ProxySPEXExplainer(random_state=0)):
            values = None if explainer.value_function else f(masks)
            fitted = explainer.fit(given, values)
            np.testing.assert_allclose(fitted.predict(masks), expected, atol=1e-9)


@pytest.mark.parametrize("kind", [ProxySPEXExplainer, SPEXExplainer])
@pytest.mark.parametrize("unit", [1e160, 1e-160])
def test_values_of_any_magnitude_fit_as_in_plain_units(kind, unit):
    # Squared errors of values near 1e155 overflowed to inf (an IndexError in the refit).
    f, _ = make_sparse_function(10, 8, 2, random_state=0)
    masks = np.random.RandomState(0).randint(0, 2, (600, 10))
    plain = kind(random_state=0).fit(masks, f(masks))
    scaled = kind(random_state=0).fit(masks, unit * f(masks))
    np.testing.assert_allclose(scaled.predict(masks), unit * plain.predict(masks),
                               rtol=1e-9, atol=1e-9 * unit)
    assert scaled.faithfulness_ == pytest.approx(plain.faithfulness_, abs=1e-9)
