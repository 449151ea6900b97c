"""Property-based tests: random spectra, masks, names and index/order combinations thrown at
the public API, checking invariants that must hold for every input."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spexlearn import Interactions, SparseSpectrum, SPEXExplainer
from spexlearn.masks import every_mask
from spexlearn.spectral import INDICES, interaction_values

# Bounded and derandomized: CI explores the same examples on every run.
SETTINGS = settings(max_examples=80, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def spectra(draw, max_n: int = 8, max_terms: int = 12):
    n = draw(st.integers(1, max_n))
    subsets = draw(st.lists(st.frozensets(st.integers(0, n - 1), max_size=min(n, 5)),
                            max_size=max_terms, unique=True))
    coefs = draw(st.lists(st.floats(-10, 10, allow_nan=False, width=32),
                          min_size=len(subsets), max_size=len(subsets)))
    kind = draw(st.sampled_from(["fourier", "mobius"]))
    return SparseSpectrum([sorted(s) for s in subsets], coefs, n, kind=kind)


def _by_definition(spectrum: SparseSpectrum, masks: np.ndarray) -> np.ndarray:
    """The sum of the terms, written out: (-1)^|S ∩ kept| or prod_{i in S} x_i."""
    out = np.zeros(len(masks))
    for subset, coef in spectrum:
        kept = masks[:, list(subset)]
        if spectrum.kind == "fourier":
            out += coef * (-1.0) ** kept.sum(axis=1)
        else:
            out += coef * kept.all(axis=1)
    return out


@SETTINGS
@given(spectra())
def test_evaluate_is_the_sum_of_the_terms(spectrum):
    masks = every_mask(spectrum.n_components)
    np.testing.assert_allclose(spectrum.evaluate(masks), _by_definition(spectrum, masks),
                               atol=1e-9 * (1 + np.abs(spectrum.coef).sum()))


@SETTINGS
@given(spectra())
def test_fourier_mobius_round_trip(spectrum):
    other = spectrum.to_mobius() if spectrum.kind == "fourier" else spectrum.to_fourier()
    back = other.to_fourier() if spectrum.kind == "fourier" else other.to_mobius()
    scale = 1 + np.abs(spectrum.coef).sum()
    assert back.prune(1e-9 * scale).allclose(spectrum.prune(1e-9 * scale), atol=1e-9 * scale)
    masks = every_mask(spectrum.n_components)
    np.testing.assert_allclose(other.evaluate(masks), spectrum.evaluate(masks),
                               atol=1e-9 * scale)


@SETTINGS
@given(spectra(), st.sampled_from(["shapley", "stii", "fsii"]), st.integers(1, 4))
def test_efficiency_values_sum_to_the_full_input_value(spectrum, index, order):
    order = min(order, spectrum.n_components)
    if index == "shapley":
        order = None
    _, values = interaction_values(spectrum, index, order)
    full = spectrum.evaluate(np.ones((1, spectrum.n_components)))[0]
    assert values.sum() == pytest.approx(full, abs=1e-8 * (1 + np.abs(spectrum.coef).sum()))


@SETTINGS
@given(spectra(), st.sampled_from(INDICES), st.integers(1, 5))
def test_every_index_and_order_gives_subsets_within_the_order(spectrum, index, order):
    order = min(order, spectrum.n_components)
    members, values = interaction_values(spectrum, index, order)
    assert len(members) == len(values) and np.isfinite(values).all()
    if index in {"shapley", "banzhaf"}:
        assert ((members >= 0).sum(axis=1) <= 1).all()
    else:
        assert ((members >= 0).sum(axis=1) <= order).all()


names = st.lists(st.sampled_from(["", "word", "word", "naïve", "日本", "a b", "#2", "\n"]),
                 min_size=1, max_size=6)


@SETTINGS
@given(names, st.data())
def test_interactions_with_any_names_round_trip_through_json(component_names, data):
    n = len(component_names)
    subsets = data.draw(st.lists(st.frozensets(st.integers(0, n - 1), max_size=n),
                                 max_size=8, unique=True))
    values = data.draw(st.lists(st.floats(-5, 5, allow_nan=False), min_size=len(subsets),
                                max_size=len(subsets)))
    result = Interactions([sorted(s) for s in subsets], values,
                          component_names=component_names, index="mobius")
    again = Interactions.from_json(result.to_json())
    assert again == result
    top = result.top(3)
    magnitudes = np.abs(top.values)
    assert (np.diff(magnitudes) <= 1e-12).all() and len(top) <= 3
    assert all(len(s) > 0 for s in top.subsets)


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(spectra(max_n=7, max_terms=10))
def test_spex_on_every_mask_recovers_any_spectrum_exactly(spectrum):
    fourier = spectrum.to_fourier() if spectrum.kind == "mobius" else spectrum
    n = fourier.n_components
    masks = every_mask(n)
    values = fourier.evaluate(masks)
    if np.ptp(values) < 1e-9:
        return  # a constant function has nothing to explain (refused by design)
    explainer = SPEXExplainer(components=n, max_order=n).fit(masks, values)
    assert explainer.fit_mode_ == "exhaustive"
    np.testing.assert_allclose(explainer.predict(masks), values,
                               atol=1e-8 * (1 + np.abs(values).max()))
