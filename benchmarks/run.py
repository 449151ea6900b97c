"""The benchmark suite: our defaults against the references' defaults, written into doc/.

Run (from the repository root, after ``pip install -e ".[llm,plots]"`` and
``bash benchmarks/references/setup_env.sh`` for the references' own Python 3.12 venv)::

    python benchmarks/run.py --tasks all                      # everything (hours)
    python benchmarks/run.py                                  # the synthetic tasks
    python benchmarks/run.py --tasks review,qa --merge        # tasks on the embedded model
    python benchmarks/run.py --tasks synthetic-100 --budgets 500,1000 --methods proxyspex,spex
    python benchmarks/run.py --replot                         # tables and plots from the JSON

Every method draws its own masks at its own defaults and gets their values from one
on-disk cache per task (``benchmarks/results/cache``), so a mask two methods ask for is
queried once:

- ``proxyspex``: spexlearn ``ProxySPEXExplainer`` with every default but the budget;
- ``spex``: spexlearn ``SPEXExplainer`` likewise (a budget below its design is refused,
  and recorded as such);
- the references of ``benchmarks/references`` (shapiq 1.8's ProxySPEX, SPEX, ProxySHAP,
  OddSHAP, PolySHAP, KernelSHAP-IQ, RegressionFSII/FBII, KernelSHAP, LeverageSHAP;
  spectralexplain; ContextCite's LASSO on sentence tasks), each in its own venv through
  the bridge, at its own defaults.

Recorded per (task, budget, method): R² on ``--test`` held-out uniform random masks
(faithfulness; against the noise-free truth on synthetic tasks), our explainers' own
estimate ``faithfulness_`` beside it, the share of the true support among the method's
strongest terms where the truth is known, fit overhead (wall time minus value-function
time), and distinct queries. Where every mask can be queried (n <= 14) the exact spectrum
is computed and each method's R² over all masks is set beside the best R² any surrogate
with as many terms can reach. Results go to ``doc/_generated/`` (Markdown and RST tables,
JSON, the reference versions) and the plots to ``doc/_static/``.
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
OURS = ("proxyspex", "spex")
# The references run by default: every shapiq 1.8 approximator that yields a surrogate,
# spectralexplain's default algorithm, and ContextCite on sentence tasks. Its proxy_spex
# (100-870 s a fit at n <= 10 here) runs only when named in --methods.
REFERENCES = ("shapiq-proxyspex", "shapiq-spex", "shapiq-proxyshap", "shapiq-oddshap",
              "shapiq-polyshap", "shapiq-kernelshapiq", "shapiq-regressionfsii",
              "shapiq-regressionfbii", "shapiq-kernelshap", "shapiq-leverageshap",
              "spectralexplain-spex", "contextcite")
OPTIONAL = ("spectralexplain", "contextcite-budget")
METHODS = (*OURS, *REFERENCES, *OPTIONAL)
SYNTHETIC = ("synthetic-20", "synthetic-100", "synthetic-500", "synthetic-2000")
REAL = ("review", "review-sentences", "qa", "heads")
SENTENCE_TASKS = ("qa", "review-sentences")
EXACT_MAX_N = 14
# Above this n the references that build every subset up to their order (regression
# approximators, KernelSHAP-IQ, PolySHAP) or decode with numba-compiled BCH codes run for
# hours or run out of memory; they are recorded as skipped.
REGRESSION_MAX_N = 100
SPECTRALEXPLAIN_MAX_N = 500
# The references whose surrogate has at most this order (Shapley values as an additive
# model; order-2 polynomials). No such surrogate scores a higher R² on the test masks than
# the least-squares fit of every term up to that order on the test masks themselves: where
# ours beats that bound, the reference cannot beat ours at any budget (see order_bounds).
REFERENCE_ORDER = {"shapiq-oddshap": 1, "shapiq-kernelshap": 1, "shapiq-leverageshap": 1,
                   "contextcite": 1, "contextcite-budget": 1, "shapiq-polyshap": 2,
                   "shapiq-kernelshapiq": 2, "shapiq-regressionfsii": 2,
                   "shapiq-regressionfbii": 2}
BOUNDS = "benchmark_bounds.json"
# The rows benchmarks/close_rows.py examined, written beside the tables.
CLOSE_ROWS = "close_rows.json"


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
    # Noise of 5 % of the signal's sd: real models are never exactly sparse. It is a
    # function of the mask, as from a real model: drawn per call, a method's result
    # depended on the order of its queries, and two methods saw different values for
    # the same mask.
    value = SparseFunction(truth, noise=0.05 * sd, random_state=0, repeatable=True)
    return Task(f"synthetic-{n}", value, n, truth,
                "40 Fourier terms of order <= 3, noise sd 5 % of the signal's, the same "
                "for the same mask")


# A dense sentence-level task (16 sentences, above the exhaustive limit): every sentence
# moves the verdict a little, and some cancel.
LONG_REVIEW = (
    "I booked this hotel for a week in March. The location is superb, two minutes from the "
    "old town. Check-in took forty minutes because only one clerk was working. Our room was "
    "spacious and the bed was comfortable. The bathroom, however, smelled of mould. "
    "Breakfast was generous, with fresh bread and good coffee. The walls are thin, so we "
    "heard our neighbours every night. The staff in the restaurant were warm and helpful. "
    "The pool was closed for repairs, which nobody mentioned when we booked. The views "
    "from the roof terrace are stunning at sunset. Prices at the bar are outrageous. "
    "Housekeeping was thorough and friendly. The air conditioning rattled all night. "
    "The lift was out of order on our last two days. The shuttle to the airport was free "
    "and on time. Overall, I would stay here again, but only at a discount."
)


def real_task(name: str, lm) -> Task:
    from spexlearn.ablation import HeadAblation, TextAblation

    if name == "heads":
        module = load_example("prune_heads")
        from spexlearn.lm import LanguageModel

        plain = LanguageModel(lm.model, lm.tokenizer, chat=False)
        answers = [plain.generate(p, max_new_tokens=2)[0] for p in module.PROMPTS]
        value = HeadAblation(plain, module.PROMPTS, answers, cache=CACHE / "heads.cache")
        return Task(name, value, value.n_components, None, "270 heads, 6 prompts")
    if name == "review-sentences":
        review = load_example("explain_review")
        value = TextAblation(lm, LONG_REVIEW, unit="sentence", template=review.TEMPLATE,
                             target=("positive", "negative"),
                             cache=CACHE / "review-sentences.cache")
        return Task(name, value, value.n_components, None, "16 sentences, label contrast")
    module = load_example("explain_review" if name == "review" else "explain_qa")
    if name == "review":
        value = TextAblation(lm, module.REVIEW, template=module.TEMPLATE,
                             target=("positive", "negative"), cache=CACHE / "review.cache")
        return Task(name, value, value.n_components, None, "28 words, label contrast")
    value = TextAblation(lm, module.CONTEXT, unit="sentence", template=module.TEMPLATE,
                         cache=CACHE / "qa.cache")
    return Task(name, value, value.n_components, None, "12 sentences, own answer")


def load_example(name: str):
    """``examples/<name>.py`` as a module: the benchmarks use the examples' own texts and
    templates (every benchmark script loads them through this)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
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
    faithfulness: float | None = None  # our explainers' own estimate, from their queries
    support_recall: float | None = None
    r2_all_masks: float | None = None
    best_r2_same_terms: float | None = None
    peak_mib: float | None = None
    notes: list = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.r2 != self.r2  # NaN: the method could not run the task


