"""Many writers on one cache file: 8 processes and 2 objects in this process, 20 times.

Each writer computes an overlapping random set of masks through an ablation backed by
the same cache file, in small batches, all starting at the same moment. Afterwards the
file must hold exactly the union of their masks with the right values, and a rerun of
every writer must query its model zero times.
"""

from __future__ import annotations

import multiprocessing
import threading
import time

import numpy as np
import pytest

from spexlearn.ablation import Ablation, MaskCache
from spexlearn.masks import row_keys

N_COMPONENTS = 12
N_PROCESSES = 8
N_ROUNDS = 20
WEIGHTS = np.arange(N_COMPONENTS, dtype=float) - 5  # integers: sums exact in any order


class Tally(Ablation):
    """A counting fake model: a value that depends on the mask only."""

    def __init__(self, cache, batch_size=3):
        super().__init__(cache=cache, batch_size=batch_size, progress=False)
        self.component_names = [f"c{i}" for i in range(N_COMPONENTS)]

    def _fingerprint(self):
        return {"kind": "tally", "n": N_COMPONENTS}

    def _evaluate(self, masks):
        time.sleep(0.001)  # a model call takes a moment: writers interleave
        return _truth(masks)


def _truth(masks: np.ndarray) -> np.ndarray:
    return masks @ WEIGHTS + 3.0 * masks[:, 0] * masks[:, 1]


def _write(cache: str, masks: np.ndarray, start_at: float) -> int:
    """One writer: wait for the common start, then compute every mask through the cache."""
    time.sleep(max(start_at - time.time(), 0.0))
    value = Tally(cache)
    np.testing.assert_allclose(value(masks), _truth(masks))
    return value.n_evaluated_


def _mask_sets(rng: np.random.Generator, n_sets: int) -> list[np.ndarray]:
    # Draws from a small pool, so the sets overlap heavily.
    pool = rng.integers(0, 2, size=(32, N_COMPONENTS))
    return [pool[rng.choice(len(pool), size=rng.integers(6, 16), replace=False)]
            for _ in range(n_sets)]


@pytest.mark.slow
def test_many_writers_lose_nothing_and_a_rerun_queries_nothing(tmp_path):
    # A fresh interpreter per worker (no forked locks); the fork server imports this
    # module once, so eight workers start in about the time of one.
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
    else:
        context = multiprocessing.get_context("spawn")
    rng = np.random.default_rng(0)
    with context.Pool(N_PROCESSES) as pool:
        pool.map(time.sleep, [0.0] * N_PROCESSES)  # the workers are up before round 1
        for round_ in range(N_ROUNDS):
            cache = str(tmp_path / f"round{round_}.cache")
            sets = _mask_sets(rng, N_PROCESSES + 2)
            start_at = time.time() + 0.02
            jobs = pool.starmap_async(
                _write, [(cache, masks, start_at) for masks in sets[:N_PROCESSES]],
                chunksize=1,
            )
            threads = [threading.Thread(target=_write, args=(cache, masks, start_at))
                       for masks in sets[N_PROCESSES:]]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            jobs.get(timeout=60)

            union = np.unique(np.vstack(sets), axis=0)
            header_fingerprint = Tally(cache).fingerprint()
            records = MaskCache(cache, N_COMPONENTS, header_fingerprint).load()
            assert set(records) == {bytes(key) for key in row_keys(union.astype(np.uint8))}
            stored = np.array([records[bytes(k)] for k in row_keys(union.astype(np.uint8))])
            np.testing.assert_array_equal(stored, _truth(union))
            for masks in sets:
                rerun = Tally(cache)
                np.testing.assert_array_equal(rerun(masks), _truth(masks))
                assert rerun.n_evaluated_ == 0


def test_objects_in_one_process_see_each_others_records(tmp_path):
    """A writer merges what another appended: its next call computes none of those."""
    cache = tmp_path / "shared.cache"
    rng = np.random.default_rng(1)
    first, second = Tally(cache), Tally(cache)
    a, b = rng.integers(0, 2, size=(2, 15, N_COMPONENTS))
    first(a[:3])
    second(b)  # appended after first's last write
    first(a[3:])  # it reads second's blocks first: masks of b are not computed again
    first(b)
    keys = [{bytes(k) for k in row_keys(m.astype(np.uint8))} for m in (a[:3], a[3:], b)]
    assert first.n_evaluated_ == len(keys[0] | (keys[1] - keys[2]))
    records = MaskCache(cache, N_COMPONENTS, first.fingerprint()).load()
    assert len(records) == len(np.unique(np.vstack([a, b]), axis=0))
