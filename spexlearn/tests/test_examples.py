"""Every script in examples/ runs to the end (they are the newcomer's first contact)."""

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# Examples on the real language model run as the README's main command (and in CI) instead:
# they take minutes.
SCRIPTS = [
    path for path in (sorted(EXAMPLES.glob("*.py")) if EXAMPLES.is_dir() else [])
    if "spexlearn.lm" not in path.read_text()
]


@pytest.mark.skipif(not SCRIPTS, reason="examples/ is not next to the package")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_example_runs(script, capsys):
    runpy.run_path(str(script), run_name="__main__")
    assert "faithfulness R²" in capsys.readouterr().out
