"""The package's structure, drawn from its imports: floors, no arrow back up, no circles, small rooms.

Modules of ``src/mintnet`` sit on floors, the maths at the bottom and the command lines on top. An
import may point down or sideways (within a floor), never up. The import graph is read with
``ast`` from the files, so the test sees every ``import`` statement, including ones inside
functions, and needs nothing imported.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "mintnet"

FLOORS: list[set[str]] = [
    {"errors", "conf", "run_log", "memory"},
    {"nn"},
    {
        "",
        "config",
        "data",
        "distributed",
        "outcome",
        "pixel_baseline",
        "random_state",
        "resolvers",
        "sweeps",
        "sweep_stop",
    },
    {"threads"},
    {"modules"},
    {"checkpoint"},
    {"analysis"},
    {"callbacks", "dashboard"},
    {"preflight"},
    {"train", "eval", "cli"},
]
"""Bottom first. A module's floor is that of its first component below ``mintnet`` (``""`` is the
package's ``__init__``, which only re-exports)."""

MAX_FILE_LINES, MAX_FUNCTION_LINES = 300, 60
LONG_FILES: dict[str, int] = {}
"""Files over the limit today, with their length: they may only shrink."""
LONG_FUNCTIONS: dict[str, int] = {}
"""Functions over the limit today, with their length: they may only shrink."""


def module_name(path: Path, base: Path = SRC) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, base: Path = SRC) -> set[str]:
    """The modules a file imports, absolute names (relative imports resolved), with the names a
    ``from`` import takes (``from a import b`` gives ``a`` and ``a.b``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    name = module_name(path, base)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*anchor, *([module] if module else [])])
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def import_graph(package: Path = PACKAGE, base: Path = SRC) -> dict[str, set[str]]:
    """``module -> modules it imports``, both among the package's own modules."""
    modules = {module_name(p, base): p for p in package.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for target in imports_of(path, base):
            while target not in modules and "." in target:  # `from pkg import name` of a name
                target = target.rsplit(".", 1)[0]
            if target in modules and target != name:
                targets.add(target)
        graph[name] = targets
    return graph


def floor_of(module: str) -> int:
    first = module.split(".")[1] if "." in module else ""
    for level, rooms in enumerate(FLOORS):
        if first in rooms:
            return level
    raise AssertionError(f"{module} is on no floor: add {first!r} to FLOORS")


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_is_on_a_floor():
    for module in import_graph():
        floor_of(module)


def test_no_import_points_up():
    upward = [
        f"{a} (floor {floor_of(a)}) imports {b} (floor {floor_of(b)})"
        for a, targets in import_graph().items()
        for b in targets
        if floor_of(b) > floor_of(a)
    ]
    assert not upward, "\n".join(upward)


def test_errors_import_nothing_of_mintnet():
    assert not {m for m in imports_of(PACKAGE / "errors.py") if m.split(".")[0] == "mintnet"}


def test_the_library_imports_nothing_from_the_folders_beside_it():
    """The results pipeline and the benchmarks use the package; it never uses them."""
    outside = {"reproduction", "benchmarks", "tests"}
    found = {
        f"{module_name(path)} imports {target}"
        for path in PACKAGE.rglob("*.py")
        for target in imports_of(path)
        if target.split(".")[0] in outside
    }
    assert not found, sorted(found)


@pytest.mark.parametrize("package", ["src/mintnet", "reproduction", "benchmarks"])
def test_no_circles(package):
    folder = ROOT / package
    assert circles(import_graph(folder, folder.parent)) == []


def test_a_planted_circle_is_found(tmp_path):
    package = tmp_path / "mintnet"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from mintnet.b import thing\n")
    (package / "b.py").write_text("from mintnet import c\n")
    (package / "c.py").write_text("import mintnet.a\n")
    assert circles(import_graph(package, tmp_path)) == [["mintnet.a", "mintnet.b", "mintnet.c"]]


def python_files() -> list[Path]:
    folders = (PACKAGE, ROOT / "benchmarks", ROOT / "reproduction")
    return sorted(path for folder in folders for path in folder.rglob("*.py"))


def function_lengths(path: Path) -> dict[str, int]:
    """``qualified name -> lines`` of every function and method of a file (decorators excluded)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    lengths: dict[str, int] = {}

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                lengths[name] = child.end_lineno - child.lineno + 1
                walk(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                walk(child, f"{prefix}{child.name}.")

    walk(tree, "")
    return lengths


def test_no_file_over_the_limit():
    too_long = {}
    for path in python_files():
        key = str(path.relative_to(ROOT))
        lines = len(path.read_text().splitlines())
        if lines > LONG_FILES.get(key, MAX_FILE_LINES):
            too_long[key] = lines
    assert not too_long, (
        f"files over {MAX_FILE_LINES} lines (or grown past their entry): {too_long}"
    )


def test_no_function_over_the_limit():
    too_long = {}
    for path in python_files():
        for name, lines in function_lengths(path).items():
            key = f"{path.relative_to(ROOT)}:{name.split('.')[-1] if '.' in name else name}"
            if lines > LONG_FUNCTIONS.get(key, MAX_FUNCTION_LINES):
                too_long[f"{path.relative_to(ROOT)}:{name}"] = lines
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines: {too_long}"


@pytest.mark.parametrize("table", [LONG_FILES, LONG_FUNCTIONS])
def test_the_allowances_are_still_needed(table):
    """An entry that fits the limit again is removed, so the allowance cannot regrow."""
    stale = []
    for key in table:
        path, _, function = key.partition(":")
        file = ROOT / path
        if not file.exists():
            stale.append(key)
            continue
        if function:
            lengths = {n.split(".")[-1]: v for n, v in function_lengths(file).items()}
            length = lengths.get(function, 0)
            limit = MAX_FUNCTION_LINES
        else:
            length, limit = len(file.read_text().splitlines()), MAX_FILE_LINES
        if length <= limit:
            stale.append(key)
    assert not stale, f"no longer over the limit, remove from the allowances: {stale}"
