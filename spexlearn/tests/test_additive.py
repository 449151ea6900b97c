"""The additive rung (Lasso effects, sign-constrained where the function is monotone) and
the link rung (those effects through a fitted quadratic), against ground truth."""

import numpy as np
import pytest

from spexlearn import ProxySPEXExplainer
from spexlearn._additive import MAX_LINK_EFFECTS, AdditiveSearch, fit_additive, fit_link
from spexlearn.masks import draw_paired_masks, draw_uniform_masks, every_mask, pair_groups
from spexlearn.metrics import faithfulness
from spexlearn.spectral import SparseSpectrum


def _groups(X):
    return pair_groups(np.asarray(X))


def test_the_additive_rung_recovers_the_effects_of_an_additive_function():
    rng = np.random.RandomState(0)
    n = 40
    effects = np.where(rng.rand(n) < 0.3, rng.normal(scale=2.0, size=n), 0.0)
    X = draw_uniform_masks(n, 400, rng)
    y = 1.5 + X @ effects
    additive, _ = fit_additive(X, y, _groups(X))
    assert additive.max_order <= 1
    fresh = draw_uniform_masks(n, 500, np.random.RandomState(1))
    assert faithfulness(additive, fresh, 1.5 + fresh @ effects) > 0.999
    # The Fourier coefficient of {i} is -c_i / 2: keeping i adds c_i.
    strongest = int(np.argmax(np.abs(effects)))
    assert additive[(strongest,)] == pytest.approx(-effects[strongest] / 2, rel=0.02)


def _saturating(n, rng, sign=1.0):
    """A monotone function that saturates, as log-probabilities do when heads or sources
    are switched off: every component helps, each one less the more others are kept."""
    weights = rng.gamma(0.5, 1.0, size=n)

    def value(X):
        return sign * -np.exp(-np.asarray(X, float) @ weights / weights.sum() * 4.0)

    return value


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_monotone_function_gets_effects_of_one_sign(sign):
    rng = np.random.RandomState(0)
    value = _saturating(150, rng, sign)
    X = draw_paired_masks(150, 300, rng)
    additive, search = fit_additive(X, value(X), _groups(X))
    assert search.sign == int(sign)
    effects = -2.0 * additive.select(additive.orders == 1).coef
    assert (sign * effects >= 0).all() and len(effects) > 10


def test_effects_of_both_signs_are_left_unconstrained():
    rng = np.random.RandomState(0)
    n = 30
    effects = np.r_[np.full(8, 2.0), np.full(8, -2.0), np.zeros(n - 16)]
    X = draw_uniform_masks(n, 300, rng)
    y = X @ effects + 0.1 * rng.normal(size=300)
    additive, search = fit_additive(X, y, _groups(X))
    assert search.sign == 0
    found = -2.0 * np.array([additive[(i,)] for i in range(16)])
    assert np.allclose(found, effects[:16], atol=0.1)


def test_a_given_search_is_used_as_it_is():
    rng = np.random.RandomState(0)
    X = draw_uniform_masks(20, 200, rng)
    y = X @ rng.normal(size=20)
    chosen, search = fit_additive(X, y, _groups(X))
    again, same = fit_additive(X, y, _groups(X), search)
    assert same is search and again.allclose(chosen)
    # A penalty above every effect's correlation zeroes them all: only the constant.
    flat, _ = fit_additive(X, y, _groups(X), AdditiveSearch(0, 1e6))
    assert len(flat) == 1 and flat.max_order == 0


def test_features_on_any_scale_get_the_same_penalty():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 10))
    y = X[:, 0] + X[:, 1]
    scaled = X * np.r_[1000.0, 1e-3, np.ones(8)]
    a, _ = fit_additive(X, y, np.arange(300))
    b, _ = fit_additive(scaled, y, np.arange(300))
    assert np.allclose(a.evaluate(X[:50]), b.evaluate(scaled[:50]), atol=1e-6)


def test_the_link_of_a_quadratic_in_the_effects_is_exact_over_every_mask():
    n = 10
    rng = np.random.RandomState(0)
    effects = rng.normal(size=n)
    effects[[2, 7]] = 0.0
    X = every_mask(n)
    u = X @ effects
    y = 0.7 - 1.3 * u + 0.4 * u**2
    additive = SparseSpectrum([()] + [(i,) for i in range(n)],
                              np.r_[effects.sum() / 2, -effects / 2], n)
    link = fit_link(additive.prune(), X, y)
    assert link.max_order == 2
    assert np.allclose(link.evaluate(X), y, atol=1e-9)
    assert all(2 not in s and 7 not in s for s in link.subsets)
    # Its pair terms in Möbius form are 2 q c_i c_j.
    assert link.to_mobius()[(0, 1)] == pytest.approx(2 * 0.4 * effects[0] * effects[1])


def test_the_link_is_not_built_where_it_cannot_hold():
    rng = np.random.RandomState(0)
    X = draw_uniform_masks(5, 30, rng)
    one = SparseSpectrum([(), (0,)], [0.0, 1.0], 5)
    assert fit_link(one, X, X[:, 0]) is None  # one effect: nothing to curve
    two = SparseSpectrum([(), (0,), (1,)], [0.0, 1.0, 1.0], 5)
    assert fit_link(two, X * 0.5, X[:, 0]) is None  # not 0/1: x_i^2 != x_i
    n = MAX_LINK_EFFECTS + 1
    wide = SparseSpectrum([(i,) for i in range(n)], np.ones(n), n)
    assert fit_link(wide, draw_uniform_masks(n, 50, rng), np.zeros(50)) is None


def test_complements_share_a_group():
    X = np.array([[0, 1, 1], [1, 0, 0], [1, 1, 0], [0, 0, 1], [1, 1, 1]])
    groups = pair_groups(X)
    assert groups[0] == groups[1] and groups[2] == groups[3]
    assert len(set(groups.tolist())) == 3
    assert (pair_groups(X * 0.5) == np.arange(5)).all()  # not masks: each its own


@pytest.mark.slow
def test_a_saturating_monotone_function_is_fitted_through_the_link():
    # The additive surrogate misses the curvature; the link rung writes it as pairs.
    rng = np.random.RandomState(3)
    n = 60
    value = _saturating(n, rng)
    X = draw_paired_masks(n, 400, rng)
    explainer = ProxySPEXExplainer(random_state=0).fit(X, value(X))
    fresh = draw_uniform_masks(n, 2000, np.random.RandomState(9))
    measured = faithfulness(explainer, fresh, value(fresh))
    assert "link" in explainer.surrogate_weights_
    sparse_only = ProxySPEXExplainer(blend=False, random_state=0).fit(X, value(X))
    assert measured > faithfulness(sparse_only, fresh, value(fresh)) + 0.02
    assert abs(explainer.faithfulness_ - measured) < 0.1
