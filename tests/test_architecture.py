"""The package's import graph keeps the layers of docs/architecture.md.

Every `import nmt...` in the package counts, at module level or inside a function (a lazy import
is still a dependency), `if TYPE_CHECKING:` ones included. Edges into the root package `nmt`
(its `__version__`) are left out: importing any submodule runs it first anyway.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nmt"

# Lowest first. A module may import its own layer and the layers below; in the layers of
# SIBLINGS, only its own folder (model and data know nothing of each other, nor decoding and
# diagnostics).
LAYERS = [
    ("core", ["nmt.errors", "nmt.config", "nmt.vocab", "nmt.tokenizer", "nmt.metrics", "nmt.lines",
              "nmt.progress", "nmt.deprecated"]),
    ("model, data", ["nmt.model", "nmt.data"]),
    ("export", ["nmt.export"]),
    ("decoding, diagnostics", ["nmt.decoding", "nmt.diagnostics"]),
    ("training", ["nmt.training"]),
    ("recipe, serving", ["nmt.recipe", "nmt.serving"]),
    ("commands", ["nmt.commands", "nmt.__main__", "nmt"]),
]
SIBLINGS = {"model, data", "decoding, diagnostics", "recipe, serving"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path) -> set[str]:
    """The package modules `path` imports; `from nmt.model import recurrent` names the submodule."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "nmt")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "nmt":
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
    return {name for name in found if name != "nmt"}


GRAPH = {name: imports_of(path) - {name} for name, path in MODULES.items()}


def place(module: str) -> tuple[int, str]:
    """(layer index, folder) of a module: the longest matching prefix in LAYERS."""
    best = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            # the root package `nmt` is itself only: a new top-level module must be placed by hand
            if module == prefix or (prefix != "nmt" and module.startswith(prefix + ".")):
                if best is None or len(prefix) > len(best[1]):
                    best = (index, prefix)
    assert best is not None, f"{module} is in no layer: add it to LAYERS and docs/architecture.md"
    return best


def test_every_import_names_a_module_that_exists():
    missing = {(m, d) for m, deps in GRAPH.items() for d in deps if d not in MODULES}
    assert not missing


def test_nothing_outside_the_command_layer_imports_a_command():
    offenders = sorted((m, d) for m, deps in GRAPH.items() for d in deps
                       if d.startswith("nmt.commands") and not m.startswith("nmt.commands")
                       and m not in ("nmt.__main__",))
    assert not offenders, f"library code imports the command layer: {offenders}"


def test_imports_point_down_the_layers():
    wrong = []
    for module, deps in GRAPH.items():
        layer, folder = place(module)
        for dep in deps:
            dep_layer, dep_folder = place(dep)
            if dep_layer > layer or (dep_layer == layer and dep_folder != folder and LAYERS[layer][0] in SIBLINGS):
                wrong.append(f"{module} ({LAYERS[layer][0]}) imports {dep} ({LAYERS[dep_layer][0]})")
    assert not wrong, "\n".join(wrong)


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a path that returns to its start, or [] when there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_the_package_has_no_import_cycle():
    assert find_cycle(GRAPH) == []


@pytest.mark.parametrize("graph,expected", [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ({"a": {"a2"}, "a2": set(), "x": {"y"}, "y": {"x"}}, ["x", "y", "x"]),
])
def test_the_cycle_finder_finds_cycles(graph, expected):
    assert find_cycle(graph) == expected


def test_import_reader_sees_lazy_and_type_checking_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from nmt.training.run import RunPaths\n"
                      "def f():\n    import nmt.decoding.search\n    from nmt.model import recurrent\n")
    assert imports_of(source) == {"nmt.training.run", "nmt.decoding.search", "nmt.model.recurrent"}


def test_old_import_paths_still_work_for_one_release():
    import importlib
    import sys

    from nmt import deprecated
    from nmt.decoding import translator

    for old, new in deprecated.MOVED.items():
        assert new in MODULES, f"{old} points at {new}, which does not exist"
    sys.modules.pop("nmt.translator", None)
    with pytest.warns(DeprecationWarning, match="nmt.translator is deprecated.*nmt.decoding.translator"):
        old = importlib.import_module("nmt.translator")
    assert old is translator
    with pytest.warns(DeprecationWarning):
        sys.modules.pop("nmt.evaluate", None)
        from nmt.evaluate import score
    from nmt.metrics import score as new_score
    assert score is new_score


def test_nmt_translator_is_the_translator():
    import nmt
    from nmt.decoding.translator import Translator

    assert nmt.Translator is Translator
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        nmt.Nope  # noqa: B018
