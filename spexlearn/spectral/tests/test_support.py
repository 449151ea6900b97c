"""Choosing, refitting and growing a support (spexlearn/spectral/_support.py) against
ground truth: a function with a known sparse spectrum, queried on every one of its 2^n masks
(where least squares recovers every coefficient exactly) or on random ones."""

import numpy as np
import pytest

from spexlearn.masks import draw_uniform_masks
from spexlearn.spectral import SparseSpectrum, _support
from spexlearn.spectral._support import grow_support, keep_best_prefix, max_terms, refit

N = 8
TRUTH = SparseSpectrum.from_terms({
    (): 0.5, (0,): 1.0, (1, 2): -0.8, (3, 4, 5): 0.6, (0, 6): 0.4,
    (3, 4, 5, 7): -0.5,  # extends (3, 4, 5)
}, N)
EXACT = 1e-9


@pytest.fixture
def cube(every_value):
    """Every mask of N components, and the true values."""
    return every_value(TRUTH)


def _nonzero(spectrum: SparseSpectrum) -> SparseSpectrum:
    return spectrum.prune(EXACT)


# -------------------------------------------------------------------- refit
def test_refit_recovers_every_coefficient_from_any_start(cube):
    X, y = cube
    start = TRUTH.with_coef(np.random.RandomState(0).normal(size=len(TRUTH)))
    fitted = refit(start, X, y)
    assert fitted.subsets == TRUTH.subsets
    assert fitted.allclose(TRUTH, atol=EXACT)


def test_refit_always_fits_an_intercept_and_gives_absent_terms_nothing(cube):
    X, y = cube
    terms = SparseSpectrum.from_terms({(0,): 0.0, (1, 2): 0.0, (5, 7): 0.0}, N)
    fitted = refit(terms, X, y)
    assert set(fitted.subsets) == {(), (0,), (1, 2), (5, 7)}
    # On the whole cube the basis is orthogonal: each term gets exactly its coefficient,
    # whatever else the support lacks, and a term the truth lacks gets zero.
    for subset in fitted.subsets:
        assert fitted[subset] == pytest.approx(TRUTH[subset], abs=EXACT)
    # A stale empty-set coefficient in the terms is replaced, not added to.
    stale = refit(terms.add(SparseSpectrum([()], [100.0], N)), X, y)
    assert stale.allclose(fitted, atol=EXACT)


def test_refit_on_random_masks_is_exact_when_the_support_is(cube):
    X = draw_uniform_masks(N, 60, np.random.RandomState(1))
    fitted = refit(TRUTH.with_coef(np.zeros(len(TRUTH))), X, TRUTH.evaluate(X))
    assert fitted.allclose(TRUTH, atol=EXACT)
    design = np.hstack([np.ones((len(X), 1)), TRUTH.select(TRUTH.orders > 0).basis(X)])
    given = refit(TRUTH, X, TRUTH.evaluate(X), design=design)
    assert given.allclose(fitted, atol=EXACT)


def test_max_terms_keeps_every_refit_overdetermined():
    assert [max_terms(np.zeros((m, 3))) for m in (0, 1, 2, 3, 7, 100)] == [1, 1, 1, 1, 3, 50]


# --------------------------------------------------------------- the prefix
def _candidates(noise: dict) -> SparseSpectrum:
    """The true terms ranked by their size, then weaker wrong ones (coefficient = score)."""
    return SparseSpectrum.from_terms({**{s: c for s, c in TRUTH if s}, **noise}, N)


def test_the_best_prefix_holds_the_true_terms_and_nothing_else(cube):
    X, y = cube
    candidates = _candidates({(2,): 0.05, (1, 6): -0.04, (0, 2, 4): 0.03})
    kept = keep_best_prefix(candidates, X, y, np.random.RandomState(0), "auto")
    assert _nonzero(kept).allclose(TRUTH, atol=EXACT)
    np.testing.assert_allclose(kept.evaluate(X), y, atol=EXACT)
    # The prefix ends where the true terms do: no noise term was needed.
    assert not {(2,), (1, 6), (0, 2, 4)} & set(kept.subsets)


