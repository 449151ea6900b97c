"""The benchmark suite: every method on every task and budget, written into doc/.

Run (from the repository root, after ``pip install -e ".[benchmarks,llm,plots]"``)::

    python benchmarks/run.py --tasks all                      # everything (about 2 hours)
    python benchmarks/run.py                                  # the synthetic tasks
    python benchmarks/run.py --tasks review,qa,heads          # tasks on the embedded model
    python benchmarks/run.py --tasks synthetic-100 --budgets 500,1000 --methods ours

For each task it draws one pool of distinct uniform random masks (the largest budget; a
smaller budget uses the pool's first masks) and ``--test`` held-out masks, queries them
once through an on-disk cache (``benchmarks/results/cache``), and fits every method:

- ``ours``: spexlearn ``ProxySPEXExplainer`` on the shared pool;
- ``ours-paired``: spexlearn ``ProxySPEXExplainer`` drawing its own paired masks (new
  queries, the default way it runs);
- ``spex``: spexlearn ``SPEXExplainer`` with its own coded design where the budget holds
  one, else on the shared pool;
- ``shapiq``: shapiq's ``ProxySPEX`` on the shared pool (its sampler handed our masks);
- ``spectralexplain``: spectralexplain's ``proxy_spex`` on the shared pool.

Recorded per (task, budget, method): R² on the held-out masks (faithfulness), the share
of the true support among the method's strongest terms where the truth is known, fit
overhead (wall time minus value-function time), and the tracemalloc peak of the fit with
``--memory``. Where every mask can be queried (n <= 14) the exact spectrum is computed and
each method's R² over all masks is set beside the best R² any surrogate with as many terms
can reach. Results go to ``doc/_generated/`` (a Markdown and an RST table, JSON) and the
plots to ``doc/_static/``.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DOC_GENERATED, DOC_STATIC = ROOT / "doc" / "_generated", ROOT / "doc" / "_static"
CACHE = ROOT / "benchmarks" / "results" / "cache"
BUDGETS = (250, 500, 1000, 2000, 5000)
METHODS = ("ours", "ours-paired", "spex", "shapiq", "spectralexplain")
SYNTHETIC = ("synthetic-20", "synthetic-100", "synthetic-500", "synthetic-2000")
REAL = ("review", "qa", "heads")
EXACT_MAX_N = 14
# spectralexplain's proxy_spex took 250 s per fit at n = 500 and budget 5,000.
SPECTRALEXPLAIN_MAX_N = 500


# ------------------------------------------------------------------------------ tasks
@dataclass
class Task:
    name: str
    value: object  # masks -> values
    n: int
    truth: object = None  # SparseSpectrum (Fourier) when known
    notes: str = ""


class Timed:
    """Wraps a value function and counts the time and masks spent in it."""

    def __init__(self, function):
        self.function, self.seconds, self.masks = function, 0.0, 0
        self.n_components = getattr(function, "n_components", None)
        self.component_names = getattr(function, "component_names", None)

    def __call__(self, masks):
        start = time.perf_counter()
        values = np.asarray(self.function(masks), dtype=float)
        self.seconds += time.perf_counter() - start
        self.masks += len(values)
        return values

    def __sklearn_clone__(self):
        return self


def synthetic_task(n: int) -> Task:
    from spexlearn.datasets import SparseFunction, make_sparse_function

    _, truth = make_sparse_function(n, n_terms=40, max_order=3, random_state=0)
    sd = float(np.sqrt((truth.coef[np.asarray(truth.orders) > 0] ** 2).sum()))
    # Noise of 5 % of the signal's sd: real models are never exactly sparse.
    return Task(f"synthetic-{n}", SparseFunction(truth, noise=0.05 * sd, random_state=0), n,
                truth, "40 Fourier terms of order <= 3, noise sd 5 % of the signal's")


def real_task(name: str, lm) -> Task:
    from spexlearn.ablation import HeadAblation, TextAblation

    examples = ROOT / "examples"
    if name == "heads":
        module = _example(examples / "prune_heads.py")
        from spexlearn.lm import LanguageModel

        plain = LanguageModel(lm.model, lm.tokenizer, chat=False)
        answers = [plain.generate(p, max_new_tokens=2)[0] for p in module.PROMPTS]
        value = HeadAblation(plain, module.PROMPTS, answers, cache=CACHE / "heads.cache")
        return Task(name, value, value.n_components, None, "270 heads, 6 prompts")
    module = _example(examples / ("explain_review.py" if name == "review" else "explain_qa.py"))
    if name == "review":
        value = TextAblation(lm, module.REVIEW, template=module.TEMPLATE,
                             target=("positive", "negative"), cache=CACHE / "review.cache")
        return Task(name, value, value.n_components, None, "28 words, label contrast")
    value = TextAblation(lm, module.CONTEXT, unit="sentence", template=module.TEMPLATE,
                         cache=CACHE / "qa.cache")
    return Task(name, value, value.n_components, None, "12 sentences, own answer")


def _example(path: Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------- methods
@dataclass
class Row:
    task: str
    budget: int
    method: str
    r2: float
    overhead: float
    queries: int
    n_terms: int
    support_recall: float | None = None
    r2_all_masks: float | None = None
    best_r2_same_terms: float | None = None
    peak_mib: float | None = None
    notes: list = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.r2 != self.r2  # NaN: the method could not run the task


def fourier_of(method: str, fitted, n: int):
    """The fitted surrogate as a spexlearn SparseSpectrum (Fourier)."""
    from spexlearn import SparseSpectrum

    if method in {"ours", "ours-paired", "spex"}:
        return fitted.spectrum_
    if method == "shapiq":
        mobius = {s: float(fitted.values[i]) for s, i in fitted.interaction_lookup.items()}
        return SparseSpectrum(list(mobius), list(mobius.values()), n, kind="mobius").to_fourier()
    subsets = [tuple(np.flatnonzero(key).tolist()) for key in fitted]
    return SparseSpectrum(subsets, list(fitted.values()), n)


def fit_method(method: str, task: Task, X: np.ndarray, y: np.ndarray, budget: int, seed: int):
    """Fit one method; returns (fitted object, queries it made beyond the pool, notes)."""
    from spexlearn import ProxySPEXExplainer, SPEXExplainer

    if method == "ours":
        return ProxySPEXExplainer(max_order=5, random_state=seed).fit(X, y), 0, []
    if method == "ours-paired":
        explainer = ProxySPEXExplainer(task.value, components=task.n, budget=budget,
                                       max_order=5, random_state=seed).fit()
        return explainer, explainer.n_queries_, ["own paired masks"]
    if method == "spex":
        own = SPEXExplainer(task.value, components=task.n, budget=budget, max_order=5,
                            random_state=seed)
        try:
            own.fit()
            return own, own.n_queries_, [f"own design ({own.fit_mode_})"]
        except ValueError as exc:
            if "below the smallest SPEX design" not in str(exc):
                raise
            return (SPEXExplainer(max_order=5, random_state=seed).fit(X, y), 0,
                    ["budget below its design: regression on the pool"])
    if method == "shapiq":
        from bench_proxyspex import FixedSampler
        from shapiq import ProxySPEX

        approx = ProxySPEX(n=task.n, index="FBII", max_order=task.n, random_state=seed)
        approx._uniform_sampler = FixedSampler(X)
        lookup = {row.tobytes(): v for row, v in zip(X.astype(np.uint8), y)}

        def game(masks):
            return np.array([lookup[row.tobytes()] for row in np.asarray(masks, np.uint8)])

        return approx.approximate(len(X), game), 0, []
    if method == "spectralexplain":
        from spectralexplain.utils import proxy_spex

        return proxy_spex((X.astype(np.int64), np.asarray(y)), max_order=5), 0, []
    raise ValueError(f"unknown method {method!r}; choose from {METHODS}")


def run_one(method, task, X, y, X_test, y_test, budget, seed, exact, memory) -> Row:
    timed = task.value if isinstance(task.value, Timed) else None
    spent_before = timed.seconds if timed else 0.0
    start = time.perf_counter()
    try:
        fitted, extra, notes = fit_method(method, task, X, y, budget, seed)
    except Exception as exc:
        if method in {"ours", "ours-paired", "spex"}:
            raise
        # A reference that cannot run a task is a result too (shapiq at n = 2,000).
        failure = f"failed: {type(exc).__name__}: {exc}"
        return Row(task.name, budget, method, float("nan"), float("nan"), 0, 0,
                   notes=[failure])
    wall = time.perf_counter() - start
    overhead = wall - ((timed.seconds - spent_before) if timed else 0.0)
    spectrum = fourier_of(method, fitted, task.n)
    r2 = _r2(y_test, spectrum.evaluate(X_test))
    row = Row(task.name, budget, method, r2, overhead, len(X) if not extra else extra,
              int((spectrum.orders > 0).sum()), notes=notes)
    if task.truth is not None:
        row.support_recall = support_recall(spectrum, task.truth)
    if exact is not None:
        every, values, energies = exact
        row.r2_all_masks = _r2(values, spectrum.evaluate(every))
        row.best_r2_same_terms = float(energies[: row.n_terms].sum() / energies.sum())
    if memory:
        tracemalloc.start()
        fit_method(method, task, X, y, budget, seed)
        row.peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return row


def support_recall(spectrum, truth) -> float:
    """Share of the true non-constant terms among the method's as many strongest terms."""
    true = {s for s in truth.subsets if s}
    found = sorted(((abs(c), s) for s, c in spectrum if s), reverse=True)[: len(true)]
    return len(true & {s for _, s in found}) / len(true)


