"""The architecture rules, checked on the source: no upward imports between the layers the README lists, no
import cycles between modules (function-level imports included), no private names imported across modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "resnet_opt"
# lower number = lower layer; a module may import its own layer or any layer below
# serve (Triton serving) sits above the runtime and below the CLI only: nothing but cli/ may import it
LAYERS = {"core": 0, "resnet": 1, "data": 1, "engine": 2, "optimize": 3, "export": 3, "runtime": 4, "bench": 5,
          "pipeline": 6, "serve": 7, "cli": 8}


def _modules() -> dict[str, Path]:
    mods = {}
    for f in PKG.rglob("*.py"):
        rel = f.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = f
    return mods


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import in the file, nested ones included."""
    tree = ast.parse(path.read_text())
    out = []
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = pkg.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            out.append((base, [a.name for a in node.names], node.lineno))
    return out


def _targets(mod: str, names: list[str]) -> list[str]:
    """Modules an import depends on: ``from pkg import sub`` depends on ``pkg.sub`` when it is a module."""
    if not mod.startswith("resnet_opt"):
        return []
    subs = [f"{mod}.{n}" for n in names if f"{mod}.{n}" in MODULES]
    rest = [n for n in names if f"{mod}.{n}" not in MODULES]
    return subs + ([mod] if rest or not names else [])


def _layer(mod: str) -> int | None:
    parts = mod.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def _graph() -> dict[str, set[str]]:
    g: dict[str, set[str]] = {m: set() for m in MODULES}
    for m, f in MODULES.items():
        for mod, names, _ in _imports(m, f):
            for t in _targets(mod, names):
                if t in MODULES and t != m:
                    g[m].add(t)
    return g


def test_no_upward_imports():
    bad = []
    for m, f in MODULES.items():
        lm = _layer(m)
        for mod, names, line in _imports(m, f):
            for t in _targets(mod, names):
                lt = _layer(t)
                if lm is not None and lt is not None and lt > lm:
                    bad.append(f"{f.relative_to(PKG.parent)}:{line} imports {t} (layer {lt} above {lm})")
    assert not bad, "\n".join(bad)


def test_import_graph_sees_nested_and_package_imports():
    g = _graph()
    assert "resnet_opt.core.manifest" in g["resnet_opt.resnet.io"]
    assert "resnet_opt.export.validate" in g["resnet_opt.export.onnx_export"]  # ``from resnet_opt.export import validate``
    assert "resnet_opt.resnet" in g["resnet_opt.runtime.loaders"] or "resnet_opt.resnet.io" in g["resnet_opt.runtime.loaders"]


def test_no_import_cycles():
    g = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    sccs: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:  # Tarjan
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    for v in g:
        if v not in index:
            strong(v)
    assert not sccs, "import cycles: " + "; ".join(" <-> ".join(c) for c in sccs)


def test_no_private_names_across_modules():
    bad = []
    for m, f in MODULES.items():
        for mod, names, line in _imports(m, f):
            if not mod.startswith("resnet_opt") or mod == m:
                continue
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    bad.append(f"{f.relative_to(PKG.parent)}:{line} imports private {mod}.{n}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_every_layer_exists(layer):
    assert (PKG / layer / "__init__.py").is_file()
