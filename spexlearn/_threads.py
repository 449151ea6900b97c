"""How many CPU threads a model's forward passes run on: whichever is measured fastest.

torch starts one thread per core. When other processes share the cores, threads that
wait for each other at every operation lose far more than they gain: on 2 cores with one
busy process beside it, SmolLM2-135M scored 7.0 masks/s on 2 threads and 11.1 on 1 (21.2
on 2 threads on a quiet machine). Nothing tells a process how busy its cores will be, so
the choice is measured: each candidate count runs a few batches, the fastest per unit of
work runs the rest, and every ``RECHECK``-th batch tries another again, since the load
of the machine changes while an explanation runs.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np

__all__ = ["FIRST_LOOK", "RECHECK", "SLOWER", "ThreadChoice"]

# A smaller count runs while the most threads are slower; every this many batches the
# most threads are tried again (the load may have gone).
RECHECK = 8
# The most threads running this many times slower than usual (the low quantile of their
# recent batches): the machine got busier, and the smaller counts are tried again. A busy
# process beside them made them 3x slower; batches of a quiet machine vary by ~20 %.
SLOWER = 1.5
# Usual speed: this quantile of the last _HISTORY batches' seconds per unit (the fastest
# alone would be one lucky batch, and every later one would look slowed).
_USUAL_QUANTILE, _HISTORY = 0.25, 16
# The smaller counts are first tried after this many batches: a short run (a few
# batches) never pays for a look at a count that a quiet machine runs at half speed.
FIRST_LOOK = 4
# Weight of the newest measurement in each candidate's running speed.
_SMOOTHING = 0.5


class ThreadChoice:
    """The thread count for the next batch, learnt from the speed of the earlier ones.

    The most threads run the first ``FIRST_LOOK`` batches, then each other candidate
    runs once. Then the most threads run while they stay within ``SLOWER`` of their
    usual speed; when they slow down, the smaller counts are tried again and the fastest
    runs; while a smaller count runs, the most threads are tried again every ``RECHECK``
    batches.

    Parameters
    ----------
    most : int
        The largest count tried (torch's default: the cores it may use).
    """

    def __init__(self, most: int):
        self.candidates = sorted({1, max(most // 2, 1), max(most, 1)})
        self.recent: dict[int, float] = {}  # seconds per unit of work, smoothed
        self.history: dict[int, list[float]] = {}
        self.last_run: dict[int, int] = {}
        self.batches = 0

    def next(self) -> int:
        """The count the next batch runs on."""
        most = self.candidates[-1]
        if self.batches < FIRST_LOOK:
            return most  # the quiet machine's best
        untried = [c for c in self.candidates if c not in self.recent]
        if untried:
            return untried[-1]
        best = min(self.candidates, key=self.recent.__getitem__)
        if best == most:
            if self.recent[most] > SLOWER * self._usual(most):
                stale = [c for c in self.candidates[:-1]
                         if self.batches - self.last_run[c] >= RECHECK]
                if stale:
                    return stale[-1]
            return most
        if self.batches - self.last_run[most] >= RECHECK:
            return most
        return best

    def record(self, threads: int, units: float, seconds: float) -> None:
        """A batch of ``units`` of work took ``seconds`` on ``threads`` threads."""
        self.last_run[threads] = self.batches
        self.batches += 1
        if units <= 0:
            return
        speed = seconds / units
        old = self.recent.get(threads)
        self.recent[threads] = (speed if old is None
                                else _SMOOTHING * speed + (1 - _SMOOTHING) * old)
        self.history[threads] = [*self.history.get(threads, []), speed][-_HISTORY:]

    def _usual(self, threads: int) -> float:
        return float(np.quantile(self.history[threads], _USUAL_QUANTILE))

    @contextlib.contextmanager
    def running(self, units: float):
        """Run the block on the chosen thread count, and learn from its time."""
        import torch

        threads, before = self.next(), torch.get_num_threads()
        torch.set_num_threads(threads)
        start = time.perf_counter()
        try:
            yield threads
        finally:
            self.record(threads, units, time.perf_counter() - start)
            torch.set_num_threads(before)
