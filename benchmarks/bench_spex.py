"""SPEX side by side: spexlearn against shapiq and spectralexplain on the same value function.

Run::

    python benchmarks/bench_spex.py [--n 1000] [--terms 100] [--order 4] [--t 5] [--bits 8]
                                    [--seed 0] [--test 1000] [--noise] [--repeat 2]
                                    [--methods spexlearn,shapiq,spectralexplain]
                                    [--timeout 900] [--no-trace]
                                    [--output benchmarks/results/bench_spex.json]

What it does:

1. builds a synthetic sparse Boolean function with a known Fourier spectrum,
   ``spexlearn.datasets.make_sparse_function(n, terms, order, random_state=seed)`` (100 terms
   of order <= 4 on n = 1,000 components by default). With ``--noise`` every value gets
   Gaussian noise of standard deviation 10 % of the signal's (``0.1 * sqrt(sum of the squared
   non-empty coefficients)``). The noise is a fixed function of the mask (seeded by a hash of
   the mask's bits), so the same mask has the same value in every method and every process:
   the value function behaves like a cache shared by all methods;
2. runs every method in its own fresh Python process (``--worker``), which rebuilds the same
   function, wraps it in a timer and fits the method with ``t = --t`` and ``2^--bits`` bins
   per group. Per method it reports:

   - queries: rows passed to the value function and distinct masks among them;
   - overhead (s): wall time of the fit minus the time inside the value function (the
     "decode overhead"; any one-time JIT compilation in the fit is included);
   - overhead of a later fit (s): the same fit repeated ``--repeat - 1`` times in the same
     process (the least is reported): the steady state, without one-time costs;
   - fresh-process overhead (s): from just before the interpreter was launched to the end of
     the fit, minus the time inside the value function and minus the benchmark's own set-up
     (building the synthetic function and the test masks): interpreter start-up and imports
     included;
   - R² of the surrogate against the noise-free function on ``--test`` held-out uniformly
     random masks (seeded, the same masks for every method);
   - peak memory: ``ru_maxrss`` of the worker process (MiB), and for spexlearn the
     tracemalloc peak of the fit (a separate run, so that tracing does not touch the timings);
   - the ratio of spexlearn's overhead to each reference's.

   spexlearn runs twice: with a cold BCH cache (``SPEXLEARN_CACHE_DIR`` set to a new empty
   directory, so galois builds the code in the process) and then warm (the same directory).

Methods (each as its package ships it, used as a black box):

- ``spexlearn``: ``SPEXExplainer(f, n, budget=C (p+1) 2^bits, max_order=t,
  random_state=seed).fit()`` with C = 3 and our p = parity rows of the BCH code.
- ``shapiq``: ``shapiq.SPEX(n=n, index="FBII", max_order=t, degree_parameter=t,
  decoder_type="soft", random_state=seed).approximate(budget, f)`` with ``budget`` the size of
  its own b = bits design (``SubsampledSignal.get_number_of_samples``). FBII of order t equals
  the Möbius transform of its surrogate (SPEX finds terms of order <= t), which is how R² is
  evaluated.
- ``spectralexplain``: ``spectralexplain.sampling_strategy(f, 3, bits, n, None, t=t)`` then
  ``spectralexplain.support_recovery("soft", signal, bits, t)``: exactly the two calls that
  ``spectralexplain.Explainer(f, n, sample_budget=None, max_order=t)`` makes (its default is
  b = 8). Passing ``sample_budget`` instead makes the Explainer first build a b = 12 design
  with a dummy function only to read off the sizes, which at n = 1,000 means about 5 GB of
  int64 query indices; we skip that step.

Both references draw their masks from NumPy's global RNG: it is seeded before each run.
A worker that does not finish within ``--timeout`` seconds is reported as timed out (its
first fit is kept if only the later fits were cut off). Every row records the 1-minute load
average before and after its worker: on a shared machine compare ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

METHODS = ("spexlearn", "shapiq", "spectralexplain")
N_GROUPS = 3
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "bench_spex.json"


# ============================================================================ worker side
class TimedFunction:
    """The value function: the true sparse function (plus mask-seeded noise), timed.

    Everything inside ``__call__`` (dtype conversion included) counts as value-function time.
    """

    def __init__(self, truth, noise_sd: float, seed: int):
        self.truth = truth
        self.noise_sd = float(noise_sd)
        self.seed = int(seed)
        self.n_components = truth.n_components
        self.component_names = [f"x{i}" for i in range(truth.n_components)]
        self.seconds = 0.0
        self.calls = 0
        self.rows = 0
        self._packed = []

    def __call__(self, masks):
        import numpy as np

        start = time.perf_counter()
        masks = np.asarray(masks)
        if masks.dtype != np.uint8:
            masks = masks.astype(np.uint8)
        values = self.truth.evaluate(masks)
        packed = np.packbits(masks, axis=1)
        if self.noise_sd > 0:
            values = values + self.noise_sd * mask_noise(packed, self.seed)
        self._packed.append(packed)
        self.calls += 1
        self.rows += masks.shape[0]
        self.seconds += time.perf_counter() - start
        return values

    def distinct(self) -> int:
        import numpy as np

        if not self._packed:
            return 0
        packed = np.concatenate(self._packed)
        return len({row.tobytes() for row in packed})


def mask_noise(packed, seed: int):
    """Standard normal draws that depend only on (mask, seed): Box-Muller on a blake2b hash."""
    import hashlib

    import numpy as np

    key = seed.to_bytes(8, "little", signed=True)
    words = np.empty((packed.shape[0], 2), dtype=np.uint64)
    for i, row in enumerate(packed):
        digest = hashlib.blake2b(row.tobytes(), digest_size=16, key=key).digest()
        words[i] = np.frombuffer(digest, dtype=np.uint64)
    u1 = ((words[:, 0] >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    u2 = (words[:, 1] >> np.uint64(11)).astype(np.float64) / 2.0**53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def make_problem(args):
    """(truth SparseSpectrum, noise sd, test masks, noise-free test values)."""
    import numpy as np

    from spexlearn.datasets import make_sparse_function

    _, truth = make_sparse_function(args.n, args.terms, args.order, random_state=args.seed)
    signal_sd = float(np.sqrt(np.sum(truth.coef[truth.orders > 0] ** 2)))
    noise_sd = 0.1 * signal_sd if args.noise else 0.0
    rng = np.random.default_rng(args.seed + 12345)
    X_test = rng.integers(0, 2, size=(args.test, args.n), dtype=np.uint8)
    return truth, noise_sd, X_test, truth.evaluate(X_test)


def fit_spexlearn(f, args):
    from spexlearn import SPEXExplainer
    from spexlearn.spectral._design import design_size

    budget = design_size(args.n, args.t, args.bits, N_GROUPS)
    est = SPEXExplainer(f, args.n, budget=budget, max_order=args.t, random_state=args.seed)
    est.fit()
    info = {
        "config": (
            f"SPEXExplainer(f, {args.n}, budget={budget}, max_order={args.t}, "
            f"random_state={args.seed}).fit()"
        ),
        "bits": est.design_.n_bits,
        "design_queries": est.design_.n_queries,
        "n_queries_": est.n_queries_,
        "query_seconds_": est.query_seconds_,
        "n_peeled": est.n_peeled_,
        "budget": budget,
    }
    return est.spectrum_.evaluate, len(est.spectrum_), info


def fit_shapiq(f, args):
    import numpy as np
    from shapiq import SPEX
    from sparse_transform.qsft.signals.input_signal_subsampled import SubsampledSignal

    from spexlearn.spectral import SparseSpectrum

    np.random.seed(args.seed)  # noqa: NPY002  (the references draw from the global RNG)
    approx = SPEX(
        n=args.n, index="FBII", max_order=args.t, degree_parameter=args.t,
        decoder_type="soft", random_state=args.seed,
    )
    budget = SubsampledSignal.get_number_of_samples(args.n, args.bits, args.t, 2, approx.query_args)
    values = approx.approximate(budget, f)
    bits = approx.query_args.get("b")
    # FBII of order t = Möbius transform of the surrogate (its terms have order <= t).
    lookup = values.interaction_lookup
    coefs = np.asarray(values.values, dtype=np.float64)
    mobius = SparseSpectrum(list(lookup), [coefs[i] for i in lookup.values()], args.n, "mobius")
    info = {
        "config": (
            f"shapiq.SPEX(n={args.n}, index='FBII', max_order={args.t}, "
            f"degree_parameter={args.t}, decoder_type='soft', random_state={args.seed})"
            f".approximate({budget}, f)"
        ),
        "bits": bits,
        "design_queries": int(values.estimation_budget),
        "budget": int(budget),
    }
    n_terms = int(np.count_nonzero(mobius.coef))
    return mobius.evaluate, n_terms, info


def fit_spectralexplain(f, args):
    import numpy as np
    import spectralexplain

    from spexlearn.spectral import SparseSpectrum

    np.random.seed(args.seed)  # noqa: NPY002  (the references draw from the global RNG)
    signal, sizes = spectralexplain.sampling_strategy(f, 3, args.bits, args.n, None, t=args.t)
    coefs = spectralexplain.support_recovery("soft", signal, args.bits, args.t)
    subsets = [tuple(np.flatnonzero(key).tolist()) for key in coefs]
    fourier = SparseSpectrum(subsets, [float(np.real(c)) for c in coefs.values()], args.n)
    info = {
        "config": (
            f"spectralexplain.sampling_strategy(f, 3, {args.bits}, {args.n}, None, t={args.t}); "
            f"spectralexplain.support_recovery('soft', signal, {args.bits}, {args.t})"
        ),
        "bits": args.bits,
        "design_queries": int(sizes[args.bits]),
    }
    return fourier.evaluate, len(coefs), info


FITTERS = {
    "spexlearn": fit_spexlearn,
    "shapiq": fit_shapiq,
    "spectralexplain": fit_spectralexplain,
}


def worker(args) -> None:
    """Fit one method in this (fresh) process; print one JSON line on stdout."""
    t_main = time.time()
    if args.trace:
        import tracemalloc
    import numpy as np  # noqa: F401  (imports belong to start-up)
    from sklearn.metrics import r2_score

    # The package's names load on first use: start-up includes the explainers' import.
    from spexlearn import ProxySPEXExplainer, SPEXExplainer  # noqa: F401

    if args.worker == "shapiq":
        import shapiq  # noqa: F401
    elif args.worker == "spectralexplain":
        import spectralexplain  # noqa: F401
    t_imports = time.time()
    truth, noise_sd, X_test, y_test = make_problem(args)
    f = TimedFunction(truth, noise_sd, args.seed)
    setup = time.time() - t_imports
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    if args.trace:
        tracemalloc.start()
    start = time.perf_counter()
    predict, n_terms, info = FITTERS[args.worker](f, args)
    fit_wall = time.perf_counter() - start
    t_end = time.time()
    trace_peak = None
    if args.trace:
        trace_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    r2 = float(r2_score(y_test, predict(X_test)))
    result = {
        "method": args.worker,
        "n": args.n,
        "noise_sd": noise_sd,
        "rows_queried": f.rows,
        "distinct_masks": f.distinct(),
        "value_function_calls": f.calls,
        "value_function_s": f.seconds,
        "fit_wall_s": fit_wall,
        "overhead_s": fit_wall - f.seconds,
        "startup_s": t_imports - args.launch_time,
        "interpreter_s": t_main - args.launch_time,
        "setup_s": setup,
        "fresh_process_overhead_s": (t_end - args.launch_time) - setup - f.seconds,
        "r2": r2,
        "n_terms": int(n_terms),
        "maxrss_mib": rss_peak / 1024.0,
        "maxrss_before_fit_mib": rss_before / 1024.0,
        "tracemalloc_peak_mib": None if trace_peak is None else trace_peak / 2**20,
        **info,
    }
    # Printed (and flushed) now, so that a timeout during the later fits keeps it.
    print("RESULT " + json.dumps(result), flush=True)

    # Later fits in the same process: one-time costs (imports, JIT compilation, code
    # construction without a cache) are gone, what is left is the steady-state overhead.
    for _ in range(1, 1 if args.trace else args.repeat):
        g = TimedFunction(truth, noise_sd, args.seed)
        start = time.perf_counter()
        predict_again, _, _ = FITTERS[args.worker](g, args)
        wall = time.perf_counter() - start
        later = {
            "fit_wall_s": wall,
            "value_function_s": g.seconds,
            "overhead_s": wall - g.seconds,
            "r2": float(r2_score(y_test, predict_again(X_test))),
        }
        print("LATER " + json.dumps(later), flush=True)


# ============================================================================ parent side
def run_worker(method: str, args, *, env=None, trace=False) -> dict:
    cmd = [
        sys.executable, __file__, "--worker", method,
        "--n", str(args.n), "--terms", str(args.terms), "--order", str(args.order),
        "--t", str(args.t), "--bits", str(args.bits), "--seed", str(args.seed),
        "--test", str(args.test), "--repeat", str(args.repeat),
    ]
    if args.noise:
        cmd.append("--noise")
    if trace:
        cmd.append("--trace")
    load_before = os.getloadavg()[0]
    launch = time.time()
    cmd += ["--launch-time", repr(launch)]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=args.timeout, check=False
        )
        stdout, stderr, returncode, timed_out = proc.stdout, proc.stderr, proc.returncode, False
    except subprocess.TimeoutExpired as exc:
        stdout, stderr, returncode, timed_out = _text(exc.stdout), _text(exc.stderr), None, True
    wall = time.time() - launch
    load_after = os.getloadavg()[0]
    lines = stdout.splitlines()
    first = [line for line in lines if line.startswith("RESULT ")]
    if not first:
        if timed_out:
            error = f"timed out after {args.timeout:.0f} s (load average {load_before:.1f} "
            error += f"-> {load_after:.1f})"
        else:
            tail = (stderr or stdout).strip().splitlines()[-5:]
            error = f"exit {returncode}: " + " | ".join(tail)
        return {"method": method, "error": error, "load_before": load_before,
                "load_after": load_after}
    result = json.loads(first[-1][len("RESULT "):])
    result["later_fits"] = [json.loads(line[len("LATER "):]) for line in lines
                            if line.startswith("LATER ")]
    result["later_overhead_s"] = min(
        (a["overhead_s"] for a in result["later_fits"]), default=None
    )
    if timed_out:
        result["note"] = f"later fit(s) cut off by the {args.timeout:.0f} s time limit"
    result["process_wall_s"] = wall
    # 1-minute load average before and after: timings on a shared machine are noisy.
    result["load_before"], result["load_after"] = load_before, load_after
    return result


def _text(data) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for package in ("spexlearn", "shapiq", "spectralexplain", "sparse-transform", "galois",
                    "numpy", "numba"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    return out


def fmt(value, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def print_table(rows: list) -> None:
    print()
    print(
        "| method | b | queries (distinct) | R² | overhead (s) | overhead, later fit (s) "
        "| fresh-process overhead (s) | peak RSS (MiB) | tracemalloc peak (MiB) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['label']} | | | | | | | | {r['error']} |")
            continue
        print(
            f"| {r['label']} | {r['bits']} | {r['rows_queried']} ({r['distinct_masks']}) "
            f"| {r['r2']:.4f} | {r['overhead_s']:.2f} | {fmt(r['later_overhead_s'])} "
            f"| {r['fresh_process_overhead_s']:.2f} | {r['maxrss_mib']:.0f} "
            f"| {fmt(r['tracemalloc_peak_mib'], '.0f')} |"
        )
    ratios = overhead_ratios(rows)
    if ratios:
        print()
        print(
            "| overhead ratio spexlearn / reference | cold cache, 1st fit "
            "| warm cache, 1st fit | later fit in the same process |"
        )
        print("|---|---|---|---|")
        for name, values in ratios.items():
            cells = " | ".join(fmt(values[key], ".4f") for key in ("cold", "warm", "later"))
            print(f"| {name} | {cells} |")
    print()
    for r in rows:
        if "error" not in r:
            later = ", ".join(
                f"{a['overhead_s']:.2f} s (R² {a['r2']:.4f})" for a in r["later_fits"]
            )
            print(
                f"{r['label']}: start-up {r['startup_s']:.2f} s "
                f"(interpreter {r['interpreter_s']:.2f} s), value function "
                f"{r['value_function_s']:.3f} s in {r['value_function_calls']} calls, "
                f"fit wall {r['fit_wall_s']:.2f} s, {r['n_terms']} terms, "
                f"later fits: {later or 'none'}, load average {r['load_before']:.1f} -> "
                f"{r['load_after']:.1f}; {r['config']}"
                + (f" [{r['note']}]" if r.get("note") else "")
            )


def overhead_ratios(rows: list) -> dict:
    """{reference: {"cold", "warm", "later": spexlearn overhead / reference overhead}}."""
    ok = {r["label"]: r for r in rows if "error" not in r}
    cold, warm = ok.get("spexlearn (cold cache)"), ok.get("spexlearn (warm cache)")
    out = {}
    for label, ref in ok.items():
        if label.startswith("spexlearn"):
            continue

        def ratio(ours, key, ref=ref):
            if ours is None or ours.get(key) is None or not ref.get(key):
                return None
            return ours[key] / ref[key]

        out[label] = {
            "cold": ratio(cold, "overhead_s"),
            "warm": ratio(warm, "overhead_s"),
            "later": ratio(warm, "later_overhead_s"),
        }
    return out


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--terms", type=int, default=100)
    parser.add_argument("--order", type=int, default=4, help="largest order of the true terms")
    parser.add_argument("--t", type=int, default=5, help="max_order / BCH t of every method")
    parser.add_argument("--bits", type=int, default=8, help="b: 2^b bins per group")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--noise", action="store_true", help="noise sd = 10%% of the signal sd")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--repeat", type=int, default=2,
                        help="fits per worker process; the later ones give the steady state")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per worker")
    parser.add_argument("--no-trace", action="store_true", help="skip the tracemalloc run")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--launch-time", type=float, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.worker:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            worker(args)
        return
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise SystemExit(f"unknown methods: {sorted(unknown)}; choose from {METHODS}")
    print(
        f"n={args.n} terms={args.terms} order<={args.order} t={args.t} b={args.bits} "
        f"seed={args.seed} test={args.test} noise={'10% of signal sd' if args.noise else 'none'} "
        f"cpus={os.cpu_count()}",
        flush=True,
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="spexlearn-bench-cache-") as cache_dir:
        for method in methods:
            if method == "spexlearn":
                env = {**os.environ, "SPEXLEARN_CACHE_DIR": cache_dir}
                for label in ("cold", "warm"):
                    row = run_worker(method, args, env=env)
                    row["label"] = f"spexlearn ({label} cache)"
                    if not args.no_trace and label == "warm" and "error" not in row:
                        traced = run_worker(method, args, env=env, trace=True)
                        row["tracemalloc_peak_mib"] = traced.get("tracemalloc_peak_mib")
                    rows.append(row)
                    print(f"  done: {row['label']}", flush=True)
            else:
                row = run_worker(method, args)
                row["label"] = method
                rows.append(row)
                print(f"  done: {method}", flush=True)
    print_table(rows)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                     if k not in ("worker", "trace", "launch_time")},
        "machine": {"cpus": os.cpu_count()},
        "versions": versions(),
        "results": rows,
        "overhead_ratios": overhead_ratios(rows),
    }
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
