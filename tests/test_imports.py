"""The import graph of tfkd: no cycles among module-level imports, no arrow back up the layers, every module imports.

Layers, bottom to top: what a module may import lies in its own layer or below (a
function-local import counts too). A package or module not listed is in the core layer.
"""

import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tfkd")

LAYERS = [
    {"tfkd", "tfkd.errors", "tfkd.files", "tfkd.model"},  # bottom: nothing else of tfkd
    None,  # core: data, models, losses, Distiller, callbacks, saving, report, ... (everything unlisted)
    {"tfkd.compress", "tfkd.export", "tfkd.recipes"},
    {"tfkd.codegen"},
    {"tfkd.pipeline"},
    {"tfkd.demo"},
    {"tfkd.cli", "tfkd.__main__"},
]
# (importer, imported) arrows up the layers that are kept on purpose.
ALLOWED_UP = {
    # tfkd.export.codegen, a lazily resolved alias of tfkd.codegen.generate kept for existing callers.
    ("tfkd.export", "tfkd.codegen"),
    # tfkd/__init__ resolves its public submodules lazily (tfkd.compress, tfkd.pipeline, ...).
}


def _modules():
    found = {}
    for directory, _, names in os.walk(ROOT):
        for file_name in names:
            if file_name.endswith(".py"):
                path = os.path.join(directory, file_name)
                relative = os.path.relpath(path, os.path.dirname(ROOT))[:-3].replace(os.sep, ".")
                found[relative[: -len(".__init__")] if relative.endswith(".__init__") else relative] = path
    return found


MODULES = _modules()


def _imports(name, path, module_level_only):
    """tfkd modules that ``name`` imports (module-level statements only, or anywhere)."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return {module for module in found if module in MODULES and module != name}


def _unit(module):
    """The package (or top-level module) a module belongs to: tfkd.export.arena -> tfkd.export."""
    return ".".join(module.split(".")[:2])


def _layer(module):
    unit = _unit(module)
    for index, members in enumerate(LAYERS):
        if members and unit in members:
            return index
    return 1


def test_no_cycles_among_module_level_imports():
    graph = {name: _imports(name, path, module_level_only=True) for name, path in MODULES.items()}
    state = {}

    def visit(module, stack):
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                cycle = stack[stack.index(imported):] + [imported]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if imported not in state:
                visit(imported, stack + [imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_no_import_points_up_the_layers():
    upward = []
    for name, path in MODULES.items():
        if _unit(name) == "tfkd":  # the package's lazy __getattr__ names every public submodule
            continue
        for imported in _imports(name, path, module_level_only=False):
            arrow = (_unit(name), _unit(imported))
            if _layer(imported) > _layer(name) and arrow not in ALLOWED_UP:
                upward.append(f"{name} -> {imported}")
    assert not upward, "imports pointing up the layers:\n" + "\n".join(sorted(upward))


def test_the_layering_sees_the_known_packages():
    assert _layer("tfkd.model.reader") < _layer("tfkd.distiller") < _layer("tfkd.compress.prune") \
        < _layer("tfkd.codegen.generator") < _layer("tfkd.pipeline.stage") < _layer("tfkd.demo") < _layer("tfkd.cli")
    assert ("tfkd.pipeline.stage" in MODULES) and _imports("tfkd.pipeline", MODULES["tfkd.pipeline"], True)


def test_every_module_imports():
    names = sorted(name for name in MODULES if not name.endswith("__main__"))
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    result = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