def skip_reason(method: str, task: Task) -> str | None:
    """Why a method is not run on a task (None: it is)."""
    if method.startswith("contextcite") and task.name not in SENTENCE_TASKS:
        return "ContextCite attributes sentences of a context"
    if method == "spectralexplain" and task.n > 20:
        return "its proxy_spex grid search takes minutes a fit even at n <= 10"
    if method.startswith("spectralexplain") and task.n > SPECTRALEXPLAIN_MAX_N:
        return f"n > {SPECTRALEXPLAIN_MAX_N}"
    if method in {"shapiq-polyshap", "shapiq-kernelshapiq", "shapiq-regressionfsii",
                  "shapiq-regressionfbii", "shapiq-spex"} and task.n > REGRESSION_MAX_N:
        return f"n > {REGRESSION_MAX_N}: every subset up to its order is a regression column"
    return None


def fit_method(method: str, task: Task, budget: int, seed: int):
    """Fit one method at its defaults; returns (surrogate as a Fourier SparseSpectrum,
    distinct queries, overhead seconds or None to measure here, our estimate, notes)."""
    from spexlearn import ProxySPEXExplainer, SPEXExplainer

    if method in OURS:
        kind = ProxySPEXExplainer if method == "proxyspex" else SPEXExplainer
        explainer = kind(task.value, components=task.n, budget=budget, random_state=seed)
        explainer.fit()
        notes = [f"surrogate: {explainer.selected_surrogate_}"]
        return (explainer.spectrum_, explainer.n_queries_, None, explainer.faithfulness_,
                notes)
    from references.bridge import run_reference

    result = run_reference(method, task.value, n=task.n, budget=budget, seed=seed, threads=1)
    return result.spectrum, result.n_queries, result.overhead_seconds, None, [
        f"{result.version}", *result.notes]


