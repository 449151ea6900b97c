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
