"""The shape of src/refcamp, read with `ast`: no module imports itself back through others.

Every import counts (module-level, function-level and under TYPE_CHECKING): a loop hidden inside
a function still ties the modules together and still needs a comment to explain it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "refcamp"
ROOT = Path(__file__).resolve().parent.parent / "src" / PACKAGE


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def imported(
    node: ast.Import | ast.ImportFrom, here: str, is_package: bool, known: set[str]
) -> Iterator[str]:
    """The src/refcamp modules an import statement names (as grimp reads them: `from a import b`
    imports module a.b when there is one, else module a)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # a relative import: resolve it against this module's package
            package = here.split(".") if is_package else here.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        names = [
            f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
            for alias in node.names
        ]
    for name in names:
        # `import refcamp.engine.core.x` names a module by its longest known prefix
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name == PACKAGE or name.startswith(PACKAGE + "."):
            yield name


def imports_of(source: str, name: str, is_package: bool, known: set[str]) -> set[str]:
    """Every src/refcamp module a module's source imports, wherever the import statement is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update(imported(node, name, is_package, known))
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {
        name: imports_of(path.read_text(encoding="utf-8"), name, path.name == "__init__.py", known)
        for name, path in found.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_graph_sees_every_kind_of_import():
    source = """
from typing import TYPE_CHECKING
import refcamp.clock
from refcamp.engine import core
from .tables import did_you_mean

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless
if TYPE_CHECKING:
    from refcamp.models import Rule
def late():
    from refcamp.engine.effects import EFFECTS
"""
    names = {"refcamp.clock", "refcamp.engine.core", "refcamp.tables", "refcamp.models"}
    names.add("refcamp.engine.effects")
    known = {*names, "refcamp", "refcamp.engine", "refcamp.campaigns"}
    assert imports_of(source, "refcamp.campaigns", False, known) == names
    assert "refcamp.models" in import_graph()


def test_find_cycle_reports_the_loop():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_src():
    cycle = find_cycle(import_graph())
    if cycle:
        pytest.fail("import cycle: " + " -> ".join(cycle))


@pytest.mark.parametrize("name", ["refcamp.engine.types", "refcamp.models"])
def test_shared_types_import_nothing_of_the_engine(name):
    graph = import_graph()
    engine = [t for t in graph[name] if t.startswith("refcamp.engine") and t != name]
    assert engine == [], f"{name} imports {engine}"


# The layers, lowest first (docs/ARCHITECTURE.md says what each owns). A module may import its own
# layer and the layers named for it here, never one above: data flows doors -> service ->
# (engine, store) -> models.
LAYERS: dict[str, tuple[str, ...]] = {
    "base": (),  # models, errors, clock, codes, paths, tables, loyalty
    "engine": ("base",),
    "input": ("base", "engine"),  # request bodies and campaign files read and checked
    "store": ("base",),
    "service": ("base", "engine", "input", "store"),
    "output": ("base", "engine"),  # Rich for people, Talon.One's JSON shapes
    "doors": ("base", "engine", "input", "service", "output"),  # CLI, HTTP, replay, simulate
}
BASE = ("models", "errors", "clock", "codes", "paths", "tables", "loyalty", "settings")
INPUT = (
    "payloads",
    "json_text",
    "option_values",
    "campaigns",
    "catalog_cache",
    "templates",
    "routes",
)
OUTPUT = ("render", "talon", "listing")
DOORS = ("cli", "server", "console", "replay", "simulate", "__main__")


def layer(name: str) -> str:
    """The layer of a src/refcamp module (its first name after `refcamp.`)."""
    top = name.split(".")[1] if "." in name else ""
    for layer_name, tops in (
        ("base", ("", *BASE)),
        ("engine", ("engine",)),
        ("input", INPUT),
        ("store", ("store",)),
        ("service", ("service",)),
        ("output", OUTPUT),
        ("doors", DOORS),
    ):
        if top in tops:
            return layer_name
    raise AssertionError(f"{name}: in no layer; add it to tests/test_architecture.py")


def test_every_module_has_a_layer():
    for name in import_graph():
        layer(name)


def test_no_module_imports_a_layer_above_it_or_beside_it():
    wrong = [
        f"{name} ({layer(name)}) imports {target} ({layer(target)})"
        for name, targets in sorted(import_graph().items())
        for target in sorted(targets)
        if layer(target) != layer(name) and layer(target) not in LAYERS[layer(name)]
    ]
    assert wrong == [], "\n".join(wrong)


def external_imports(path: Path) -> set[str]:
    """The top-level names of every module a file imports that is not refcamp's own."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found - {PACKAGE}


def test_only_the_store_speaks_to_a_database_driver():
    """sqlite3 and psycopg are the store's: every other module gets refcamp's own errors
    (errors.DatabaseError and its kinds) and the store's connection, whichever engine is below."""
    drivers = {"sqlite3", "psycopg"}
    wrong = [
        f"{name} imports {sorted(external_imports(path) & drivers)}"
        for name, path in modules().items()
        if not name.startswith(f"{PACKAGE}.store") and external_imports(path) & drivers
    ]
    assert wrong == [], "\n".join(wrong)


def test_nothing_below_the_doors_reads_the_environment():
    """Settings are read once, by a door (the CLI's root callback), and handed down in the
    workspace (settings.Settings): a module below the doors that read os.environ would see a
    setting the door never chose."""

    def reads_environment(path: Path) -> bool:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                return True
            if (
                isinstance(node, ast.ImportFrom)
                and node.module == "os"
                and "environ" in {alias.name for alias in node.names}
            ):
                return True
        return False

    wrong = [
        name
        for name, path in modules().items()
        if layer(name) != "doors" and reads_environment(path)
    ]
    assert wrong == [], wrong


# The replay package's modules, lowest first (refcamp/replay/__init__.py says what each does): each
# imports only those before it, and the package itself (the driver) imports them all.
REPLAY = ("lines", "reader", "identity", "out", "turns", "batch")


def test_the_replay_package_imports_downwards():
    graph = import_graph()
    order = [f"{PACKAGE}.replay.{name}" for name in REPLAY]
    assert set(order) | {f"{PACKAGE}.replay"} == {
        name for name in graph if name.startswith(f"{PACKAGE}.replay")
    }, "a replay module is missing from REPLAY"
    wrong = [
        f"{name} imports {target}"
        for i, name in enumerate(order)
        for target in sorted(graph[name])
        if target.startswith(f"{PACKAGE}.replay") and target not in order[:i]
    ]
    assert wrong == [], "\n".join(wrong)


# A module past this many lines does several jobs: split it by what it does (as store/queries/
# and server/ were), one module per job, each well under the limit.
MOST_LINES = 800
# Modules still over the limit, each with the work that splits it. A module leaves this list when
# it is split (the test below fails while a listed module is under the limit or gone).
TOO_LONG = {}


def test_no_module_is_over_the_line_limit():
    lines = {
        path.relative_to(ROOT.parent).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in modules().values()
    }
    wrong = [
        f"{name}: {count} lines (at most {MOST_LINES}; split it by what it does)"
        for name, count in sorted(lines.items())
        if count > MOST_LINES and name not in TOO_LONG
    ]
    stale = [
        f"{name}: {f'{lines[name]} lines' if name in lines else 'gone'}; remove it from TOO_LONG"
        for name in sorted(TOO_LONG)
        if lines.get(name, 0) <= MOST_LINES
    ]
    assert wrong + stale == [], "\n".join(wrong + stale)
