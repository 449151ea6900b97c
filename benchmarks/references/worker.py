"""Run one reference approximator, asking the parent process for every value it needs.

Runs inside ``benchmarks/.refvenv`` (Python 3.12, shapiq 1.8, spectralexplain, context-cite);
started by ``bridge.py`` as ``python worker.py`` and spoken to over stdin/stdout with the
framed protocol of ``_protocol.py``. Nothing here is meant to be imported by our own code.

Every method runs at the reference's own defaults and draws its own masks. The only settings
chosen here are the ones that turn its output into a surrogate one can evaluate on new masks
(the index it reports and the order of that index); ``METHODS`` says, per method, how.

The surrogate goes back as ``{"kind": "mobius" | "fourier", "subsets", "coefs"}``:
Möbius form ``f(x) = sum_{S ⊆ x} a(S)``, Fourier form ``f(x) = sum_S F(S) (-1)^|S ∩ x|``,
``x`` the set of kept components.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _protocol import read_message, write_message

# Dense regressions enumerate every subset up to their order (O(n^order) unknowns); they
# keep their own default order 2 unless the request asks for less.
DENSE_DEFAULT_ORDER = 2
CONTEXTCITE_ABLATIONS = 64  # ContextCiter(num_ablations=64)
CONTEXTCITE_KEEP_PROB = 0.5  # ContextCiter(ablation_keep_prob=0.5)


# ------------------------------------------------------------------------------ values
class Oracle:
    """The game handed to a reference: forwards masks it has not seen to the parent.

    Values are cached by mask, so ``n_queries`` counts distinct masks (what the parent
    evaluated) and ``n_requested`` every row the reference asked for.
    """

    def __init__(self, channel_in, channel_out, n: int):
        self.channel_in, self.channel_out, self.n = channel_in, channel_out, n
        self.cache: dict[bytes, float] = {}
        self.query_seconds = 0.0
        self.n_requested = 0

    @property
    def n_queries(self) -> int:
        return len(self.cache)

    def __call__(self, coalitions) -> np.ndarray:
        masks = np.atleast_2d(np.asarray(coalitions))
        if masks.shape[1] != self.n:
            raise ValueError(f"a reference asked for masks of width {masks.shape[1]}, "
                             f"not n = {self.n}")
        masks = np.ascontiguousarray(masks != 0, dtype=np.uint8)
        keys = [row.tobytes() for row in masks]
        self.n_requested += len(keys)
        new: dict[bytes, int] = {}
        for row, key in enumerate(keys):
            if key not in self.cache and key not in new:
                new[key] = row
        if new:
            rows = masks[list(new.values())]
            start = time.perf_counter()
            write_message(self.channel_out, {"type": "query", "m": len(rows), "n": self.n},
                          rows.tobytes())
            header, payload = read_message(self.channel_in)
            self.query_seconds += time.perf_counter() - start
            if header.get("type") != "values" or header.get("m") != len(rows):
                raise RuntimeError(f"unexpected answer to a query: {header}")
            values = np.frombuffer(payload, dtype="<f8")
            self.cache.update(zip(new, values.tolist()))
        return np.array([self.cache[key] for key in keys], dtype=float)


# ----------------------------------------------------------------------------- helpers
def _version(*packages: str) -> str:
    parts = []
    for package in packages:
        try:
            parts.append(f"{package} {metadata.version(package)}")
            continue
        except metadata.PackageNotFoundError:
            pass
        try:  # e.g. xgboost installed as the xgboost-cpu distribution
            module = __import__(package.replace("-", "_"))
            parts.append(f"{package} {module.__version__}")
        except (ImportError, AttributeError):
            parts.append(f"{package} (not installed)")
    return ", ".join(parts)


def _iv_terms(iv) -> dict[tuple[int, ...], float]:
    """{subset: value} of a shapiq InteractionValues; the empty set as it reports it."""
    values = np.asarray(iv.values, dtype=float)
    terms = {tuple(int(i) for i in s): float(values[pos])
             for s, pos in iv.interaction_lookup.items()}
    if () not in terms:
        terms[()] = float(iv.baseline_value)
    return terms


def _additive_terms(iv) -> dict[tuple[int, ...], float]:
    """v(empty) + sum of kept first-order values, from a first-order InteractionValues."""
    terms = {s: c for s, c in _iv_terms(iv).items() if len(s) == 1}
    terms[()] = float(iv.baseline_value)
    return terms


def _surrogate(kind: str, terms: dict) -> dict:
    subsets = [list(s) for s in terms]
    return {"kind": kind, "subsets": subsets, "coefs": [float(c) for c in terms.values()]}


def _shapiq_version() -> str:
    return _version("shapiq", "lightgbm", "xgboost", "scikit-learn")


# ------------------------------------------------------------------------------ shapiq
def _fbii_of(approximator: str, request, oracle):
    """Run a shapiq approximator whose output is FBII of ``max_order`` (Möbius terms)."""
    import shapiq.approximator

    order = min(request["max_order"], request["n"])
    kind = getattr(shapiq.approximator, approximator)
    iv = kind(n=request["n"], max_order=order, index="FBII", random_state=request["seed"],
              **request["options"]).approximate(request["budget"], oracle)
    return _surrogate("mobius", _iv_terms(iv)), order


def _proxyspex(request, oracle):
    surrogate, order = _fbii_of("ProxySPEX", request, oracle)
    return surrogate, [
        f"FBII of order {order} read out of its Fourier surrogate (order >= the surrogate's "
        "own order: its exact Möbius transform; lower: its uniform least-squares projection)"]


def _spex(request, oracle):
    surrogate, order = _fbii_of("SPEX", request, oracle)
    return surrogate, [
        f"FBII of order {order} of its decoded Fourier transform (exact Möbius when the order "
        "covers the decoded terms); decoding degree at its default (degree_parameter=5)"]


def _proxyshap(request, oracle):
    surrogate, order = _fbii_of("ProxySHAP", request, oracle)
    return surrogate, [
        f"FBII of order {order} read exactly out of its proxy tree ensemble (xgboost by "
        f"default): the uniform least-squares order-{order} projection of the proxy"]


def _dense_order(request) -> int:
    return max(1, min(request["max_order"], DENSE_DEFAULT_ORDER, request["n"]))


def _regression(cls_name: str, index_note: str):
    def run(request, oracle):
        import shapiq.approximator as approximators

        order = _dense_order(request)
        cls = getattr(approximators, cls_name)
        kwargs = {"max_order": order, "random_state": request["seed"], **request["options"]}
        iv = cls(request["n"], **kwargs).approximate(request["budget"], oracle)
        return _surrogate("mobius", _iv_terms(iv)), [index_note.format(order=order)]

    return run


def _first_order(cls_name: str):
    def run(request, oracle):
        import shapiq.approximator as approximators

        cls = getattr(approximators, cls_name)
        kwargs = {"random_state": request["seed"], **request["options"]}
        iv = cls(request["n"], **kwargs).approximate(request["budget"], oracle)
        return _surrogate("mobius", _additive_terms(iv)), [
            "Shapley values as an additive model: v(empty) + sum of the kept components' values"]

    return run


def _polyshap(request, oracle):
    from shapiq.approximator import PolySHAP

    order = _dense_order(request)
    kwargs = {"max_order": order, "random_state": request["seed"], **request["options"]}
    approx = PolySHAP(request["n"], **kwargs)
    captured = {}
    read_off = approx._transform_to_shapley

    def capture(input_values, *args, **kw):
        # Records the fitted polynomial (one coefficient per frontier term) as PolySHAP
        # reads its Shapley values off it; the computation is left as it is.
        captured["values"] = np.array(input_values, dtype=float, copy=True)
        return read_off(input_values, *args, **kw)

    approx._transform_to_shapley = capture
    iv = approx.approximate(request["budget"], oracle)
    if "values" not in captured:
        return _surrogate("mobius", _additive_terms(iv)), [
            "its polynomial could not be read: Shapley values as an additive model"]
    values = captured["values"]
    terms = {tuple(int(i) for i in s): float(values[pos])
             for s, pos in approx.explanation_frontier.items()}
    return _surrogate("mobius", terms), [
        f"its fitted order-{order} polynomial surrogate (the Möbius-form regression over its "
        "k-additive frontier that it reads the Shapley values off)"]


# --------------------------------------------------------------------- spectralexplain
def _spectralexplain(algorithm: str):
    def run(request, oracle):
        from spectralexplain import Explainer

        np.random.seed(request["seed"])  # noqa: NPY002 - it draws from the global RNG
        kwargs = {"sample_budget": request["budget"], "max_order": request["max_order"],
                  **request["options"]}
        if algorithm != "spex":  # "spex" is Explainer's own default algorithm
            kwargs["algorithm"] = algorithm
        explainer = Explainer(oracle, request["n"], **kwargs)
        terms = {tuple(int(i) for i in np.flatnonzero(key)): float(np.real(value))
                 for key, value in explainer.fourier_transform.items()}
        return _surrogate("fourier", terms), [
            f"Explainer(algorithm={algorithm!r}).fourier_transform as returned (Fourier)"]

    return run


# ------------------------------------------------------------------------- ContextCite
def _contextcite_solver():
    """context_cite.solver.LassoRegression, loaded by file: the package itself needs torch."""
    import importlib.util

    spec = importlib.util.find_spec("context_cite")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("context-cite is not installed in the reference venv")
    path = Path(next(iter(spec.submodule_search_locations))) / "solver.py"
    module_spec = importlib.util.spec_from_file_location("_context_cite_solver", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.LassoRegression


def _contextcite_masks(n: int, count: int, base_seed: int) -> np.ndarray:
    """ContextCite's ablation design: mask i from RandomState(base_seed + i), each component
    kept with probability ``ablation_keep_prob`` (its default 0.5)."""
    masks = np.zeros((count, n), dtype=bool)
    for i in range(count):
        rng = np.random.RandomState(base_seed + i)
        masks[i] = rng.choice([False, True], size=n,
                              p=[1 - CONTEXTCITE_KEEP_PROB, CONTEXTCITE_KEEP_PROB])
    return masks


def _contextcite(use_budget: bool):
    def run(request, oracle):
        count = request["budget"] if use_budget else CONTEXTCITE_ABLATIONS
        masks = _contextcite_masks(request["n"], count, request["seed"])
        values = oracle(masks.astype(np.uint8))
        solver = _contextcite_solver()(**request["options"])
        weight, bias = solver.fit(masks, values, 1)
        terms = {(): float(bias)}
        terms.update({(i,): float(w) for i, w in enumerate(np.ravel(weight))})
        notes = [
            "linear surrogate bias + sum of kept weights from its LassoRegression "
            "(alpha 0.01, standardized masks) on our value as given (its own target is the "
            "logit of the response probability, which the bridge cannot form), "
            "num_output_tokens = 1",
            f"{count} Bernoulli(0.5) ablation masks from RandomState(seed + i) "
            f"(seed = {request['seed']}; ContextCite itself always uses seed 0)",
        ]
        if not use_budget:
            notes.append(f"budget ignored: ContextCite's default is {CONTEXTCITE_ABLATIONS} "
                         "ablations")
        return _surrogate("mobius", terms), notes

    return run


# ----------------------------------------------------------------------------- registry
_FSII = ("FSII of order {order} (regression under the Shapley kernel): the Möbius "
         "coefficients of its faithful order-{order} polynomial")
_FBII = ("FBII of order {order} (regression under uniform weights): the Möbius coefficients "
         "of its faithful order-{order} polynomial")
_KSII = ("k-SII of order {order} (its default index) used as Möbius coefficients: exact on "
         "games of order <= {order}, not a least-squares fit otherwise")

# name -> (runner, version packages)
METHODS = {
    "shapiq-proxyspex": (_proxyspex, "shapiq"),
    "shapiq-spex": (_spex, "shapiq"),
    "shapiq-proxyshap": (_proxyshap, "shapiq"),
    "shapiq-oddshap": (_first_order("OddSHAP"), "shapiq"),
    "shapiq-polyshap": (_polyshap, "shapiq"),
    "shapiq-kernelshapiq": (_regression("KernelSHAPIQ", _KSII), "shapiq"),
    "shapiq-regressionfsii": (_regression("RegressionFSII", _FSII), "shapiq"),
    "shapiq-regressionfbii": (_regression("RegressionFBII", _FBII), "shapiq"),
    "shapiq-kernelshap": (_first_order("KernelSHAP"), "shapiq"),
    "shapiq-leverageshap": (_first_order("LeverageSHAP"), "shapiq"),
    "spectralexplain": (_spectralexplain("proxyspex"), "spectralexplain"),
    "spectralexplain-spex": (_spectralexplain("spex"), "spectralexplain"),
    "contextcite": (_contextcite(use_budget=False), "context-cite"),
    "contextcite-budget": (_contextcite(use_budget=True), "context-cite"),
}

# Imports done before the clock starts: start-up is not the method's overhead.
_PREPARE = {
    "shapiq": lambda: __import__("shapiq.approximator"),
    "spectralexplain": lambda: __import__("spectralexplain"),
    "context-cite": _contextcite_solver,
}

_VERSIONS = {
    "shapiq": _shapiq_version,
    "spectralexplain": lambda: _version("spectralexplain", "sparse-transform", "lightgbm"),
    "context-cite": lambda: _version("context-cite", "scikit-learn"),
}


# --------------------------------------------------------------------------------- main
def serve(channel_in, channel_out) -> None:
    header, _ = read_message(channel_in)
    if header.get("type") != "run":
        raise RuntimeError(f"expected a run request, got {header}")
    request = {"options": {}, **header}
    request["options"] = dict(request["options"] or {})
    method = request["method"]
    if method not in METHODS:
        raise ValueError(f"unknown reference method {method!r}; known: {sorted(METHODS)}")
    runner, family = METHODS[method]
    for key in ("n", "budget", "seed", "max_order"):
        request[key] = int(request[key])
    start = time.perf_counter()
    _PREPARE[family]()
    import_seconds = time.perf_counter() - start
    np.random.seed(request["seed"])  # noqa: NPY002 - for references that use the global RNG
    oracle = Oracle(channel_in, channel_out, request["n"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        surrogate, notes = runner(request, oracle)
        wall = time.perf_counter() - start
    seen = []
    for warning in caught:
        text = f"{warning.category.__name__}: {str(warning.message)[:300]}"
        if text not in seen:
            seen.append(text)
    write_message(channel_out, {
        "type": "result",
        **surrogate,
        "n_queries": oracle.n_queries,
        "n_requested": oracle.n_requested,
        "wall_seconds": wall,
        "query_seconds": oracle.query_seconds,
        "overhead_seconds": wall - oracle.query_seconds,
        "import_seconds": import_seconds,
        "version": _VERSIONS[family](),
        "python": sys.version.split()[0],
        "notes": notes,
        "warnings": seen[:20],
    })


def main() -> int:
    # The protocol owns the real stdout; anything a library prints goes to stderr instead.
    channel_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    channel_in = sys.stdin.buffer
    try:
        serve(channel_in, channel_out)
    except EOFError:
        return 3  # the parent went away
    except BaseException as exc:  # every failure goes back to the parent
        traceback.print_exc(file=sys.stderr)
        try:
            write_message(channel_out, {
                "type": "error",
                "error": type(exc).__name__,
                "message": str(exc)[:2000],
                "traceback": traceback.format_exc()[-6000:],
            })
        except (OSError, ValueError):
            pass
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
