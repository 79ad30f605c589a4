"""The layout shows the layers: imports point downwards only, and no two modules import
each other (not even inside functions). README's "How the code is laid out" draws this."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "nnmnist"

# Lowest first: a module may import from its own layer's modules and from layers below.
LAYERS = [
    "errors",
    "core",
    "io",
    "models",
    "vision",
    "training",
    "engines",
    "present",
    "api",
    "web",
    "cli",
]
TOP = {"api": "api", "datasets": "api", "sklearn": "api", "__main__": "cli"}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:  # nnmnist itself: __version__ and the lazy names
        return "errors"
    return TOP.get(parts[1], parts[1])


def imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("nnmnist")
            ):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    is_module = (PACKAGE.parent / (full.replace(".", "/") + ".py")).exists()
                    targets.add(full if is_module else node.module)
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("nnmnist")}
        found[name] = targets
    return found


def test_imports_point_downwards():
    wrong = []
    for module, targets in sorted(imports().items()):
        if module == "nnmnist":
            continue  # the package's lazy __getattr__ names the API
        mine = LAYERS.index(layer_of(module))
        for target in sorted(targets):
            if LAYERS.index(layer_of(target)) > mine:
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_no_two_modules_import_each_other():
    graph = imports()
    pairs = sorted(
        f"{a} <-> {b}"
        for a, targets in graph.items()
        for b in targets
        if a < b and a in graph.get(b, set()) and a != "nnmnist"
    )
    assert pairs == []


def test_every_layer_folder_says_what_it_holds():
    for folder in (
        "core",
        "io",
        "models",
        "vision",
        "engines",
        "training",
        "present",
        "web",
        "cli",
    ):
        doc = ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text()))
        assert doc and len(doc.splitlines()) >= 1, folder


def test_no_module_is_much_over_500_lines():
    """A module a newcomer can read in one sitting: about 500 lines at most."""
    long = {
        str(path.relative_to(PACKAGE.parent)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > 550
    }
    assert long == {}