def _r2(truth, prediction) -> float:
    truth, prediction = np.asarray(truth, float), np.asarray(prediction, float)
    return float(1 - ((truth - prediction) ** 2).sum() / ((truth - truth.mean()) ** 2).sum())


def exact_reference(task: Task):
    """All 2^n masks, their values, and the sorted energies of the exact spectrum."""
    from spexlearn.spectral._peeling import every_mask, exhaustive_spectrum

    every = every_mask(task.n)
    values = np.asarray(task.value(every), float)
    spectrum = exhaustive_spectrum(every, values, task.n)
    energies = np.sort(spectrum.coef[spectrum.orders > 0] ** 2)[::-1]
    return every, values, energies


# ----------------------------------------------------------------------------- output
def write_tables(rows: list[Row], out: Path) -> None:
    rows = sorted(rows, key=lambda r: (_task_order(r.task), r.budget, METHODS.index(r.method)))
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmark_results.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))
    header = ["task", "budget", "method", "R²", "overhead (s)", "queries", "terms",
              "support recall", "R² all masks / best with as many terms", "peak (MiB)"]
    table = [_cells(r) for r in rows]
    (out / "benchmark_table.md").write_text("\n".join(_markdown(header, table)) + "\n")
    (out / "benchmark_table.rst").write_text("\n".join(_rst(header, table)) + "\n")
    tables = acceptance(rows)
    (out / "benchmark_acceptance.md").write_text(
        "\n\n".join("\n".join(_markdown(*t)) for t in tables) + "\n")
    (out / "benchmark_acceptance.rst").write_text(
        "\n\n".join("\n".join(_rst(*t)) for t in tables) + "\n")


