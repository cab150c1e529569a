"""The architecture rules, checked on the source: no upward imports between the layers the README lists, no
import cycles between modules (function-level imports included), no private names imported across modules.

Imports the parser cannot see as ``import`` statements are seen too: ``importlib.import_module("resnet_opt...")``
calls with a literal name, the kind modules the ``resnet_opt.core.kinds`` package imports by discovery (pkgutil),
and the ``"module:name"`` strings of the kind registry. Those strings are the ONE allowed upward reference: a kind
(core, layer 0) names its runtime loader (layer 4), its exporter (export, layer 3) and its INT8 / QAT builders
(pipeline, layer 6) by string, resolved only when used; each must live in the package its role allows, exist, be
public, and not make a cycle with the module that names it."""

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


def _literal_import_modules(path: Path) -> list[tuple[str, int]]:
    """``importlib.import_module("resnet_opt...")`` / ``import_module("resnet_opt...")`` calls with a literal name."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str) and node.args[0].value.startswith("resnet_opt"):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
            if name == "import_module":
                out.append((node.args[0].value, node.lineno))
    return out


KINDS_PACKAGE = "resnet_opt.core.kinds"
# where each role's strings must point (core -> these, by string only)
REF_PACKAGES = {"loader": "resnet_opt.runtime", "exporter": "resnet_opt.export", "int8_builder": "resnet_opt.pipeline",
                "qat_builder": "resnet_opt.pipeline"}


def _discovered() -> dict[str, list[str]]:
    """Packages that import their modules by discovery (pkgutil): package -> the modules it imports."""
    return {KINDS_PACKAGE: sorted(m for m in MODULES if m.startswith(KINDS_PACKAGE + "."))}


def _dynamic_edges() -> dict[str, set[str]]:
    """Import-time edges the import statements do not show: literal import_module calls and package discovery."""
    g: dict[str, set[str]] = {m: set() for m in MODULES}
    for m, f in MODULES.items():
        g[m] |= {name for name, _ in _literal_import_modules(f) if name in MODULES and name != m}
    for pkg, mods in _discovered().items():
        g[pkg] |= set(mods)
    return g


def _registry_refs() -> list[tuple[str, str, str, str]]:
    """(kind module, role, module, name) for every ``"module:name"`` string a kind module registers."""
    import importlib

    from resnet_opt.core.kinds import KIND_MODULES

    out = []
    for km in KIND_MODULES:
        info = importlib.import_module(km).KIND
        for role in REF_PACKAGES:
            ref = getattr(info, role)
            if ref is not None:
                mod, _, fn = ref.partition(":")
                out.append((km, role, mod, fn))
    return out


def _static_graph() -> dict[str, set[str]]:
    g: dict[str, set[str]] = {m: set() for m in MODULES}
    for m, f in MODULES.items():
        for mod, names, _ in _imports(m, f):
            for t in _targets(mod, names):
                if t in MODULES and t != m:
                    g[m].add(t)
    return g


def _graph() -> dict[str, set[str]]:
    """Every import-time edge: import statements (nested ones too), literal import_module calls, package discovery."""
    g = _static_graph()
    for m, extra in _dynamic_edges().items():
        g[m] |= extra
    return g


def _cycles(g: dict[str, set[str]]) -> list[list[str]]:
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
    return sccs


def test_no_upward_imports():
    bad = []
    for m, f in MODULES.items():
        lm = _layer(m)
        for mod, names, line in _imports(m, f):
            for t in _targets(mod, names):
                lt = _layer(t)
                if lm is not None and lt is not None and lt > lm:
                    bad.append(f"{f.relative_to(PKG.parent)}:{line} imports {t} (layer {lt} above {lm})")
        for name, line in _literal_import_modules(f):
            lt = _layer(name)
            if name not in MODULES:
                bad.append(f"{f.relative_to(PKG.parent)}:{line} import_module({name!r}): no such module")
            elif lm is not None and lt is not None and lt > lm:
                bad.append(f"{f.relative_to(PKG.parent)}:{line} import_module({name!r}) (layer {lt} above {lm})")
    for pkg, mods in _discovered().items():
        bad += [f"{pkg} discovers {t} (layer {_layer(t)} above {_layer(pkg)})" for t in mods
                if (_layer(t) or 0) > (_layer(pkg) or 0)]
    assert not bad, "\n".join(bad)


def test_import_graph_sees_nested_and_package_imports():
    g = _graph()
    assert "resnet_opt.core.manifest" in g["resnet_opt.resnet.io"]
    assert "resnet_opt.export.validate" in g["resnet_opt.export.onnx_export"]  # ``from resnet_opt.export import validate``
    assert "resnet_opt.resnet" in g["resnet_opt.runtime.loaders"] or "resnet_opt.resnet.io" in g["resnet_opt.runtime.loaders"]
    assert "resnet_opt.core.kinds" in g["resnet_opt.core.manifest"]
    assert {"resnet_opt.core.kinds.onnx", "resnet_opt.core.kinds.model"} <= g[KINDS_PACKAGE]  # discovery (pkgutil)


def test_literal_import_module_calls_are_seen(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import importlib\ndef f():\n    importlib.import_module('resnet_opt.cli')\n")
    assert _literal_import_modules(f) == [("resnet_opt.cli", 3)]


def test_no_import_cycles():
    sccs = _cycles(_graph())
    assert not sccs, "import cycles: " + "; ".join(" <-> ".join(c) for c in sccs)


def test_every_kind_module_registers_one_kind():
    import importlib

    from resnet_opt.core.kinds import KIND_MODULES
    from resnet_opt.core.manifest import KINDS

    infos = [importlib.import_module(m).KIND for m in KIND_MODULES]
    assert sorted(i.name for i in infos) == sorted(KINDS), "a kind registered outside resnet_opt/core/kinds/"
    assert set(KIND_MODULES) == set(_discovered()[KINDS_PACKAGE]), "the layer test and the package disagree"


def test_registry_strings_resolve_within_the_layer_rules():
    """Every string a kind registers (loader, exporter, INT8 and QAT builder): its module exists in the package its
    role allows (the upward references core may make, by string, resolved when used), the object exists and is
    public (a function; an :class:`~resnet_opt.export.common.Exporter` for an exporter), and the reference makes no
    cycle: the named module must not import the kind module that names it (import statements, literal
    import_module calls; the package's discovery runs at import, before any string is resolved, so it is not an
    edge here)."""
    import importlib

    from resnet_opt.core.manifest import KINDS
    from resnet_opt.core.registry import REF_PACKAGES as registry_rule
    from resnet_opt.export.common import Exporter

    assert registry_rule == REF_PACKAGES
    refs = _registry_refs()
    loaders = {km.rpartition(".")[2].replace("_", "-") for km, role, _, _ in refs if role == "loader"}
    assert loaders | {k for k, i in KINDS.items() if i.loader is None} == set(KINDS)
    assert {role for _, role, _, _ in refs} == set(REF_PACKAGES)  # every role is used, so every rule is exercised
    bad = []
    g = _static_graph()
    for m, f in MODULES.items():
        g[m] |= {name for name, _ in _literal_import_modules(f) if name in MODULES and name != m}
    for km, role, mod, fn in refs:
        pkg = REF_PACKAGES[role]
        if not (mod == pkg or mod.startswith(pkg + ".")):
            bad.append(f"{km}: {role} {mod}:{fn} is not in {pkg} (the layer core may name by string for it)")
            continue
        if mod not in MODULES:
            bad.append(f"{km}: {role} module {mod} does not exist")
            continue
        obj = getattr(importlib.import_module(mod), fn, None)
        if not (isinstance(obj, Exporter) if role == "exporter" else callable(obj)):
            bad.append(f"{km}: {mod} has no {'Exporter' if role == 'exporter' else 'function'} {fn}")
        if fn.startswith("_"):
            bad.append(f"{km}: {role} {mod}:{fn} is a private name")
        g[km].add(mod)
    sccs = _cycles(g)
    bad += ["cycle through a registry string: " + " <-> ".join(c) for c in sccs]
    assert not bad, "\n".join(bad)


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
