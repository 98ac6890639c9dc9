"""The import structure: `neuro_codec` imports without Lava (Python 3.12 has none), its modules
import one another without a cycle, the packages import one way only, hardware → conversion →
neuro_codec, and inside `neuro_codec` the layers import only down their order (`LAYERS`)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("neuro_codec", "conversion", "hardware")

# Run in a fresh interpreter: `import lava` (and any lava.*) raises ImportError, as where the
# lava extra is not installed; then every module of neuro_codec is imported.
NO_LAVA = r"""
import importlib, importlib.abc, json, pkgutil, sys

class NoLava(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "lava" or name.startswith("lava."):
            raise ImportError(f"No module named {name!r} (Lava hidden by the test)")
        return None

sys.meta_path.insert(0, NoLava())
import neuro_codec

imported = ["neuro_codec"]
for info in pkgutil.walk_packages(neuro_codec.__path__, "neuro_codec."):
    if info.name == "neuro_codec.__main__":   # runs the CLI when imported
        continue
    importlib.import_module(info.name)
    imported.append(info.name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("lava", "nir", "conversion", "hardware"))
print(json.dumps({"imported": imported, "bad": bad}))
"""


def module_files(package: str) -> dict[str, Path]:
    """{dotted module name: file} of every module of a package (packages by __init__.py)."""
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of `known` that a module's code imports, at module level or inside functions.

    `from a.b import c` is an import of `a.b.c` when that is a module, else of `a.b`; relative
    imports are resolved against the module's package. The parent packages that Python
    initialises on the way are not edges: they run first, whoever imports what.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:   # `import a.b.c` where c is a name
                target = target.rpartition(".")[0]
            if target:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {m: p for pkg in PACKAGES for m, p in module_files(pkg).items()}
    return {m: imports_of(m, p, set(files)) for m, p in files.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of a directed graph."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
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
            out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_tarjan_finds_a_cycle_and_leaves_a_chain_alone():
    assert sorted(strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})) == [
        ["a", "b", "c"], ["d"]]
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": set()}) == [["c"], ["b"], ["a"]]


def test_the_graph_sees_function_level_and_from_imports(tmp_path):
    graph = import_graph()
    # Module level: `from neuro_codec.errors import CodecError`.
    assert "neuro_codec.errors" in graph["neuro_codec.model.checkpoint"]
    # Inside a function: compression.load_model imports the checkpoint module.
    assert "neuro_codec.model.checkpoint" in graph["neuro_codec.compression"]
    # `from neuro_codec.commands import analysis, codec, …`: the submodules.
    assert {"neuro_codec.commands.codec", "neuro_codec.commands.storage"} <= graph[
        "neuro_codec.commands"]
    assert len(graph) == sum(len(module_files(p)) for p in PACKAGES)


# The layers of neuro_codec, lowest first; a module may import its own layer and those below.
# `training` sits on `evaluation` (it validates with the metrics); nothing below imports it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "fileio", "figures"),          # exceptions, atomic writes, the plotting helper
    ("data",),
    ("model",),
    ("coding",),
    ("compression",),                         # the codec's API
    ("evaluation",),
    ("training",),
    ("commands",),
    ("cli", "train", "train_refiner", "__main__", ""),   # entry points; "" is the __init__
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def layer_of(module: str) -> str:
    """neuro_codec.model.codec → "model"; neuro_codec.cli → "cli"; neuro_codec → ""."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_neuro_codec_module_has_a_layer():
    assert sorted({layer_of(m) for m in module_files("neuro_codec")} - set(RANK)) == []


def test_neuro_codec_imports_only_down_its_layers():
    upward = sorted(
        f"{m} → {d}" for m, deps in import_graph().items() if m.startswith("neuro_codec")
        for d in deps if d.startswith("neuro_codec") and RANK[layer_of(d)] > RANK[layer_of(m)])
    assert upward == []


def test_the_layer_check_sees_an_upward_import():
    # model.losses imports model.spectral (same layer); were it to import evaluation, it would
    # be an upward edge that the check above reports.
    graph = import_graph()
    assert "neuro_codec.model.spectral" in graph["neuro_codec.model.losses"]
    assert RANK[layer_of("neuro_codec.evaluation.metrics")] > RANK[layer_of(
        "neuro_codec.model.losses")]


def test_no_import_cycle():
    cycles = [c for c in strongly_connected(import_graph()) if len(c) > 1]
    self_loops = [m for m, deps in import_graph().items() if m in deps]
    assert cycles == [] and self_loops == []


def test_imports_go_one_way_hardware_conversion_neuro_codec():
    graph = import_graph()
    allowed = {"neuro_codec": {"neuro_codec"}, "conversion": {"conversion", "neuro_codec"},
               "hardware": set(PACKAGES)}
    wrong = sorted((m, d) for m, deps in graph.items() for d in deps
                   if d.split(".")[0] not in allowed[m.split(".")[0]])
    assert wrong == []


def test_every_neuro_codec_module_imports_without_lava():
    r = subprocess.run([sys.executable, "-c", NO_LAVA], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["bad"] == []
    want = sorted(set(module_files("neuro_codec")) - {"neuro_codec.__main__"})
    assert sorted(result["imported"]) == want


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Modules that `start` imports, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_the_cost_model_imports_no_file_code():
    # Training imports the costs; they must not drag in the formats' codecs or the container.
    graph = import_graph()
    file_code = {"neuro_codec.coding.formats", "neuro_codec.coding.container",
                 "neuro_codec.coding.bitstream", "neuro_codec.coding.rvq_file"}
    assert sorted(reachable(graph, "neuro_codec.coding.costs") & file_code) == []
    assert reachable(graph, "neuro_codec.coding.formats") >= {
        "neuro_codec.coding.bits", "neuro_codec.coding.costs"}


def test_training_imports_the_costs_not_the_formats():
    graph = import_graph()
    training = {m: deps for m, deps in graph.items() if m.startswith("neuro_codec.training")}
    assert training and sorted(
        m for m, deps in training.items() if "neuro_codec.coding.formats" in deps) == []
    assert any("neuro_codec.coding.costs" in deps for deps in training.values())