def _cells(r: Row) -> list[str]:
    if r.failed:
        return [r.task, str(r.budget), r.method, r.notes[0][:60], "", "", "", "", "", ""]
    exact = (f"{r.r2_all_masks:.3f} / {r.best_r2_same_terms:.3f}"
             if r.r2_all_masks is not None else "")
    return [r.task, str(r.budget), r.method, f"{r.r2:.4f}", f"{r.overhead:.2f}",
            str(r.queries), str(r.n_terms),
            "" if r.support_recall is None else f"{r.support_recall:.2f}", exact,
            "" if r.peak_mib is None else f"{r.peak_mib:.0f}"]


OURS, REFERENCES = ("ours", "ours-paired", "spex"), ("shapiq", "spectralexplain")


def acceptance(rows: list[Row]) -> list[tuple[list[str], list[list[str]]]]:
    """Two tables: per task and budget our best R² against the best reference's with the
    overhead ratio; and the budget at which ours first reaches the references' best R²
    at 1,000 queries."""
    ok = [r for r in rows if not r.failed]
    tasks = sorted({r.task for r in ok}, key=_task_order)
    leads = []
    for task in tasks:
        for budget in sorted({r.budget for r in ok if r.task == task}):
            here = [r for r in ok if r.task == task and r.budget == budget]
            ours = max((r for r in here if r.method in OURS), key=lambda r: r.r2, default=None)
            refs = [r for r in here if r.method in REFERENCES]
            if ours is None or not refs:
                continue
            best_ref = max(refs, key=lambda r: r.r2)
            proxy = next((r for r in here if r.method == "ours"), ours)
            ratio = proxy.overhead / min(r.overhead for r in refs)
            leads.append([task, str(budget), f"{ours.r2:.4f} ({ours.method})",
                          f"{best_ref.r2:.4f} ({best_ref.method})",
                          "yes" if ours.r2 >= best_ref.r2 else "NO", f"{ratio:.3f}"])
    reach = []
    for task in tasks:
        refs = [r.r2 for r in ok if r.task == task and r.budget == 1000
                and r.method in REFERENCES]
        if refs:
            reached = sorted(r.budget for r in ok if r.task == task and r.method in OURS
                             and r.r2 >= max(refs))
            reach.append([task, f"{max(refs):.4f}", str(reached[0]) if reached else "none"])
    return [(["task", "budget", "our best R² (method)", "best reference R² (method)",
              "ours leads", "ours (shared pool) overhead / faster reference's"], leads),
            (["task", "references' best R² at budget 1,000",
              "smallest budget at which ours reaches it"], reach)]


