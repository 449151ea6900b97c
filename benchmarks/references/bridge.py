"""Run a reference approximator in its own Python while our process serves the values.

shapiq >= 1.5 needs Python >= 3.12 and our code runs on 3.11, so the references live in
``benchmarks/.refvenv`` (made by ``setup_env.sh``). ``run_reference`` starts
``worker.py`` there, answers every batch of masks the reference asks for with
``value_function`` (masks ``(m, n)`` uint8, 1 = kept, to values ``(m,)``), and turns the
reference's surrogate into a ``spexlearn.SparseSpectrum`` (Fourier)::

    from references.bridge import available, run_reference

    if available():
        result = run_reference("shapiq-proxyspex", f, n=20, budget=1000, seed=0)
        r2 = 1 - ((y - result.spectrum.evaluate(X)) ** 2).sum() / ((y - y.mean()) ** 2).sum()

Standard library and NumPy only (plus spexlearn for the returned spectrum).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _protocol import read_message, write_message

HERE = Path(__file__).resolve().parent
REFVENV = HERE.parent / ".refvenv"
WORKER = HERE / "worker.py"
SETUP = HERE / "setup_env.sh"
STDERR_TAIL = 4000
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")

# name -> how the reference's output becomes a surrogate (see README.md for the details).
REFERENCE_METHODS = {
    "shapiq-proxyspex": "shapiq ProxySPEX; FBII of order max_order of its surrogate (Möbius)",
    "shapiq-spex": "shapiq SPEX; FBII of order max_order of its decoded transform (Möbius)",
    "shapiq-proxyshap": "shapiq ProxySHAP; FBII of order max_order of its proxy (Möbius)",
    "shapiq-oddshap": "shapiq OddSHAP; Shapley values as an additive model",
    "shapiq-polyshap": "shapiq PolySHAP; its fitted order-2 polynomial (Möbius)",
    "shapiq-kernelshapiq": "shapiq KernelSHAPIQ; k-SII of order 2 as Möbius coefficients",
    "shapiq-regressionfsii": "shapiq RegressionFSII; FSII of order 2 (faithful polynomial)",
    "shapiq-regressionfbii": "shapiq RegressionFBII; FBII of order 2 (faithful polynomial)",
    "shapiq-kernelshap": "shapiq KernelSHAP; Shapley values as an additive model",
    "shapiq-leverageshap": "shapiq LeverageSHAP; Shapley values as an additive model",
    "spectralexplain": "spectralexplain Explainer(algorithm='proxyspex'); Fourier as returned",
    "spectralexplain-spex": "spectralexplain Explainer (default algorithm 'spex'); Fourier",
    "contextcite": "ContextCite LASSO on its 64 Bernoulli(0.5) ablations; linear (budget unused)",
    "contextcite-budget": "ContextCite LASSO on `budget` Bernoulli(0.5) ablations; linear",
}

# Methods whose distinct queries never exceed the budget.
WITHIN_BUDGET = frozenset(REFERENCE_METHODS) - {"contextcite"}


class ReferenceError(RuntimeError):
    """A reference could not run the task, or its worker failed.

    Attributes: ``method``, ``reason`` (short), ``stderr_tail`` (the worker's last output),
    ``remote_traceback`` (the worker-side traceback when it reported one).
    """

    def __init__(self, method: str, reason: str, stderr_tail: str = "",
                 remote_traceback: str = ""):
        self.method, self.reason = method, reason
        self.stderr_tail, self.remote_traceback = stderr_tail, remote_traceback
        detail = remote_traceback or stderr_tail
        message = f"reference {method!r} failed: {reason}"
        if detail:
            message += "\n--- worker output (tail) ---\n" + detail[-STDERR_TAIL:]
        super().__init__(message)


@dataclass
class ReferenceResult:
    """The surrogate a reference produced and what it cost.

    ``spectrum``: Fourier ``SparseSpectrum``; ``n_queries``: distinct masks the value function
    was asked for; ``n_requested``: rows the reference asked for (repeats included);
    ``overhead_seconds``: the worker's time in the approximator outside value queries (Python
    start-up and imports excluded); ``query_seconds``: the time its queries took as seen by
    the worker (our value function + transfer); ``wall_seconds``: the whole call, start-up
    included; ``value_seconds``: time inside ``value_function`` alone.
    """

    method: str
    spectrum: object
    n_queries: int
    overhead_seconds: float
    version: str
    notes: list = field(default_factory=list)
    n_requested: int = 0
    query_seconds: float = 0.0
    value_seconds: float = 0.0
    wall_seconds: float = 0.0
    native_kind: str = "mobius"
    warnings: list = field(default_factory=list)


def python() -> Path:
    """The reference venv's interpreter."""
    return REFVENV / "bin" / "python"


