"""SparseSpectrum against brute-force enumeration over all 2^n masks."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pytest

from spexlearn.masks import every_mask
from spexlearn.spectral import _sparse
from spexlearn.spectral._sparse import FOURIER, MOBIUS, SparseSpectrum, canonical_terms

SEEDS = (0, 1, 2, 3)
KINDS = (FOURIER, MOBIUS)


# --------------------------------------------------------------------- helpers
def random_spectrum(
    seed: int, n: int = 8, n_terms: int = 10, max_order: int = 6, kind: str = FOURIER
) -> SparseSpectrum:
    """A random sparse spectrum with a constant term and terms up to ``max_order``."""
    rng = np.random.default_rng(seed)
    orders = rng.integers(1, max_order + 1, size=n_terms)
    orders[0] = max_order  # always one deep term, so order-k indices have work to do
    subsets = [()] + [tuple(rng.choice(n, size=s, replace=False)) for s in orders]
    return SparseSpectrum(subsets, rng.normal(size=len(subsets)), n, kind)


def brute_evaluate(spectrum: SparseSpectrum, masks: np.ndarray) -> np.ndarray:
    """Term-by-term, mask-by-mask evaluation straight from the definitions."""
    out = np.zeros(len(masks))
    for row, x in enumerate(masks):
        for subset, coef in spectrum:
            kept = [int(x[i]) for i in subset]
            if spectrum.kind == FOURIER:
                out[row] += coef * (-1) ** sum(kept)
            else:
                out[row] += coef * all(kept)
    return out


def walsh_hadamard(table: np.ndarray) -> np.ndarray:
    """``F(S) = 2^-n sum_x f(x) (-1)^|S ∩ x|`` with subsets and masks as bit patterns."""
    index = np.arange(len(table))
    overlap = index[:, None] & index[None, :]
    parity = np.array([bin(v).count("1") & 1 for v in range(len(table))])[overlap]
    return (1.0 - 2.0 * parity) @ table / len(table)


def subset_bits(subset) -> int:
    return sum(1 << int(i) for i in subset)


# ------------------------------------------------------------------ evaluation
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", SEEDS)
def test_evaluate_matches_brute_force(seed, kind):
    f = random_spectrum(seed, n=7, kind=kind)
    masks = every_mask(7)
    np.testing.assert_allclose(f.evaluate(masks), brute_evaluate(f, masks), atol=1e-12)
    np.testing.assert_allclose(f.evaluate(masks.astype(bool)), f.evaluate(masks))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", SEEDS)
def test_multilinear_extension_is_bernoulli_expectation(seed, kind):
    n = 6
    f = random_spectrum(seed, n=n, max_order=5, kind=kind)
    rng = np.random.default_rng(seed + 100)
    probs = rng.uniform(size=(5, n))
    masks = every_mask(n)
    # P(mask) for independent keeps with probability p_i, by enumeration.
    weights = np.prod(np.where(masks[None], probs[:, None], 1 - probs[:, None]), axis=2)
    expected = weights @ f.evaluate(masks)
    np.testing.assert_allclose(f.evaluate(probs), expected, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_basis_is_consistent_with_evaluate(kind):
    f = random_spectrum(5, kind=kind)
    masks = every_mask(8)[::3]
    basis = f.basis(masks)
    assert basis.shape == (len(masks), len(f))
    np.testing.assert_allclose(basis @ f.coef, f.evaluate(masks), atol=1e-12)
    for j, (subset, _) in enumerate(f):
        single = SparseSpectrum([subset], [1.0], f.n_components, kind)
        np.testing.assert_array_equal(basis[:, j], single.evaluate(masks))


@pytest.mark.parametrize("chunk", [7, 40])
@pytest.mark.parametrize("kind", KINDS)
def test_chunking_gives_identical_results(kind, chunk, monkeypatch):
    f = random_spectrum(6, kind=kind)
    rng = np.random.default_rng(0)
    binary, fractional = every_mask(8)[::5], rng.uniform(size=(37, 8))
    expected = [f.basis(binary), f.basis(fractional), f.evaluate(binary), f.evaluate(fractional)]
    monkeypatch.setattr(_sparse, "_CHUNK_ELEMENTS", chunk)  # 1 and 3 rows per chunk
    got = [f.basis(binary), f.basis(fractional), f.evaluate(binary), f.evaluate(fractional)]
    for a, b in zip(expected[:2], got[:2]):
        np.testing.assert_array_equal(a, b)
    # A matrix-vector product may sum in another order for another block shape.
    for a, b in zip(expected[2:], got[2:]):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-14)


def test_empty_spectrum_evaluates_to_zero():
    f = SparseSpectrum([], [], n_components=3)
    np.testing.assert_array_equal(f.evaluate(np.ones((2, 3))), [0.0, 0.0])
    assert f.basis(np.ones((2, 3))).shape == (2, 0)


# ------------------------------------------------------------ building blocks
def test_canonicalisation_merges_duplicates():
    f = SparseSpectrum([(1, 0), (2,), (0, 1), (), (2,)], [1.0, 2.0, 3.0, 4.0, 5.0], 3)
    assert f.subsets == [(), (2,), (0, 1)]
    np.testing.assert_array_equal(f.coef, [4.0, 7.0, 4.0])
    np.testing.assert_array_equal(f.members, [[-1, -1], [2, -1], [0, 1]])
    same = SparseSpectrum([(2,), (0, 1), ()], [7.0, 4.0, 4.0], 3)
    assert f == same


def test_canonical_terms_order_is_size_then_lexicographic():
    members = np.array([[3, 1], [2, -1], [0, 4], [-1, -1], [1, -1]])
    rows, coefs = canonical_terms(members, np.arange(5.0))
    np.testing.assert_array_equal(rows, [[-1, -1], [1, -1], [2, -1], [0, 4], [1, 3]])
    np.testing.assert_array_equal(coefs, [3.0, 4.0, 1.0, 2.0, 0.0])


def test_getitem():
    f = SparseSpectrum([(), (0, 2), (1,)], [1.0, -2.0, 0.5], n_components=4)
    assert f[()] == 1.0
    assert f[(2, 0)] == -2.0
    assert f[[1]] == 0.5
    assert f[(3,)] == 0.0
    assert f[(0, 1, 2)] == 0.0
    with pytest.raises(KeyError):
        f[(4,)]


def test_top_and_restrict():
    f = SparseSpectrum([(), (0,), (1, 2), (0, 1, 2)], [0.1, -3.0, 2.0, 0.5], 3)
    assert f.largest(2).terms() == {(0,): -3.0, (1, 2): 2.0}
    assert f.largest(10) == f
    assert f.restrict(1).terms() == {(): 0.1, (0,): -3.0}
    assert f.restrict(3) == f


@pytest.mark.parametrize("kind", KINDS)
def test_add(kind):
    f, g = random_spectrum(1, kind=kind), random_spectrum(2, max_order=3, kind=kind)
    masks = every_mask(8)
    total = f.add(g, scale=-0.5)
    np.testing.assert_allclose(
        total.evaluate(masks), f.evaluate(masks) - 0.5 * g.evaluate(masks), atol=1e-12
    )
    assert f.add(f, scale=-1.0).prune().terms() == {}
    with pytest.raises(ValueError):
        f.add(SparseSpectrum([()], [1.0], 8, MOBIUS if kind == FOURIER else FOURIER))


@pytest.mark.parametrize("kind", KINDS)
def test_json_round_trip(kind):
    f = random_spectrum(3, kind=kind)
    back = SparseSpectrum.from_dict(json.loads(json.dumps(f.to_dict())))
    assert back == f


@pytest.mark.parametrize(
    ("subsets", "coefs", "n"),
    [
        ([(0, 0)], [1.0], 3),  # repeated component
        ([(0, 3)], [1.0], 3),  # index >= n
        ([(0,)], [np.nan], 3),  # NaN coefficient
        ([(0,)], [np.inf], 3),
    ],
)
def test_bad_terms_raise(subsets, coefs, n):
    with pytest.raises(ValueError):
        SparseSpectrum(subsets, coefs, n)


def test_bad_kind_and_masks_raise():
    with pytest.raises(ValueError, match="kind"):
        SparseSpectrum([(0,)], [1.0], 3, kind="walsh")
    f = SparseSpectrum([(0,)], [1.0], 3)
    with pytest.raises(ValueError, match="shape"):
        f.evaluate(np.ones((2, 4)))
    with pytest.raises(ValueError, match="shape"):
        f.basis(np.ones((2, 3, 1)))


# ----------------------------------------------------------------- transforms
@pytest.mark.parametrize("seed", SEEDS)
def test_fourier_mobius_round_trip(seed):
    f = random_spectrum(seed)
    a = f.to_mobius()
    assert a.kind == MOBIUS
    assert a.to_fourier().allclose(f, atol=1e-10)
    masks = every_mask(8)
    np.testing.assert_allclose(a.evaluate(masks), f.evaluate(masks), atol=1e-10)
    g = random_spectrum(seed, kind=MOBIUS)
    assert g.to_fourier().to_mobius().allclose(g, atol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", SEEDS)
def test_walsh_hadamard_of_value_table_is_the_spectrum(seed, kind):
    n = 8
    f = random_spectrum(seed, n=n, kind=kind)
    transform = walsh_hadamard(f.evaluate(every_mask(n)))
    expected = np.zeros(2**n)
    for subset, coef in f.to_fourier():
        expected[subset_bits(subset)] = coef
    np.testing.assert_allclose(transform, expected, atol=1e-10)


@pytest.mark.parametrize("seed", SEEDS)
def test_mobius_is_the_inclusion_exclusion_of_the_value_table(seed):
    n = 7
    f = random_spectrum(seed, n=n, max_order=5)
    table = f.evaluate(every_mask(n))
    a = f.to_mobius()
    for s in range(n + 1):
        for subset in combinations(range(n), s):
            # a(S) = sum_{T ⊆ S} (-1)^{|S|-|T|} f(T)
            expected = sum(
                (-1) ** (s - t) * table[subset_bits(sub)]
                for t in range(s + 1)
                for sub in combinations(subset, t)
            )
            assert a[subset] == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize(
    "members, match", [([[3, 3]], "repeats a component"), ([[0, -5]], "must be >= 0")]
)
def test_from_arrays_rejects_malformed_rows(members, match):
    with pytest.raises(ValueError, match=match):
        SparseSpectrum.from_arrays(np.array(members), [1.0], n_components=5)


def test_least_squares_gives_dependent_columns_no_weight():
    # A column equal to another up to rounding: the pivoted QR must treat it as dependent
    # (as numpy's SVD does), not give it a coefficient of 1e13.
    from spexlearn.spectral._refit import least_squares

    rng = np.random.default_rng(0)
    basis = np.sign(rng.normal(size=(100, 10)))
    design = np.hstack([basis, basis[:, :1] + 1e-14 * rng.normal(size=(100, 1))])
    y = rng.normal(size=100)
    coef = least_squares(design, y)
    reference = np.linalg.lstsq(design, y, rcond=None)[0]
    assert np.abs(coef).max() < 10 * np.abs(reference).max()
    assert np.allclose(design @ coef, design @ reference)


def test_prefix_choice_does_not_keep_noise_columns():
    # Five true columns ranked first, 35 of pure noise after them: the one-SE rule keeps
    # the five where the bare CV minimum often adds noise columns that fit the folds.
    from spexlearn.spectral._refit import select_prefix_by_cv

    chosen, minimum = [], []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        design = np.hstack([np.ones((200, 1)), np.sign(rng.normal(size=(200, 40)))])
        y = design[:, 1:6] @ np.full(5, 2.0) + rng.normal(size=200)
        best, errors = select_prefix_by_cv(design, y, np.arange(1, 41),
                                           np.random.RandomState(seed), n_fixed=1)
        chosen.append(best)
        minimum.append(int(np.argmin(errors)) + 1)
    assert sum(size == 5 for size in chosen) >= 18
    assert sum(size == 5 for size in chosen) > sum(size == 5 for size in minimum)
    assert min(chosen) == 5  # never fewer than the true columns


def test_one_meaning_per_method_name():
    from spexlearn import Interactions

    f = SparseSpectrum([(0,), (1, 2), ()], [-3.0, 2.0, 0.1], n_components=3)
    # terms(): the mapping, on spectra and on interactions alike.
    assert f.terms() == {(): 0.1, (0,): -3.0, (1, 2): 2.0}
    inter = Interactions.from_members(f.members, f.coef, component_names=["a", "b", "c"])
    assert inter.terms() == f.terms()
    # to_dict / from_dict: plain types and an exact copy, on both.
    assert SparseSpectrum.from_dict(f.to_dict()) == f
    assert Interactions.from_dict(inter.to_dict()) == inter
    old = {**f.to_dict()}
    old["coefs"] = old.pop("coef")  # files written before the rename still read
    assert SparseSpectrum.from_dict(old) == f
    assert SparseSpectrum.from_terms(f.terms(), 3) == f
    with pytest.raises(TypeError, match="from_terms"):
        SparseSpectrum.from_dict(f.terms(), 3)
    # largest(k) keeps canonical order; top(k) was renamed, and says so.
    assert f.largest(2).subsets == [(0,), (1, 2)]
    assert inter.top(2).subsets == [(0,), (1, 2)] and inter.top(1).subsets == [(0,)]
    with pytest.raises(AttributeError, match=r"now largest\(k\)"):
        f.top(2)