def _markdown(header: list[str], table: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(cells) + " |" for cells in table)]


def _rst(header: list[str], table: list[list[str]]) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for cells in [header, *table]:
        lines.append("   * - " + (cells[0] or " "))
        lines.extend(f"     - {c or ' '}" for c in cells[1:])
    return lines


def _task_order(task: str) -> tuple:
    if task.startswith("synthetic-"):
        return (0, int(task.split("-")[1]), "")
    return (1, 0, task)


def write_plots(rows: list[Row], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    tasks = sorted({r.task for r in rows}, key=_task_order)
    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.8), squeeze=False,
                             layout="constrained")
    colours = dict(zip(METHODS, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for ax, task in zip(axes[0], tasks):
        budgets = sorted({r.budget for r in rows if r.task == task})
        for method in METHODS:
            points = sorted((r.budget, r.r2) for r in rows if r.task == task
                            and r.method == method)
            if points:
                ax.plot(*zip(*points), marker="o", label=method, color=colours[method])
        ax.set_xscale("log")
        ax.set_xticks(budgets, [str(b) for b in budgets])
        ax.minorticks_off()
        ax.set_title(task)
        ax.set_xlabel("budget (queries)")
        ax.set_ylim(max(-0.1, ax.get_ylim()[0]), 1.02)
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("held-out R²")
    handles = {h.get_label(): h for ax in axes[0] for h in ax.get_lines()}
    fig.legend(handles.values(), handles.keys(), loc="outside lower center",
               ncol=len(handles), fontsize=8)
    fig.savefig(out / "benchmark_faithfulness.png", dpi=100)
    plt.close(fig)
    synthetic = [r for r in rows if r.task in SYNTHETIC and r.budget == 1000]
    if synthetic:
        fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
        for method in METHODS:
            points = sorted((int(r.task.split("-")[1]), r.overhead) for r in synthetic
                            if r.method == method)
            if points:
                ax.plot(*zip(*points), marker="o", label=method)
        ax.set(xscale="log", yscale="log", xlabel="components n",
               ylabel="fit overhead (s), budget 1,000", title="Overhead against n")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.savefig(out / "benchmark_overhead.png", dpi=100)
        plt.close(fig)


# ------------------------------------------------------------------------------- main
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(SYNTHETIC),
                        help="comma-separated task names, or 'all' (synthetic and real)")
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory", action="store_true", help="also trace peak memory")
    parser.add_argument("--out", type=Path, default=DOC_GENERATED)
    parser.add_argument("--plots", type=Path, default=DOC_STATIC)
    parser.add_argument("--replot", action="store_true",
                        help="only rewrite the tables and plots from the results file")
    parser.add_argument("--merge", action="store_true",
                        help="keep rows of other tasks from an earlier results file")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    args = parse_args(argv)
    budgets = sorted(int(b) for b in args.budgets.split(","))
    methods = args.methods.split(",")
    if args.replot:
        rows = [Row(**r) for r in
                json.loads((args.out / "benchmark_results.json").read_text())]
        write_tables(rows, args.out)
        write_plots(rows, args.plots)
        return
    tasks = [*SYNTHETIC, *REAL] if args.tasks == "all" else args.tasks.split(",")
    rows: list[Row] = earlier_rows(args, tasks, methods)
    lm = None
    for name in tasks:
        if name.startswith("synthetic-"):
            task = synthetic_task(int(name.split("-")[1]))
        else:
            if lm is None:
                from spexlearn.lm import load_default_lm

                lm = load_default_lm()
            task = real_task(name, lm)
        task.value = Timed(task.value)
        rng = np.random.default_rng(args.seed)
        from spexlearn._base import draw_uniform_masks

        pool = draw_uniform_masks(task.n, min(max(budgets) + args.test, 2**task.n),
                                  np.random.RandomState(args.seed))
        pool = pool[rng.permutation(len(pool))]  # the constant masks are not held out
        X_all, X_test = pool[args.test :], pool[: args.test]
        y_all = task.value(X_all)
        y_test = (task.truth.evaluate(X_test) if task.truth is not None
                  else task.value(X_test))
        exact = exact_reference(task) if task.n <= EXACT_MAX_N else None
        for budget in budgets:
            budget = min(budget, len(X_all))
            for method in methods:
                if method == "spectralexplain" and task.n > SPECTRALEXPLAIN_MAX_N:
                    print(f"{task.name:>14} {budget:>5} {method:>16}  skipped: n > "
                          f"{SPECTRALEXPLAIN_MAX_N} (4 minutes per fit at n = 500)")
                    continue
                if method == "ours-paired" and budget <= task.n:
                    print(f"{task.name:>14} {budget:>5} {method:>16}  skipped: it refuses a "
                          "budget below n + 1")
                    continue
                row = run_one(method, task, X_all[:budget], y_all[:budget], X_test, y_test,
                              budget, args.seed, exact, args.memory)
                rows.append(row)
                if row.failed:
                    print(f"{task.name:>14} {budget:>5} {method:>16}  {row.notes[0]}")
                    continue
                print(f"{task.name:>14} {budget:>5} {method:>16}  R² {row.r2:.4f}  "
                      f"overhead {row.overhead:7.2f} s  terms {row.n_terms}"
                      + (f"  recall {row.support_recall:.2f}" if row.support_recall is not None
                         else ""), flush=True)
        # Written after every task: a crash or a kill later loses nothing measured so far.
        write_tables(rows, args.out)
        write_plots(rows, args.plots)
    print(f"wrote {args.out / 'benchmark_table.md'} and plots in {args.plots}")


def earlier_rows(args, tasks: list[str], methods: list[str]) -> list[Row]:
    """With ``--merge``, the rows of the results file that this run does not redo."""
    path = args.out / "benchmark_results.json"
    if not (args.merge and path.exists()):
        return []
    return [Row(**r) for r in json.loads(path.read_text())
            if r["task"] not in tasks or r["method"] not in methods]


if __name__ == "__main__":
    main()