def run_one(method, task, X_test, y_test, budget, seed, exact, memory) -> Row:
    timed = task.value
    spent_before = timed.seconds
    start = time.perf_counter()
    try:
        spectrum, queries, overhead, estimate, notes = fit_method(method, task, budget, seed)
    except Exception as exc:
        # A method that cannot run a task is a result too: SPEX below its smallest design,
        # shapiq's ProxySPEX at n = 2,000.
        failure = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        return Row(task.name, budget, method, float("nan"), float("nan"), 0, 0,
                   notes=[failure])
    wall = time.perf_counter() - start
    if overhead is None:
        overhead = wall - (timed.seconds - spent_before)
    r2 = _r2(y_test, spectrum.evaluate(X_test))
    row = Row(task.name, budget, method, r2, overhead, int(queries),
              int((spectrum.orders > 0).sum()), faithfulness=estimate, notes=notes)
    if task.truth is not None:
        row.support_recall = support_recall(spectrum, task.truth)
    if exact is not None:
        every, values, energies = exact
        row.r2_all_masks = _r2(values, spectrum.evaluate(every))
        row.best_r2_same_terms = float(energies[: row.n_terms].sum() / energies.sum())
    if memory and method in OURS:
        tracemalloc.start()
        fit_method(method, task, budget, seed)
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
    from spexlearn.masks import every_mask
    from spexlearn.spectral._peeling import exhaustive_spectrum

    every = every_mask(task.n)
    values = np.asarray(task.value(every), float)
    spectrum = exhaustive_spectrum(every, values, task.n)
    energies = np.sort(spectrum.coef[spectrum.orders > 0] ** 2)[::-1]
    return every, values, energies


def order_bounds(X_test: np.ndarray, y_test: np.ndarray) -> dict[str, float]:
    """The best R² any surrogate of order <= 1 and <= 2 can score on the test masks: the
    least-squares fit of every such term on the test masks themselves (an upper bound; 1
    where the terms are as many as the masks, counted before any column is built: order 2
    of 2,000 components would be 2 million columns)."""
    from itertools import combinations
    from math import comb

    from spexlearn.spectral import SparseSpectrum

    m, n = np.shape(X_test)
    bounds = {}
    for order in (1, 2):
        if sum(comb(n, k) for k in range(order + 1)) >= m:
            bounds[str(order)] = 1.0
            continue
        subsets = [s for k in range(order + 1) for s in combinations(range(n), k)]
        design = SparseSpectrum(subsets, np.zeros(len(subsets)), n).basis(X_test)
        fitted = design @ np.linalg.lstsq(design, y_test, rcond=None)[0]
        bounds[str(order)] = _r2(y_test, fitted)
    return bounds


def record_bounds(task: Task, X_test, y_test, out: Path) -> None:
    """Adds the task's components and order bounds to ``benchmark_bounds.json``."""
    path = out / BOUNDS
    known = json.loads(path.read_text()) if path.exists() else {}
    known[task.name] = {"n": task.n, **order_bounds(X_test, y_test)}
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(known, indent=1, sort_keys=True))


