"""The import structure of ``keras_tfm``: no import cycles, and arrows that point down only.

Every module under ``keras_tfm/`` is parsed with ``ast`` (no code is run) and every
``import`` / ``from ... import`` statement is read, at any depth (function-level imports
included: a cycle hidden inside a function is still a cycle). An edge goes from a module
to the module it names: ``from a.b import c`` names ``a.b.c`` when that is a module of the
package, and ``a.b`` (its ``__init__`` when it is a package) otherwise. Parent packages
are not counted as imported: Python runs them, but every module would then sit in one
cycle through ``keras_tfm/__init__.py``.
"""

import ast
import os
from collections import defaultdict

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "keras_tfm")

# The lower layers (data flows down; see DESIGN.md) and what they must never import.
LOWER = ("keras_tfm.models", "keras_tfm.layers", "keras_tfm.processing", "keras_tfm.checkpoints")
UPPER = ("keras_tfm.generation", "keras_tfm.pipelines", "keras_tfm.training")

# Edges that close a cycle or break the layering in areas that other work of issue 10 is
# rewriting (the layer kit moves the decoder layers, caches and task heads out of
# generation/; the processing and pipeline work reshape their packages). The lead empties
# these lists after merging that work. Each entry is (importer, imported); an entry that no
# longer exists fails the test, so the lists cannot go stale.
ALLOWED_CYCLE_EDGES = {
    # (none left: the checkpoint <-> model circles are gone)
}
ALLOWED_LAYERING_EDGES = {
    # (none: models/, layers/, processing/ and checkpoints/ import no upper layer)
}


def module_name(path):
    rel = os.path.relpath(path, os.path.dirname(ROOT))[: -len(".py")]
    parts = rel.split(os.sep)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def all_modules():
    """``{module name: file path}`` of every module of the package."""
    found = {}
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__pycache__")))
        for f in sorted(files):
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                found[module_name(path)] = path
    return found


def _absolute(module, level, current, is_package):
    """The absolute name of ``from <level dots><module> import ...`` written in ``current``."""
    if level == 0:
        return module
    base = current.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports_of(name, path, modules):
    """``[(imported module, line)]`` for every import statement of one module, at any depth."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    is_package = os.path.basename(path) == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((alias.name, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module or "", node.level, name, is_package)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub if sub in modules else base, node.lineno))
    return [(target, line) for target, line in found if target in modules and target != name]


def import_graph():
    """``{importer: {imported: [lines]}}`` over the modules of the package."""
    modules = all_modules()
    graph = {}
    for name, path in modules.items():
        edges = defaultdict(list)
        for target, line in imports_of(name, path, modules):
            if line not in edges[target]:
                edges[target].append(line)
        graph[name] = dict(edges)
    return graph, modules


def strongly_connected(graph):
    """Tarjan's strongly connected components with more than one module (import cycles)."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        # Iterative DFS: (node, iterator over its successors).
        work = [(v, iter(sorted(graph.get(v, {}))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, successors = work[-1]
            advanced = False
            for w in successors:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, {})))))
                    advanced = True
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def a_cycle(graph, component, start=None):
    """The shortest cycle through ``start`` (default: the first module of ``component``), as ``[m0, ..., m0]``."""
    members, start = set(component), start or component[0]
    previous, frontier = {start: None}, [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w == start:
                    path = [v]
                    while previous[path[-1]] is not None:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if w in members and w not in previous:
                    previous[w] = v
                    following.append(w)
        frontier = following
    return [start]


def describe_edge(graph, modules, a, b):
    rel = os.path.relpath(modules[a], os.path.dirname(ROOT))
    lines = ", ".join(str(n) for n in graph[a][b])
    return f"    {rel}:{lines}  {a} -> {b}"


def without(graph, edges):
    return {a: {b: lines for b, lines in targets.items() if (a, b) not in edges} for a, targets in graph.items()}


def test_the_graph_sees_function_level_and_relative_imports(tmp_path):
    """The parser itself: imports inside functions count, and relative imports resolve."""
    source = (
        "import os\n"
        "from . import sibling\n"
        "from .sibling import thing\n"
        "def f():\n"
        "    from keras_tfm.pkg.other import x\n"
        "    import keras_tfm.pkg.sibling\n"
    )
    path = tmp_path / "mod.py"
    path.write_text(source)
    modules = {"keras_tfm.pkg.mod": str(path), "keras_tfm.pkg.sibling": "", "keras_tfm.pkg.other": "",
               "keras_tfm.pkg": ""}
    found = imports_of("keras_tfm.pkg.mod", str(path), modules)
    assert found == [("keras_tfm.pkg.sibling", 2), ("keras_tfm.pkg.sibling", 3), ("keras_tfm.pkg.other", 5),
                     ("keras_tfm.pkg.sibling", 6)]
    graph = {"a": {"b": [1]}, "b": {"c": [2]}, "c": {"a": [3]}, "d": {"a": [4]}}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert a_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]


def test_no_import_cycles():
    graph, modules = import_graph()
    missing = sorted(e for e in ALLOWED_CYCLE_EDGES if e[1] not in graph.get(e[0], {}))
    assert not missing, f"ALLOWED_CYCLE_EDGES lists imports that no longer exist; remove them: {missing}"
    cycles = strongly_connected(without(graph, ALLOWED_CYCLE_EDGES))
    if cycles:
        pruned = without(graph, ALLOWED_CYCLE_EDGES)
        report = []
        for component in cycles:
            report.append(f"{len(component)} modules import each other ({', '.join(component)}):")
            seen = set()
            for start in component:  # the shortest cycle through each module, each cycle once
                cycle = a_cycle(pruned, component, start)
                edges = frozenset(zip(cycle, cycle[1:]))
                if edges in seen:
                    continue
                seen.add(edges)
                report.append("  cycle:")
                report += [describe_edge(graph, modules, a, b) for a, b in zip(cycle, cycle[1:])]
        pytest.fail("keras_tfm has import cycles:\n" + "\n".join(report))


def test_lower_layers_do_not_import_upper_layers():
    graph, modules = import_graph()
    missing = sorted(e for e in ALLOWED_LAYERING_EDGES if e[1] not in graph.get(e[0], {}))
    assert not missing, f"ALLOWED_LAYERING_EDGES lists imports that no longer exist; remove them: {missing}"

    def within(name, packages):
        return any(name == p or name.startswith(p + ".") for p in packages)

    bad = [(a, b) for a, targets in sorted(graph.items()) for b in sorted(targets)
           if within(a, LOWER) and within(b, UPPER) and (a, b) not in ALLOWED_LAYERING_EDGES]
    if bad:
        pytest.fail(
            "models/, layers/, processing/ and checkpoints/ must not import generation/, pipelines/ or training/:\n"
            + "\n".join(describe_edge(graph, modules, a, b) for a, b in bad)
        )
