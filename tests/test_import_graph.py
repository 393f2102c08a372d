"""The code's shape: the modules that used to import each other (app and auth, application and issuance,
timeutil and models) import in one direction only, each imports on its own in a fresh interpreter, and no
function-level import is left to dodge a cycle between them."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# (lower, upper): upper may import lower; lower never imports upper, neither at module level nor inside
# a function (a function-level import is how a cycle hides).
PAIRS = [
    ("blueprints.auth", "app"),
    ("blueprints.core.application", "blueprints.core.issuance"),
    ("models", "blueprints.core.timeutil"),
]
MODULES = sorted({m for pair in PAIRS for m in pair} | {
    "blueprints.core.i18n", "blueprints.core.locks", "blueprints.core.notices", "blueprints.core.registration",
})


def _path(module: str) -> Path:
    base = ROOT.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def _imports(module: str) -> tuple[set[str], set[str]]:
    """The modules named by `module`'s imports: (at module level, inside functions). For `from a.b import c`
    both a.b and a.b.c are named (c may be a submodule)."""
    tree = ast.parse(_path(module).read_text(encoding="utf-8"))
    top: set[str] = set()
    inner: set[str] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            names: set[str] = set()
            if isinstance(child, ast.Import):
                names = {a.name for a in child.names}
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = {child.module} | {f"{child.module}.{a.name}" for a in child.names}
            (inner if in_function else top).update(names)
            visit(child, nested)

    visit(tree, False)
    return top, inner


def _names(names: set[str], target: str) -> bool:
    return any(n == target or n.startswith(target + ".") for n in names)


@pytest.mark.parametrize("lower,upper", PAIRS)
def test_pair_imports_one_way(lower, upper):
    top, inner = _imports(lower)
    assert not _names(top, upper), f"{lower} imports {upper} at module level: a cycle"
    assert not _names(inner, upper), f"{lower} imports {upper} inside a function: a hidden cycle"
    # The other direction is allowed, and is a plain module-level import where it exists at all.
    up_top, up_inner = _imports(upper)
    if upper != "app":  # the app factory imports the blueprints inside create_app (register-in-factory)
        assert not _names(up_inner, lower) or _names(up_top, lower), f"{upper} hides its import of {lower}"


def test_pairs_were_found():
    # The checks above read real imports: each upper module does import its lower one.
    for lower, upper in PAIRS:
        top, inner = _imports(upper)
        assert _names(top | inner, lower), (upper, lower)


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_alone(module):
    # A fresh interpreter per module: an import cycle fails here with "partially initialized module".
    r = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
