"""Every Python snippet of the README runs when pasted alone: it defines or imports every
name it uses (checked statically here; the synthetic SPEX snippet also runs)."""

import builtins
import re
import symtable
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
pytestmark = pytest.mark.skipif(not README.exists(), reason="README.md is not next to the package")


def _snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def _undefined(source: str) -> set[str]:
    """Names a snippet reads but neither binds, imports nor finds among the builtins."""
    missing = set()

    def walk(table):
        for symbol in table.get_symbols():
            bound = symbol.is_assigned() or symbol.is_imported() or symbol.is_parameter()
            if symbol.is_referenced() and not bound and not (
                    symbol.is_free() or hasattr(builtins, symbol.get_name())):
                missing.add(symbol.get_name())
        for child in table.get_children():
            walk(child)

    walk(symtable.symtable(source, "<README>", "exec"))
    return missing


def test_the_readme_has_its_snippets():
    assert len(_snippets()) >= 3


@pytest.mark.parametrize("index", range(3))
def test_each_snippet_defines_what_it_uses(index):
    source = _snippets()[index]
    assert _undefined(source) == set(), source


def test_the_check_catches_an_undefined_name():
    assert _undefined("from spexlearn import SPEXExplainer\nf, t = make_sparse_function(9)\n"
                      "[x for x in range(3)]") == {"make_sparse_function"}


def test_the_spex_snippet_runs_alone():
    (source,) = [s for s in _snippets() if "SPEXExplainer(" in s and "Proxy" not in s]
    namespace = {}
    exec(compile(source, "<README>", "exec"), namespace)
    explainer = namespace["explainer"]
    assert explainer.spectrum_.allclose(namespace["truth"])
    assert (explainer.design_.n_bits, explainer.n_queries_) == (8, 40_000)