def available() -> bool:
    """Whether the reference venv exists (``bash benchmarks/references/setup_env.sh``)."""
    return python().is_file() and os.access(python(), os.X_OK)


def run_reference(method: str, value_function, n: int, budget: int, seed: int = 0,
                  max_order: int = 5, timeout: float | None = 1800.0,
                  options: dict | None = None, threads: int | None = None) -> ReferenceResult:
    """Run reference ``method`` on ``value_function`` and return its surrogate.

    Parameters
    ----------
    method : str
        One of ``REFERENCE_METHODS``.
    value_function : callable
        ``masks (m, n) uint8 -> values (m,)``; called once per batch of new distinct masks.
    n, budget, seed : int
        Components, the reference's budget (its own meaning of it), the random seed.
    max_order : int
        Largest interaction order of the surrogate where the method has that setting (see
        ``README.md``; dense regressions keep their own default 2 when it is larger).
    timeout : float or None
        Seconds of worker time (value queries not counted) before the worker is killed.
    options : dict, optional
        Extra constructor keywords for the reference (its defaults otherwise).
    threads : int, optional
        Caps the worker's OpenMP / BLAS / numba threads (``OMP_NUM_THREADS`` and friends);
        ``None`` leaves the environment as it is. On a loaded machine LightGBM's OpenMP
        threads can slow a fit a hundredfold (ProxySPEX at n = 12: 243 s against 2.7 s with
        one thread), so benchmarks on a shared machine should pass ``threads=1``.

    Raises
    ------
    ReferenceError
        When the venv is missing, the reference fails on the task, or the worker dies.
    """
    if method not in REFERENCE_METHODS:
        raise ValueError(f"unknown reference method {method!r}; "
                         f"choose from {sorted(REFERENCE_METHODS)}")
    if not available():
        raise ReferenceError(method, f"no reference venv at {REFVENV}; run bash {SETUP}")
    n, budget, seed, max_order = int(n), int(budget), int(seed), int(max_order)
    request = {"type": "run", "method": method, "n": n, "budget": budget, "seed": seed,
               "max_order": max_order, "options": dict(options or {})}
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}}
    env["PYTHONNOUSERSITE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    if threads is not None:
        for name in _THREAD_VARIABLES:
            env[name] = str(int(threads))
    with tempfile.TemporaryDirectory(prefix="spexlearn-ref-") as workdir, \
            tempfile.TemporaryFile(mode="w+b") as stderr:
        start = time.perf_counter()
        # cwd is a scratch folder: some references may write sample files where they run.
        proc = subprocess.Popen([str(python()), str(WORKER)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=stderr, cwd=workdir, env=env)
        session = _Session(method, proc, stderr, timeout)
        try:
            header = session.run(request, value_function, n)
        finally:
            session.close()
        wall = time.perf_counter() - start
    result = _result(method, header, n, wall, session)
    if threads is not None:
        result.notes.append(f"worker threads capped at {int(threads)}")
    return result


class _Session:
    """One worker process: the query loop, the watchdog and the clean-up."""

    def __init__(self, method, proc, stderr, timeout):
        self.method, self.proc, self.stderr, self.timeout = method, proc, stderr, timeout
        self.value_seconds = 0.0
        self.masks_served = 0
        self._busy_since: float | None = None  # set while our value function runs
        self._waited = 0.0  # seconds spent in the value function, for the watchdog
        self._started = time.perf_counter()
        self.timed_out = False
        self._done = threading.Event()
        if timeout is not None:
            threading.Thread(target=self._watch, daemon=True).start()

    def _worker_seconds(self) -> float:
        now = time.perf_counter()
        busy = now - self._busy_since if self._busy_since is not None else 0.0
        return now - self._started - self._waited - busy

    def _watch(self):
        while not self._done.wait(0.2):
            if self.proc.poll() is not None:
                return
            if self._worker_seconds() > self.timeout:
                self.timed_out = True
                self.proc.kill()
                return

    def run(self, request, value_function, n) -> dict:
        try:
            write_message(self.proc.stdin, request)
            while True:
                header, payload = read_message(self.proc.stdout)
                kind = header.get("type")
                if kind == "query":
                    values = self._answer(header, payload, value_function, n)
                    write_message(self.proc.stdin, {"type": "values", "m": len(values)},
                                  values.astype("<f8").tobytes())
                elif kind == "result":
                    return header
                elif kind == "error":
                    raise ReferenceError(
                        self.method, f"{header.get('error')}: {header.get('message')}",
                        self.stderr_tail(), header.get("traceback", ""))
                else:
                    raise ReferenceError(self.method, f"unexpected message {header}",
                                         self.stderr_tail())
        except (EOFError, BrokenPipeError, OSError) as exc:
            self.proc.wait(timeout=30)
            if self.timed_out:
                reason = f"timed out after {self.timeout:g} s of worker time"
            else:
                reason = f"worker exited with code {self.proc.returncode} ({exc})"
            raise ReferenceError(self.method, reason, self.stderr_tail()) from None

    def _answer(self, header, payload, value_function, n) -> np.ndarray:
        m = int(header["m"])
        masks = np.frombuffer(payload, dtype=np.uint8).reshape(m, n)
        start = time.perf_counter()
        self._busy_since = start
        try:
            values = np.asarray(value_function(masks.copy()), dtype=float).reshape(-1)
        finally:
            spent = time.perf_counter() - start
            self._waited += spent
            self._busy_since = None
            self.value_seconds += spent
        if values.shape != (m,):
            raise ValueError(f"value_function returned {values.shape[0]} values for {m} masks")
        if not np.all(np.isfinite(values)):
            raise ValueError("value_function returned non-finite values")
        self.masks_served += m
        return values

    def stderr_tail(self) -> str:
        try:
            self.stderr.flush()
            size = self.stderr.seek(0, os.SEEK_END)
            self.stderr.seek(max(0, size - STDERR_TAIL))
            return self.stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def close(self):
        self._done.set()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _result(method, header, n, wall, session) -> ReferenceResult:
    from spexlearn import SparseSpectrum

    kind = header["kind"]
    try:
        spectrum = SparseSpectrum([tuple(s) for s in header["subsets"]], header["coefs"], n,
                                  kind=kind)
    except ValueError as exc:
        raise ReferenceError(method, f"its surrogate is not a valid spectrum: {exc}") from None
    if kind == "mobius":
        spectrum = spectrum.to_fourier()
    notes = list(header.get("notes", []))
    if header["n_queries"] != session.masks_served:
        notes.append(f"worker counted {header['n_queries']} distinct masks, "
                     f"the bridge served {session.masks_served}")
    return ReferenceResult(
        method=method,
        spectrum=spectrum,
        n_queries=int(session.masks_served),
        overhead_seconds=float(header["overhead_seconds"]),
        version=f"{header['version']}; Python {header.get('python', '?')}",
        notes=notes,
        n_requested=int(header["n_requested"]),
        query_seconds=float(header["query_seconds"]),
        value_seconds=session.value_seconds,
        wall_seconds=wall,
        native_kind=kind,
        warnings=list(header.get("warnings", [])),
    )
