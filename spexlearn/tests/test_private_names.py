"""No module reaches into another module's private names (issue 15: private parts stay
private). Checked on the source, so a new reach fails here before review."""

import ast
from pathlib import Path

import spexlearn

PACKAGE = Path(spexlearn.__file__).parent
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "tests" not in p.parts)


# A named tuple's public methods start with an underscore to keep clear of its fields.
NAMEDTUPLE_API = {"_replace", "_asdict", "_fields", "_make", "_field_defaults"}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in NAMEDTUPLE_API


def _defined_private_names(tree: ast.AST) -> set[str]:
    """Private names a module defines: functions, classes, assigned names and attributes."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return {name for name in names if _private(name)}


def _trees() -> dict[Path, ast.AST]:
    return {path: ast.parse(path.read_text(encoding="utf-8")) for path in MODULES}


def test_no_module_imports_a_private_name():
    reaches = []
    for path, tree in _trees().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                reaches += [f"{path.relative_to(PACKAGE)}:{node.lineno} imports {a.name}"
                            for a in node.names if _private(a.name)]
    assert reaches == []


def test_no_module_uses_a_private_attribute_defined_only_elsewhere():
    trees = _trees()
    defined = {path: _defined_private_names(tree) for path, tree in trees.items()}
    ours = set().union(*defined.values())
    reaches = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and _private(node.attr)):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            # Another module's private attribute: defined in ours, but not in this module.
            # (Names no module of ours defines are third-party internals, such as the
            # scikit-learn tree fields the exact tree reading needs.)
            if node.attr in ours and node.attr not in defined[path]:
                reaches.append(f"{path.relative_to(PACKAGE)}:{node.lineno} uses "
                               f"{ast.unparse(node)}")
    assert reaches == []


def test_the_check_finds_a_reach(tmp_path):
    # The checks above can fail: a module that uses another's private method is caught.
    owner = ast.parse("class A:\n    def _secret(self):\n        return 1\n")
    user = ast.parse("from .a import _helper\n\ndef f(a):\n    return a._secret()\n")
    assert "_secret" in _defined_private_names(owner)
    assert "_secret" not in _defined_private_names(user)
    imports = [a.name for node in ast.walk(user) if isinstance(node, ast.ImportFrom)
               for a in node.names]
    assert any(_private(name) for name in imports)
