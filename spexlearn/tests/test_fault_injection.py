"""Kill an explain at random points, 21 times; nothing already computed is computed again.

Ten times the process is killed with SIGKILL after a random number of batches, once more
while it fits (every value cached); ten times the model raises at a random batch. After
each interruption the same explain is started again. Every mask the model sees in an
attempt must be one the cache did not hold when the attempt began, and the final
interactions must equal those of an uninterrupted run, bit for bit.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from spexlearn.ablation import MaskCache, ValueFunctionError
from spexlearn.tests import _fault_worker as worker


def _cached(cache) -> set[str]:
    if not os.path.exists(cache):
        return set()
    header = json.loads(open(cache, "rb").readline())
    records = MaskCache(cache, worker.N_COMPONENTS, header["fingerprint"]).load()
    return {key.hex() for key in records}


def _logged(log) -> list[str]:
    return open(log).read().split() if os.path.exists(log) else []


def _start(cache, log, out):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "spexlearn.tests._fault_worker",
                             str(cache), str(log), str(out)], env=env)


def _kill_when(process, ready, timeout=60.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.slow
def test_twenty_interruptions_repeat_no_query_and_change_no_result(tmp_path):
    reference_log = tmp_path / "reference.log"
    reference = worker.explain(tmp_path / "reference.cache", reference_log)
    every_mask = set(_logged(reference_log))
    cache, out = tmp_path / "values.cache", tmp_path / "out.json"
    rng = np.random.default_rng(0)
    repeated, logs = 0, []
    for attempt in range(21):
        before, log = _cached(cache), tmp_path / f"attempt{attempt}.log"
        logs.append(log)
        batches = int(rng.integers(2, 7))
        if attempt == 20:  # once every value is cached: killed while fitting
            process = _start(cache, log, out)
            _kill_when(process, lambda: every_mask <= _cached(cache))
            time.sleep(rng.uniform(0.0, 0.3))
        elif attempt % 2 == 0:  # killed with SIGKILL after a random number of batches
            process = _start(cache, log, out)
            _kill_when(process, lambda log=log, b=batches: len(_logged(log)) >= 8 * b)
        else:  # the model raises at a random batch
            with pytest.raises(ValueFunctionError, match="injected fault"):
                worker.explain(cache, log, raise_after=batches)
        seen, after = _logged(log), _cached(cache)
        repeated += len(set(seen) & before) + len(seen) - len(set(seen))
        if attempt < 20:  # it was interrupted while querying, after saving some batches
            assert seen and len(after) > len(before)
        # Work lost is the one batch cut short (content-defined: a few times batch_size).
        assert len(set(seen) - after) <= 64
    assert not out.exists() or json.loads(out.read_text()) == json.loads(reference)
    final_log = tmp_path / "final.log"
    before = _cached(cache)
    result = worker.explain(cache, final_log)
    repeated += len(set(_logged(final_log)) & before)
    assert repeated == 0
    assert json.loads(result) == json.loads(reference)
    assert _cached(cache) == every_mask