# ----------------------------------------------------------------------------- output
def write_tables(rows: list[Row], out: Path) -> None:
    rows = sorted(rows, key=lambda r: (_task_order(r.task), r.budget, _method_order(r.method)))
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmark_results.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))
    header = ["task", "budget", "method", "R²", "own estimate", "overhead (s)", "queries",
              "terms", "support recall", "R² all masks / best with as many terms"]
    table = [_cells(r) for r in rows]
    (out / "benchmark_table.md").write_text("\n".join(_markdown(header, table)) + "\n")
    (out / "benchmark_table.rst").write_text("\n".join(_rst(header, table)) + "\n")
    bounds_path, close_path = out / BOUNDS, out / CLOSE_ROWS
    tables = acceptance(rows, json.loads(bounds_path.read_text())
                        if bounds_path.exists() else {},
                        set(json.loads(close_path.read_text())) if close_path.exists() else ())
    (out / "benchmark_acceptance.md").write_text(
        "\n\n".join("\n".join(_markdown(*t)) for t in tables) + "\n")
    (out / "benchmark_acceptance.rst").write_text(
        "\n\n".join("\n".join(_rst(*t)) for t in tables) + "\n")
    versions = sorted({(r.method, r.notes[0]) for r in rows
                       if r.method not in OURS and not r.failed and r.notes})
    listed = "\n".join(f"- {method}: {version}" for method, version in versions) + "\n"
    (out / "benchmark_versions.md").write_text(listed)
    (out / "benchmark_versions.rst").write_text(listed)  # a bullet list in both


def _cells(r: Row) -> list[str]:
    if r.failed:
        return [r.task, str(r.budget), r.method, r.notes[0][:70], "", "", "", "", "", ""]
    exact = (f"{r.r2_all_masks:.3f} / {r.best_r2_same_terms:.3f}"
             if r.r2_all_masks is not None else "")
    return [r.task, str(r.budget), r.method, f"{r.r2:.4f}",
            "" if r.faithfulness is None else f"{r.faithfulness:.4f}",
            f"{r.overhead:.2f}", str(r.queries), str(r.n_terms),
            "" if r.support_recall is None else f"{r.support_recall:.2f}", exact]


def acceptance(rows: list[Row], bounds: dict, close=()
               ) -> list[tuple[list[str], list[list[str]]]]:
    """Three tables: per task and budget our defaults against the best reference; per task
    the budget at which default ProxySPEX reaches the references' best R² at 1,000
    queries; and how close our explainers' own estimate came to the measured R².

    ``bounds``: per task its ``n`` and the order bounds (see :func:`order_bounds`). A
    reference not run at a budget counts as beaten where it cannot run the task, or where
    its surrogate's order bound is below our R²; otherwise the lead is "of those run".
    ``close``: the rows ("task@budget") that ``close_rows.py`` examined; a lost lead there
    points to it."""
    ok = [r for r in rows if not r.failed]
    tasks = sorted({r.task for r in ok}, key=_task_order)
    leads = []
    for task in tasks:
        for budget in sorted({r.budget for r in rows if r.task == task}):
            here = {r.method: r for r in rows if r.task == task and r.budget == budget}
            proxy, spex = here.get("proxyspex"), here.get("spex")
            refs = [r for r in ok if r.task == task and r.budget == budget
                    and r.method not in OURS]
            best = max(refs, key=lambda r: r.r2, default=None)
            missing = _not_run(task, set(here), proxy, bounds.get(task))
            lead = ""
            if proxy is not None and not proxy.failed and (best or missing):
                lead = "NO" if best is not None and proxy.r2 < best.r2 else (
                    "yes" if not missing else f"yes, of those run ({len(missing)} not run)")
                if lead == "NO" and f"{task}@{budget}" in close:
                    lead = f"NO (examined in {CLOSE_ROWS})"
            leads.append([
                task, str(budget), _r2_cell(proxy), _r2_cell(spex),
                "" if best is None else f"{best.r2:.4f} ({best.method})", lead,
                ", ".join(missing), _ratio_cell(spex, proxy),
            ])
    reach = []
    for task in tasks:
        refs = [r.r2 for r in ok if r.task == task and r.budget == 1000
                and r.method not in OURS]
        if refs:
            reached = sorted(r.budget for r in ok if r.task == task
                             and r.method == "proxyspex" and r.r2 >= max(refs))
            reach.append([task, f"{max(refs):.4f}", str(reached[0]) if reached else "none"])
    ours = [r for r in ok if r.method in OURS and r.faithfulness is not None]
    close = [r for r in ours if abs(r.faithfulness - r.r2) <= 0.1]
    calibration = [[
        str(len(ours)), f"{len(close)} ({len(close) / max(len(ours), 1):.0%})",
        f"{min((r.r2 for r in ours), default=float('nan')):.4f}",
        f"{max((abs(r.faithfulness - r.r2) for r in ours), default=float('nan')):.3f}",
    ]]
    return [(["task", "budget", "proxyspex R² (own estimate)", "spex R² (own estimate)",
              "best reference R² (method)", "proxyspex leads", "references not run",
              "spex / proxyspex"], leads),
            (["task", "references' best R² at budget 1,000",
              "smallest budget at which default ProxySPEX reaches it"], reach),
            (["our rows", "own estimate within 0.1 of the measured R²", "lowest R² of ours",
              "largest gap"], calibration)]


