import warnings
from itertools import combinations

import numpy as np
import pytest

from spexlearn.spectral import _bch
from spexlearn.spectral._bch import (
    bch_code,
    decode_syndromes,
    field_degree,
    parity_count,
    parity_of_members,
)


def _padded(subsets, width):
    rows = np.full((len(subsets), width), -1, np.int64)
    for i, subset in enumerate(subsets):
        rows[i, : len(subset)] = sorted(subset)
    return rows


@pytest.mark.slow
@pytest.mark.parametrize(("m", "t"), [(4, 2), (5, 3), (7, 4)])
def test_parity_rows_are_galois_code_duals(m, t):
    """Our rows span the dual of galois's BCH code: the same code, built without numba."""
    galois = pytest.importorskip("galois")
    # The same field (primitive polynomial and element) gives the same code.
    reference = galois.BCH(2**m - 1, d=2 * t + 1, extension_field=galois.GF(2**m))
    code = bch_code(2**m - 1, t)
    # galois lists codeword positions from the highest degree down; ours by degree.
    codewords = np.asarray(reference.G, dtype=np.int64)[:, ::-1]
    assert code.parity.shape == (reference.n - reference.k, 2**m - 1)
    assert not ((code.parity.astype(np.int64) @ codewords.T) % 2).any()
    assert code.n_parity == parity_count(2**m - 1, t)


@pytest.mark.parametrize(("n", "t"), [(7, 1), (15, 2), (20, 3), (100, 5), (1000, 5), (300, 8)])
def test_parity_count_matches_code(n, t):
    code = bch_code(n, t)
    assert code.parity.shape == (parity_count(n, t), n)
    assert 2**code.m - 1 >= max(n, 2 * t + 1) and code.m == field_degree(n, t)


@pytest.mark.parametrize(("n", "t"), [(15, 2), (12, 3), (20, 2)])
def test_decodes_every_subset_up_to_t(n, t):
    code = bch_code(n, t)
    subsets = [s for k in range(t + 1) for s in combinations(range(n), k)]
    _assert_decoded_exactly(code, _padded(subsets, t))


def test_decodes_random_subsets_of_large_code():
    code = bch_code(1000, 5)
    rng = np.random.default_rng(0)
    subsets = [rng.choice(1000, size=rng.integers(0, 6), replace=False) for _ in range(3000)]
    _assert_decoded_exactly(code, _padded(subsets, 5))


def _assert_decoded_exactly(code, members):
    decoded, ok = decode_syndromes(code, parity_of_members(code, members))
    assert ok.all()
    np.testing.assert_array_equal(decoded, members)


def test_successful_decodes_of_noise_are_consistent():
    # Random bits are rarely a weight-<=t pattern; when they decode, the answer must
    # reproduce them exactly and lie within the shortened positions.
    code = bch_code(60, 3)
    rng = np.random.default_rng(1)
    syndromes = rng.integers(0, 2, size=(20000, code.n_parity)).astype(np.uint8)
    decoded, ok = decode_syndromes(code, syndromes)
    assert 0 < ok.sum() < len(ok)
    np.testing.assert_array_equal(parity_of_members(code, decoded[ok]), syndromes[ok])
    assert ((decoded[ok] < 60) & ((decoded[ok] >= 0).sum(axis=1) <= 3)[:, None]).all()
    assert (decoded[~ok] == -1).all()


def test_heavier_subsets_never_decode_to_themselves():
    code = bch_code(31, 2)
    subsets = list(combinations(range(31), 3))
    members = _padded(subsets, 3)
    decoded, ok = decode_syndromes(code, parity_of_members(code, members))
    # A decoded answer has weight <= 2, so it is a different subset with the same bits.
    assert ((decoded[ok] >= 0).sum(axis=1) <= 2).all()


def test_shortening_keeps_positions_within_n():
    # Position 50 exists in the length-63 code but not in the code shortened to 40.
    full, short = bch_code(63, 2), bch_code(40, 2)
    syndrome = parity_of_members(full, np.array([[50, -1]]))
    decoded, ok = decode_syndromes(short, syndrome)
    assert not ok[0] and (decoded == -1).all()


def test_disk_cache_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEXLEARN_CACHE_DIR", str(tmp_path))
    bch_code.cache_clear()
    built = bch_code(30, 2)
    files = list((tmp_path / "bch").glob("*.npz"))
    assert len(files) == 1
    bch_code.cache_clear()
    calls = []
    monkeypatch.setattr(_bch, "_write_cache", lambda *args: calls.append(args))
    loaded = bch_code(30, 2)
    assert calls == []  # read from disk, not rebuilt
    np.testing.assert_array_equal(loaded.parity, built.parity)
    np.testing.assert_array_equal(loaded.power_sums, built.power_sums)
    bch_code.cache_clear()


def test_corrupt_or_unwritable_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEXLEARN_CACHE_DIR", str(tmp_path))
    bch_code.cache_clear()
    reference = bch_code(30, 2).parity
    for path in (tmp_path / "bch").glob("*.npz"):
        path.write_bytes(b"not an npz file")
    bch_code.cache_clear()
    with pytest.warns(RuntimeWarning, match="is damaged"):
        np.testing.assert_array_equal(bch_code(30, 2).parity, reference)
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("SPEXLEARN_CACHE_DIR", str(blocker))  # a file: no directory there
    bch_code.cache_clear()
    np.testing.assert_array_equal(bch_code(30, 2).parity, reference)
    bch_code.cache_clear()


@pytest.mark.parametrize("damage", ["truncated", "bit flipped", "empty", "wrong rows"])
def test_a_damaged_code_file_is_rebuilt_and_replaced_with_a_warning(tmp_path, monkeypatch,
                                                                     damage):
    monkeypatch.setenv("SPEXLEARN_CACHE_DIR", str(tmp_path))
    bch_code.cache_clear()
    reference = bch_code(40, 3)
    [path] = (tmp_path / "bch").glob("*.npz")
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "bit flipped":
        data[len(data) // 3] ^= 0x10  # inside the stored parity rows
    elif damage == "empty":
        data = bytearray()
    else:  # a readable archive whose rows are not the code's
        with np.load(path) as stored:
            parity = stored["parity"].copy()
            parity[1, 0] ^= 1
            np.savez(path, parity=parity, poly=stored["poly"], alpha=stored["alpha"])
        data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data))
    bch_code.cache_clear()
    with pytest.warns(RuntimeWarning, match=f"cached BCH code {path} is damaged .*rebuilt"):
        rebuilt = bch_code(40, 3)
    np.testing.assert_array_equal(rebuilt.parity, reference.parity)
    np.testing.assert_array_equal(rebuilt.power_sums, reference.power_sums)
    assert sorted((tmp_path / "bch").iterdir()) == [path]  # replaced, no temporary left
    bch_code.cache_clear()
    calls = []
    monkeypatch.setattr(_bch, "_write_cache", lambda *args: calls.append(args))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(bch_code(40, 3).parity, reference.parity)
    assert calls == []  # the replaced file reads back
    bch_code.cache_clear()


def test_rejects_bad_parameters():
    with pytest.raises(ValueError, match="n >= 1 and t >= 1"):
        bch_code(0, 2)
