"""benchmarks/run.py runs end to end on a tiny configuration and writes its tables."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"


@pytest.mark.skipif(not RUN.exists(), reason="benchmarks/ is not next to the package")
def test_suite_writes_tables_and_plots(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location("bench_run", RUN)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_run", module)  # dataclasses look themselves up
    spec.loader.exec_module(module)
    module.main(["--tasks", "synthetic-20", "--budgets", "300", "--methods", "ours,spex",
                 "--test", "200", "--out", str(tmp_path), "--plots", str(tmp_path)])
    rows = json.loads((tmp_path / "benchmark_results.json").read_text())
    assert [r["method"] for r in rows] == ["ours", "spex"]
    ours = rows[0]
    assert ours["r2"] > 0.95 and ours["support_recall"] > 0.9 and ours["queries"] == 300
    assert (tmp_path / "benchmark_table.md").read_text().count("synthetic-20") == 2
    assert (tmp_path / "benchmark_faithfulness.png").stat().st_size > 5000
    assert ".. list-table::" in (tmp_path / "benchmark_table.rst").read_text()


@pytest.mark.skipif(not RUN.exists(), reason="benchmarks/ is not next to the package")
def test_acceptance_tables(monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_run", RUN)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_run", module)
    spec.loader.exec_module(module)
    row = module.Row
    rows = [row("t", 500, "ours", 0.70, 0.5, 500, 9),
            row("t", 500, "ours-paired", 0.80, 0.4, 500, 9),
            row("t", 500, "shapiq", 0.75, 5.0, 500, 9),
            row("t", 1000, "ours", 0.85, 1.0, 1000, 9),
            row("t", 1000, "shapiq", 0.90, 4.0, 1000, 9),
            row("t", 1000, "spectralexplain", float("nan"), float("nan"), 0, 0,
                notes=["failed: OverflowError"])]
    (_, leads), (_, reach) = module.acceptance(rows)
    assert leads == [["t", "500", "0.8000 (ours-paired)", "0.7500 (shapiq)", "yes", "0.100"],
                     ["t", "1000", "0.8500 (ours)", "0.9000 (shapiq)", "NO", "0.250"]]
    assert reach == [["t", "0.9000", "none"]]
    rows.append(row("t", 2000, "spex", 0.95, 0.1, 2000, 9))
    assert module.acceptance(rows)[1][1] == [["t", "0.9000", "2000"]]
    assert "failed: OverflowError" in module._cells(rows[5])[3]
