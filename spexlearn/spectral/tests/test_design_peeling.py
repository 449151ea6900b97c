import numpy as np
import pytest

from spexlearn.datasets import make_sparse_function
from spexlearn.spectral import SparseSpectrum
from spexlearn.spectral._bch import parity_of_members
from spexlearn.spectral._design import (
    design_size,
    gf2_rank,
    largest_bin_bits,
    make_design,
    parse_design,
)
from spexlearn.spectral._peeling import (
    bin_transforms,
    every_mask,
    exhaustive_spectrum,
    is_every_mask,
    peel,
    walsh_hadamard,
)


def _hadamard(b):
    rows = np.arange(2**b)
    parity = np.array([[bin(i & j).count("1") % 2 for j in rows] for i in rows])
    return 1 - 2 * parity


def test_walsh_hadamard_matches_the_matrix():
    rng = np.random.default_rng(0)
    table = rng.normal(size=(3, 2, 16))
    np.testing.assert_allclose(walsh_hadamard(table), table @ _hadamard(4).T, atol=1e-12)


def test_design_masks_follow_the_formula():
    rng = np.random.RandomState(0)
    design = make_design(40, 3, 4, 2, rng)
    masks = design.masks().reshape(2, design.n_delays, 16, 40)
    delays = design.delays
    for c in range(2):
        for l_index in (0, 1, 6, 15):
            bits = (l_index >> np.arange(4)) & 1
            base = (bits @ design.subsampling[c]) % 2
            for d in (0, 1, design.n_delays - 1):
                np.testing.assert_array_equal(masks[c, d, l_index], base ^ delays[d])
    assert design.n_queries == 2 * design.n_delays * 16 == design_size(40, 3, 4, 2)
    assert not delays[0].any()
    np.testing.assert_array_equal(delays[1:], design.code.parity)


def test_subsampling_matrices_have_full_rank():
    rng = np.random.RandomState(0)
    design = make_design(6, 2, 5, 3, rng)  # 5 x 6 random matrices are often singular
    assert all(gf2_rank(matrix) == 5 for matrix in design.subsampling)
    assert gf2_rank(np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]])) == 2


def test_bins_hold_the_signed_coefficients():
    _f, truth = make_sparse_function(50, n_terms=25, max_order=3, random_state=1)
    design = make_design(50, 3, 4, 3, np.random.RandomState(2))
    bins = bin_transforms(truth.evaluate(design.masks()), design)
    expected = np.zeros_like(bins)
    where = design.bins(truth.members)
    signs = 1 - 2 * parity_of_members(design.code, truth.members).astype(float)
    signs = np.hstack([np.ones((len(truth), 1)), signs])
    for c in range(3):
        for term in range(len(truth)):
            expected[c, :, where[c, term]] += truth.coef[term] * signs[term]
    np.testing.assert_allclose(bins, expected, atol=1e-10)


def test_parse_design_round_trip_and_rejections():
    design = make_design(30, 2, 4, 3, np.random.RandomState(0))
    masks = design.masks()
    parsed = parse_design(masks, 2, 3)
    np.testing.assert_array_equal(parsed.subsampling, design.subsampling)
    shuffled = masks[np.random.RandomState(1).permutation(len(masks))]
    assert parse_design(shuffled, 2, 3) is None
    assert parse_design(masks[:-1], 2, 3) is None
    assert parse_design(masks, 3, 3) is None  # another code: another number of delays
    tampered = masks.copy()
    tampered[5, 3] ^= 1
    assert parse_design(tampered, 2, 3) is None


def test_largest_bins_fits_the_budget():
    per_bin = 3 * (design_size(1000, 5, 0, 1))
    assert largest_bin_bits(1000, 5, per_bin * 256, 3) == 8
    assert largest_bin_bits(1000, 5, per_bin * 256 - 1, 3) == 7
    assert largest_bin_bits(1000, 5, per_bin * 8 - 1, 3) is None


@pytest.mark.parametrize("soft", [False, True])
def test_peeling_recovers_a_sparse_spectrum_exactly(soft):
    _f, truth = make_sparse_function(300, n_terms=40, max_order=4, random_state=3)
    design = make_design(300, 4, 6, 3, np.random.RandomState(4))
    result = peel(bin_transforms(truth.evaluate(design.masks()), design), design, soft=soft)
    found = SparseSpectrum.from_arrays(result.members, result.coefs, 300)
    assert found.prune(1e-9).allclose(truth.prune(1e-9), atol=1e-9)
    assert result.unexplained < 1e-20


def test_soft_decoding_recovers_more_under_heavy_noise():
    _f, truth = make_sparse_function(200, n_terms=30, max_order=3, random_state=5)
    design = make_design(200, 3, 5, 3, np.random.RandomState(6))
    rng = np.random.default_rng(7)
    values = truth.evaluate(design.masks())
    values = values + 2.5 * rng.standard_normal(len(values))
    true_set = set(truth.subsets)
    recovered = {}
    for soft in (False, True):
        result = peel(bin_transforms(values, design), design, soft=soft)
        found = SparseSpectrum.from_arrays(result.members, result.coefs, 200)
        recovered[soft] = len(true_set & set(found.subsets))
    assert recovered[True] > recovered[False]


def test_peeling_tolerates_noise():
    _f, truth = make_sparse_function(1000, n_terms=100, max_order=4, random_state=0)
    signal = np.sqrt((truth.coef[truth.orders > 0] ** 2).sum())
    design = make_design(1000, 5, 6, 3, np.random.RandomState(0))
    rng = np.random.default_rng(1)
    values = truth.evaluate(design.masks()) + 0.1 * signal * rng.standard_normal(
        design.n_queries
    )
    result = peel(bin_transforms(values, design), design)
    found = SparseSpectrum.from_arrays(result.members, result.coefs, 1000)
    strong = found.select(np.abs(found.coef) > 0.25)
    assert set(strong.subsets) - {()} == set(truth.subsets) - {()}
    assert 0 < result.noise_std < 0.2


def test_exhaustive_spectrum_is_the_full_transform():
    rng = np.random.default_rng(0)
    masks = every_mask(6)
    values = rng.normal(size=64)
    spectrum = exhaustive_spectrum(masks[::-1], values[::-1], 6)
    np.testing.assert_allclose(spectrum.evaluate(masks), values, atol=1e-12)
    assert len(exhaustive_spectrum(masks, values, 2)) == 1 + 6 + 15
    assert is_every_mask(masks[::-1]) and not is_every_mask(masks[:-1])
    assert not is_every_mask(np.vstack([masks[:-1], masks[:1]]))