def _not_run(task: str, run: set, proxy: Row | None, bound: dict | None) -> list[str]:
    """The default references neither run at this budget, nor unable to run the task, nor
    beaten at every budget by their order bound."""
    if bound is None:
        return []
    shell = Task(task, None, bound["n"])
    ours = proxy.r2 if proxy is not None and not proxy.failed else float("inf")
    return [m for m in REFERENCES if m not in run and skip_reason(m, shell) is None
            and not (m in REFERENCE_ORDER and ours > bound[str(REFERENCE_ORDER[m])])]


def _r2_cell(row: Row | None) -> str:
    if row is None:
        return ""
    if row.failed:
        return "refused" if "below the smallest SPEX design" in row.notes[0] else "failed"
    estimate = "" if row.faithfulness is None else f" ({row.faithfulness:.3f})"
    return f"{row.r2:.4f}{estimate}"


def _ratio_cell(spex: Row | None, proxy: Row | None) -> str:
    if spex is None or proxy is None or spex.failed or proxy.failed or proxy.r2 <= 0:
        return ""
    return f"{spex.r2 / proxy.r2:.2f}"


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


def _method_order(method: str) -> int:
    return METHODS.index(method) if method in METHODS else len(METHODS)


def write_plots(rows: list[Row], out: Path) -> None:
    """Held-out R² against budget per task: our two defaults and the three best references
    (by mean R² over the task's budgets), so that the lines stay readable."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    tasks = sorted({r.task for r in rows}, key=_task_order)
    # A grid that reads at the documentation's width (820 pixels, 8.2 in at 100 dpi): two
    # columns up to four tasks, three above; the legend takes a free cell where there is.
    columns = 1 if len(tasks) == 1 else 2 if len(tasks) <= 4 else 3
    lines = -(-len(tasks) // columns)
    free = lines * columns - len(tasks)
    fig, axes = plt.subplots(lines, columns, squeeze=False, layout="constrained",
                             figsize=(8.2, 2.8 * lines + (0 if free else 0.7)))
    tab20 = plt.get_cmap("tab20").colors  # the ten usual colours, then ten lighter ones
    colours = [*tab20[0::2], *tab20[1::2]]
    colour_of = {}
    for ax, task in zip(axes.flat, tasks):
        here = [r for r in rows if r.task == task and not r.failed]
        means = {m: np.mean([r.r2 for r in here if r.method == m])
                 for m in {r.method for r in here if r.method not in OURS}}
        # Below zero a line is off the chart: no room taken from the legible ones.
        refs = sorted((m for m in means if means[m] > 0), key=lambda m: -means[m])[:3]
        for method in (*OURS, *refs):
            points = sorted((r.budget, r.r2) for r in here if r.method == method)
            if not points:
                continue
            colour = colour_of.setdefault(method, colours[len(colour_of) % len(colours)])
            ax.plot(*zip(*points), marker="o", label=method, color=colour,
                    linewidth=2.2 if method in OURS else 1.2)
        budgets = sorted({r.budget for r in here})
        ax.set_xscale("log")
        ax.set_xticks(budgets, [str(b) for b in budgets])
        ax.minorticks_off()
        ax.set_title(task)
        ax.set_xlabel("budget (queries)")
        ax.set_ylim(max(-0.1, ax.get_ylim()[0]), 1.02)
        ax.grid(True, alpha=0.3)
    for ax in axes.flat[len(tasks):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("held-out R²")
    handles = {h.get_label(): h for ax in axes.flat for h in ax.get_lines()}
    if free:  # the free cells are the end of the last line: one cell for the legend
        for ax in axes[-1, columns - free:]:
            ax.remove()
        spare = fig.add_subplot(axes[0, 0].get_gridspec()[-1, columns - free:])
        spare.set_axis_off()
        spare.legend(handles.values(), handles.keys(), loc="center", fontsize=9,
                     ncol=1 if len(handles) <= 7 else 2 if free > 1 else 1,
                     title="method (thick: ours)")
    else:
        fig.legend(handles.values(), handles.keys(), loc="outside lower center",
                   ncol=min(len(handles), 5), fontsize=9)
    fig.savefig(out / "benchmark_faithfulness.png", dpi=100)
    plt.close(fig)


# ------------------------------------------------------------------------------- main
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(SYNTHETIC),
                        help="comma-separated task names, or 'all' (synthetic and real)")
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    parser.add_argument("--methods", default=",".join((*OURS, *REFERENCES)),
                        help=f"comma-separated, from {', '.join(METHODS)}")
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory", action="store_true", help="also trace our peak memory")
    parser.add_argument("--out", type=Path, default=DOC_GENERATED)
    parser.add_argument("--plots", type=Path, default=DOC_STATIC)
    parser.add_argument("--replot", action="store_true",
                        help="only rewrite the tables and plots from the results file")
    parser.add_argument("--merge", action="store_true",
                        help="keep rows of other tasks and methods from the results file")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    args = parse_args(argv)
    budgets = sorted(int(b) for b in args.budgets.split(","))
    methods = args.methods.split(",")
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise SystemExit(f"unknown methods {sorted(unknown)}; choose from {METHODS}")
    if args.replot:
        rows = [Row(**r) for r in
                json.loads((args.out / "benchmark_results.json").read_text())]
        write_tables(rows, args.out)
        write_plots(rows, args.plots)
        return
    from references.bridge import available

    if any(m not in OURS for m in methods) and not available():
        raise SystemExit("the references' venv is missing: bash benchmarks/references/"
                         "setup_env.sh (or pass --methods proxyspex,spex)")
    tasks = [*SYNTHETIC, *REAL] if args.tasks == "all" else args.tasks.split(",")
    rows: list[Row] = earlier_rows(args, tasks, methods, budgets)
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
        from spexlearn.masks import draw_uniform_masks

        X_test = draw_uniform_masks(task.n, min(args.test, 2**task.n),
                                    np.random.RandomState(10_000 + args.seed))
        y_test = (task.truth.evaluate(X_test) if task.truth is not None
                  else task.value(X_test))
        exact = exact_reference(task) if task.n <= EXACT_MAX_N else None
        record_bounds(task, X_test, y_test, args.out)
        for budget in budgets:
            budget = min(budget, 2**task.n)
            for method in methods:
                reason = skip_reason(method, task)
                if reason:
                    print(f"{task.name:>14} {budget:>5} {method:>22}  skipped: {reason}")
                    continue
                row = run_one(method, task, X_test, y_test, budget, args.seed, exact,
                              args.memory)
                # A budget above 2^n is run as 2^n: an earlier row of it is redone too.
                rows = [r for r in rows if (r.task, r.method, r.budget)
                        != (row.task, row.method, row.budget)] + [row]
                if row.failed:
                    print(f"{task.name:>14} {budget:>5} {method:>22}  {row.notes[0]}")
                    continue
                own = "" if row.faithfulness is None else f" (own {row.faithfulness:.4f})"
                print(f"{task.name:>14} {budget:>5} {method:>22}  R² {row.r2:.4f}{own}  "
                      f"overhead {row.overhead:7.2f} s  queries {row.queries}  terms "
                      f"{row.n_terms}", flush=True)
            # Written after every budget: a crash or a kill loses nothing measured so far.
            write_tables(rows, args.out)
        write_plots(rows, args.plots)
    print(f"wrote {args.out / 'benchmark_table.md'} and plots in {args.plots}")


def earlier_rows(args, tasks: list[str], methods: list[str], budgets: list[int]) -> list[Row]:
    """With ``--merge``, the rows of the results file that this run does not redo (other
    tasks, methods or budgets)."""
    path = args.out / "benchmark_results.json"
    if not (args.merge and path.exists()):
        return []
    return [Row(**r) for r in json.loads(path.read_text())
            if r["task"] not in tasks or r["method"] not in methods
            or r["budget"] not in budgets]


if __name__ == "__main__":
    main()