def test_a_given_number_of_terms_keeps_the_strongest_candidates(cube):
    X, y = cube
    kept = keep_best_prefix(_candidates({}), X, y, np.random.RandomState(0), 2)
    assert set(kept.subsets) == {(), (0,), (1, 2)}  # |1.0| and |-0.8|, then the intercept
    for subset in kept.subsets:
        assert kept[subset] == pytest.approx(TRUTH[subset], abs=EXACT)
    assert len(keep_best_prefix(_candidates({}), X, y, None, 99)) == len(TRUTH) + N - 1


def test_missing_singletons_are_ranked_after_the_candidates(cube):
    X, y = cube
    pair = SparseSpectrum.from_terms({(1, 2): 1.0}, N)
    every = keep_best_prefix(pair, X, y, None, 1 + N)
    assert set(every.subsets) == {(), (1, 2), *((j,) for j in range(N))}
    assert every[(0,)] == pytest.approx(1.0, abs=EXACT)
    first = keep_best_prefix(pair, X, y, None, 1)
    assert set(first.subsets) == {(), (1, 2)}  # the candidate outranks the singletons
    alone = keep_best_prefix(pair, X, y, None, 1 + N, add_singletons=False)
    assert set(alone.subsets) == {(), (1, 2)}


def test_no_more_candidates_than_the_limit(cube):
    X, y = cube
    kept = keep_best_prefix(_candidates({}), X, y, None, 99, limit=3)
    assert set(kept.subsets) == {(), (0,), (1, 2), (3, 4, 5)}
    few = X[:10]
    assert len(keep_best_prefix(_candidates({}), few, TRUTH.evaluate(few), None, 99)) <= 1 + 5


# --------------------------------------------------------------------- grow
def test_growing_from_nothing_finds_every_term_the_hierarchy_reaches(cube):
    X, y = cube
    grown = grow_support(SparseSpectrum([()], [0.0], N), X, y, max_order=4)
    # Orders 1-3 by the complete screens, (3, 4, 5, 7) as an extension of (3, 4, 5).
    assert _nonzero(grown).allclose(TRUTH, atol=EXACT)
    np.testing.assert_allclose(grown.evaluate(X), y, atol=EXACT)


def test_growing_respects_the_order_and_misses_isolated_deep_terms(cube):
    X, y = cube
    grown = grow_support(SparseSpectrum([()], [0.0], N), X, y, max_order=3)
    assert grown.max_order <= 3
    assert _nonzero(grown).allclose(TRUTH.restrict(3), atol=EXACT)  # orthogonal: exact
    isolated = SparseSpectrum.from_terms({(0,): 1.0, (2, 3, 5, 6): 0.8}, N)
    found = grow_support(SparseSpectrum([()], [0.0], N), X, isolated.evaluate(X), max_order=4)
    assert _nonzero(found).subsets == [(0,)]  # no sub-term of (2, 3, 5, 6) leads to it


def test_growing_stops_at_the_term_limit_keeping_the_strongest(cube, monkeypatch):
    X, y = cube
    monkeypatch.setattr(_support, "max_terms", lambda X: 3)
    grown = grow_support(SparseSpectrum([()], [0.0], N), X, y, max_order=4)
    assert set(grown.subsets) == {(), (0,), (1, 2), (3, 4, 5)}  # |1.0|, |-0.8|, |0.6|


def test_at_the_term_limit_a_stronger_new_term_replaces_a_weak_one(cube, monkeypatch):
    X, y = cube
    monkeypatch.setattr(_support, "max_terms", lambda X: 4)
    # A support already at the limit, holding two terms the function lacks.
    full = refit(SparseSpectrum.from_terms(
        {(0,): 0.0, (1, 2): 0.0, (6,): 0.0, (2, 7): 0.0}, N), X, y)
    grown = grow_support(full, X, y, max_order=3)
    assert len(grown.select(grown.orders > 0)) == 4
    # The strongest terms, found by the screens in place of the two empty ones.
    assert set(_nonzero(grown).subsets) == {(), (0,), (1, 2), (3, 4, 5), (0, 6)}
