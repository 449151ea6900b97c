"""benchmarks/run.py runs end to end on a tiny configuration and writes its tables."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"


@pytest.mark.slow
@pytest.mark.skipif(not RUN.exists(), reason="benchmarks/ is not next to the package")
def test_suite_writes_tables_and_plots(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location("bench_run", RUN)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_run", module)  # dataclasses look themselves up
    spec.loader.exec_module(module)
    module.main(["--tasks", "synthetic-20", "--budgets", "500,1500", "--methods",
                 "proxyspex,spex", "--test", "200", "--out", str(tmp_path),
                 "--plots", str(tmp_path)])
    rows = json.loads((tmp_path / "benchmark_results.json").read_text())
    assert [(r["method"], r["budget"]) for r in rows] == [
        ("proxyspex", 500), ("spex", 500), ("proxyspex", 1500), ("spex", 1500)]
    ours = rows[0]
    assert ours["r2"] > 0.95 and ours["support_recall"] > 0.9 and ours["queries"] == 500
    assert abs(ours["faithfulness"] - ours["r2"]) < 0.1
    # SPEX refuses a budget below its design, and that is recorded, not raised.
    assert rows[1]["notes"][0].startswith("failed: ValueError: budget=500 is below")
    assert rows[3]["r2"] > 0.95 and rows[3]["queries"] == 1500
    assert (tmp_path / "benchmark_table.md").read_text().count("synthetic-20") == 4
    assert (tmp_path / "benchmark_faithfulness.png").stat().st_size > 5000
    assert ".. list-table::" in (tmp_path / "benchmark_table.rst").read_text()
    # --merge redoes only the budgets asked for; the other budgets' rows stay.
    module.main(["--tasks", "synthetic-20", "--budgets", "1500", "--methods", "proxyspex",
                 "--test", "200", "--out", str(tmp_path), "--plots", str(tmp_path),
                 "--merge"])
    merged = json.loads((tmp_path / "benchmark_results.json").read_text())
    assert sorted((r["method"], r["budget"]) for r in merged) == sorted(
        (r["method"], r["budget"]) for r in rows)
    bounds = json.loads((tmp_path / "benchmark_bounds.json").read_text())["synthetic-20"]
    assert bounds["n"] == 20 and 0 < bounds["1"] < bounds["2"] <= 1


@pytest.mark.skipif(not RUN.exists(), reason="benchmarks/ is not next to the package")
def test_acceptance_tables(monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_run", RUN)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_run", module)
    spec.loader.exec_module(module)
    row = module.Row
    rows = [row("t", 500, "proxyspex", 0.80, 0.5, 500, 9, faithfulness=0.78),
            row("t", 500, "spex", float("nan"), float("nan"), 0, 0,
                notes=["failed: ValueError: budget=500 is below the smallest SPEX design"]),
            row("t", 500, "shapiq-proxyspex", 0.75, 5.0, 500, 9),
            row("t", 1000, "proxyspex", 0.85, 1.0, 1000, 9, faithfulness=0.70),
            row("t", 1000, "spex", 0.80, 1.0, 1000, 9, faithfulness=0.79),
            row("t", 1000, "shapiq-proxyshap", 0.90, 4.0, 1000, 9),
            row("t", 1000, "spectralexplain-spex", float("nan"), float("nan"), 0, 0,
                notes=["failed: OverflowError"])]
    (_, leads), (_, reach), (_, calibration) = module.acceptance(rows, {})
    assert leads == [
        ["t", "500", "0.8000 (0.780)", "refused", "0.7500 (shapiq-proxyspex)", "yes", "", ""],
        ["t", "1000", "0.8500 (0.700)", "0.8000 (0.790)", "0.9000 (shapiq-proxyshap)", "NO",
         "", "0.94"]]
    assert reach == [["t", "0.9000", "none"]]
    # A lost lead that close_rows.py examined points to it.
    assert module.acceptance(rows, {}, {"t@1000"})[0][1][1][5] == (
        "NO (examined in close_rows.json)")
    # Two of our three rows estimate their R² within 0.1; the lowest R² is 0.80.
    assert calibration == [["3", "2 (67%)", "0.8000", "0.150"]]
    rows.append(row("t", 2000, "proxyspex", 0.95, 0.1, 2000, 9))
    assert module.acceptance(rows, {})[1][1] == [["t", "0.9000", "2000"]]
    # With the task's bounds, the references not run at a budget are named, except those
    # that cannot run the task (ContextCite: not sentences) and those whose order bound
    # lies below our R² (0.80 > 0.7 for the additive ones; not 0.85 for order 2).
    bounds = {"t": {"n": 50, "1": 0.7, "2": 0.85}}
    first = module.acceptance(rows, bounds)[0][1][0]
    assert first[5] == "yes, of those run (7 not run)"
    assert first[6] == ("shapiq-spex, shapiq-proxyshap, shapiq-polyshap, shapiq-kernelshapiq, "
                        "shapiq-regressionfsii, shapiq-regressionfbii, spectralexplain-spex")
    bounds = {"t": {"n": 150, "1": 0.7, "2": 0.75}}  # n > 100: no regression references
    assert module.acceptance(rows, bounds)[0][1][0][6] == (
        "shapiq-proxyshap, spectralexplain-spex")
    assert "failed: OverflowError" in module._cells(rows[6])[3]


@pytest.mark.skipif(not RUN.exists(), reason="benchmarks/ is not next to the package")
@pytest.mark.parametrize("n_tasks, columns", [(4, 2), (5, 3), (7, 3)])
def test_plot_is_a_grid_that_reads_at_page_width(n_tasks, columns, tmp_path, monkeypatch):
    """The documentation's body is 820 px wide: the figure fits it at its own size (no
    2,800 px strip squeezed into the column), the legend in a free cell where there is."""
    plt = pytest.importorskip("matplotlib.pyplot")
    spec = importlib.util.spec_from_file_location("bench_run", RUN)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_run", module)
    spec.loader.exec_module(module)
    tasks = [f"synthetic-{10 * (t + 1)}" for t in range(n_tasks)]
    rows = [module.Row(task, budget, method, r2, 0.1, budget, 5)
            for task in tasks for budget in (250, 1000)
            for method, r2 in (("proxyspex", 0.9), ("spex", 0.8), ("shapiq-proxyspex", 0.7))]
    module.write_plots(rows, tmp_path)
    height, width = plt.imread(tmp_path / "benchmark_faithfulness.png").shape[:2]
    lines = -(-n_tasks // columns)
    assert width <= 830 and width / columns >= 250  # every panel at least 250 px wide
    assert height <= 300 * lines + 80
