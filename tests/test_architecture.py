"""The layout's rules (docs/architecture.md), checked on the source:

- no import cycles among genja_prefect's modules, lazy (function-level) imports included;
  imports under ``if TYPE_CHECKING:`` do not count;
- only the Prefect adapter (``genja_prefect.prefect``) imports ``prefect``;
- the engine never imports the adapter;
- no module imports another module's ``_private`` names.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "genja_prefect"

#: Modules outside genja_prefect/prefect/ that may import Prefect, and why. Empty by design.
PREFECT_IMPORT_ALLOWED: dict[str, str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(imported module, imported names) for every runtime import, lazy ones included."""
    tree = ast.parse(path.read_text(), str(path))
    here = _module_name(path)
    is_pkg = path.name == "__init__.py"
    found: list[tuple[str, list[str]]] = []

    def visit(node: ast.AST, skip: bool) -> None:
        if isinstance(node, ast.If):
            test = node.test
            tc = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
            )
            for child in node.body:
                visit(child, skip or tc)
            for child in node.orelse:
                visit(child, skip)
            return
        if not skip and isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif not skip and isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = here.split(".")
                parent = parts[: len(parts) - node.level + (1 if is_pkg else 0)]
                base = ".".join(parent + ([base] if base else []))
            found.append((base, [a.name for a in node.names]))
        for child in ast.iter_child_nodes(node):
            visit(child, skip)

    visit(tree, False)
    return found


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for target, names in _imports(path):
            candidates = [target, *(f"{target}.{n}" for n in names)]
            for candidate in candidates:
                if candidate in modules and candidate != name:
                    graph[name].add(candidate)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            strong(v)
    return out


def test_no_import_cycles_lazy_imports_included() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_check_sees_lazy_imports(tmp_path: Path) -> None:
    # The check itself must catch a cycle made only of function-level imports.
    graph = {"a": {"b"}, "b": {"a"}, "c": set()}
    assert _cycles(graph) == [["a", "b"]]


def test_only_the_prefect_adapter_imports_prefect() -> None:
    offenders = []
    for name, path in _modules().items():
        if name == "genja_prefect.prefect" or name.startswith("genja_prefect.prefect."):
            continue
        for target, _ in _imports(path):
            if (target == "prefect" or target.startswith("prefect.") or target.startswith("prefect_dask")) and name not in PREFECT_IMPORT_ALLOWED:
                offenders.append(f"{name} imports {target}")
    assert offenders == []


def test_the_engine_does_not_import_the_adapter() -> None:
    graph = _graph()
    engine = [m for m in graph if m.startswith("genja_prefect.engine")]
    reach: set[str] = set()
    todo = list(engine)
    while todo:
        m = todo.pop()
        for n in graph[m]:
            if n not in reach:
                reach.add(n)
                todo.append(n)
    assert sorted(m for m in reach if m.startswith("genja_prefect.prefect")) == []


def test_no_module_imports_another_modules_private_names() -> None:
    offenders = []
    for name, path in _modules().items():
        for target, names in _imports(path):
            if not target.startswith("genja_prefect"):
                continue
            offenders += [f"{name}: from {target} import {n}" for n in names if n.startswith("_") and not n.startswith("__")]
            if any(part.startswith("_") and not part.startswith("__") for part in target.split(".")):
                # private modules are fine inside their own package only
                package = target.rsplit(".", 1)[0]
                if not name.startswith(package):
                    offenders.append(f"{name}: imports {target}")
    assert offenders == []


def test_modules_log_under_their_own_name() -> None:
    offenders = []
    for name, path in _modules().items():
        text = path.read_text()
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith(("logger = logging.getLogger(", "log = logging.getLogger(")) and "__name__" not in stripped:
                offenders.append(f"{name}: {stripped}")
    assert offenders == []
