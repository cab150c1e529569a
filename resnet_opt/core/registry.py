"""The registry of artifact kinds: :class:`KindInfo`, :func:`register_kind`, :data:`KINDS`, :func:`kind_info`.

Each kind registers itself in one module of its own under :mod:`resnet_opt.core.kinds` (found there automatically);
:mod:`resnet_opt.core.manifest` imports that package, so :data:`KINDS` is full wherever manifests are used. What a
consumer needs to know about a kind is a field here, and the consumers' tables are views of the registry
(:func:`kind_table`, :func:`kind_names`) that also see a kind registered later, instead of tables of their own.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from resnet_opt.core.errors import ArtifactError, ManifestError

__all__ = ["KindInfo", "KINDS", "register_kind", "kind_info", "kind_table", "kind_names", "kinds_by_target",
           "LOADER_PACKAGE", "EXPORTER_PACKAGE", "BUILDER_PACKAGE", "REF_PACKAGES"]

# where the callables a KindInfo names by "module:name" string live: core names them by string, resolved only when
# used (the lazy upward references the layer rules allow; tests/test_layers.py checks each string resolves there,
# without a cycle): the runtime loader, the exporter, the quantize and QAT builders
LOADER_PACKAGE = "resnet_opt.runtime"
EXPORTER_PACKAGE = "resnet_opt.export"
BUILDER_PACKAGE = "resnet_opt.pipeline"
REF_PACKAGES = {"loader": LOADER_PACKAGE, "exporter": EXPORTER_PACKAGE, "int8_builder": BUILDER_PACKAGE,
                "qat_builder": BUILDER_PACKAGE}
PRECISIONS = ("fp32", "fp16", "bf16", "int8")


@dataclass(frozen=True)
class KindInfo:
    """One artifact kind. ``family`` is the backend family that runs it in ``bench`` (torch, torchscript, onnx, ...);
    ``loader`` is ``"module:function"`` (a module of :data:`LOADER_PACKAGE`) called as
    ``fn(artifact, provider=..., threads=...)`` -> a runtime Predictor (None: not loadable for inference, e.g. a
    serving repository); ``model_input``: stages that rebuild a PyTorch model (fuse, quantize, export, prune) accept it
    as their ``--model``. ``files``: precision -> the primary model file an artifact of this kind holds at that
    precision (``export KIND`` writes the non-int8 ones, ``quantize``/``qat`` the ``int8`` one); a kind with a
    non-int8 file is an ``export`` format. ``triton_platform``: (Triton platform, the model file name Triton expects
    in the version folder) when a Triton repository can be made from it, else None.

    The stages' callables, each ``"module:name"`` (resolved when used, :meth:`resolve`): ``exporter`` an
    :class:`resnet_opt.export.common.Exporter` in :data:`EXPORTER_PACKAGE` (``export NAME`` runs it);
    ``quantize_target`` the ``quantize --target`` value that builds this kind's INT8 file with ``int8_builder``, a
    function ``(Int8Job) -> Int8Build`` in :data:`BUILDER_PACKAGE`; ``qat_builder`` the function ``qat --target
    quantize_target`` writes the fine-tuned model with."""

    name: str
    family: str
    description: str
    loader: str | None
    model_input: bool = False
    files: Mapping[str, str] = field(default_factory=dict, hash=False)
    triton_platform: tuple[str, str] | None = None
    exporter: str | None = None
    quantize_target: str | None = None
    int8_builder: str | None = None
    qat_builder: str | None = None

    @property
    def exportable(self) -> bool:
        """``resnet-opt export NAME`` writes it (it registers an exporter)."""
        return self.exporter is not None

    def resolve(self, role: str) -> Any:
        """The object the ``role`` field (loader, exporter, int8_builder, qat_builder) names, imported now."""
        ref = getattr(self, role)
        if ref is None:
            raise ArtifactError(f"kind {self.name!r} ({self.description}) has no {role.replace('_', ' ')}")
        mod, _, name = ref.partition(":")
        return getattr(importlib.import_module(mod), name)

    def load_function(self) -> Callable[..., Any]:
        if self.loader is None:
            raise ArtifactError(f"artifacts of kind {self.name!r} ({self.description}) cannot be loaded for inference")
        return self.resolve("loader")


KINDS: dict[str, KindInfo] = {}


def register_kind(name: str, *, family: str, description: str, loader: str | None, model_input: bool = False,
                  files: Mapping[str, str] | None = None, triton_platform: tuple[str, str] | None = None,
                  exporter: str | None = None, quantize_target: str | None = None, int8_builder: str | None = None,
                  qat_builder: str | None = None) -> KindInfo:
    """Register an artifact kind: called once, by the kind's own module in :mod:`resnet_opt.core.kinds`."""
    refs = {"loader": loader, "exporter": exporter, "int8_builder": int8_builder, "qat_builder": qat_builder}
    for role, ref in refs.items():
        if ref is not None and (":" not in ref or not ref.startswith(REF_PACKAGES[role] + ".")):
            raise ValueError(f"kind {name!r}: {role} {ref!r} is not 'module:name' in {REF_PACKAGES[role]}")
    bad = [p for p in (files or {}) if p not in PRECISIONS]
    if bad:
        raise ValueError(f"kind {name!r}: files for unknown precisions {bad}; known: {', '.join(PRECISIONS)}")
    if exporter is not None and not any(p != "int8" for p in (files or {})):
        raise ValueError(f"kind {name!r}: an exporter needs the file it writes (files at fp32, fp16 or bf16)")
    if (int8_builder or qat_builder) and (quantize_target is None or "int8" not in (files or {})):
        raise ValueError(f"kind {name!r}: INT8 builders need a quantize_target name and an int8 file")
    taken = [k for k, i in KINDS.items() if quantize_target is not None and i.quantize_target == quantize_target
             and k != name]
    if taken:
        raise ValueError(f"kind {name!r}: quantize target {quantize_target!r} is kind {taken[0]!r}'s already")
    info = KindInfo(name=name, family=family, description=description, loader=loader, model_input=model_input,
                    files=dict(files or {}), triton_platform=triton_platform, exporter=exporter,
                    quantize_target=quantize_target, int8_builder=int8_builder, qat_builder=qat_builder)
    KINDS[name] = info
    return info


def kind_info(kind: str) -> KindInfo:
    if kind not in KINDS:
        raise ManifestError(f"unknown artifact kind {kind!r}; known kinds: {', '.join(KINDS)}")
    return KINDS[kind]


K = TypeVar("K")
V = TypeVar("V")


class _View(Mapping[K, V]):
    """A read-only mapping recomputed from :data:`KINDS` on every access (so a kind registered later is seen)."""

    def __init__(self, build: Callable[[], dict[K, V]]) -> None:
        self._build = build

    def __getitem__(self, key: K) -> V:
        return self._build()[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._build())

    def __len__(self) -> int:
        return len(self._build())

    def __repr__(self) -> str:
        return repr(self._build())


class _Names(Sequence[str]):
    """A read-only tuple of kind names recomputed from :data:`KINDS` on every access."""

    def __init__(self, build: Callable[[], tuple[str, ...]]) -> None:
        self._build = build

    def __getitem__(self, i: Any) -> Any:
        return self._build()[i]

    def __len__(self) -> int:
        return len(self._build())

    def __eq__(self, other: object) -> bool:
        return tuple(self._build()) == (tuple(other) if isinstance(other, (tuple, list, _Names)) else other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._build())


def kind_table(build: Callable[[], dict[K, V]]) -> Mapping[K, V]:
    """A consumer's table derived from the registry, e.g. ``kind_table(lambda: {k: i.files for k, i in
    KINDS.items()})``: a live read-only mapping."""
    return _View(build)


def kind_names(where: Callable[[KindInfo], bool]) -> Sequence[str]:
    """The names of the registered kinds ``where(info)`` holds for, in registration order: a live read-only
    sequence."""
    return _Names(lambda: tuple(k for k, i in KINDS.items() if where(i)))


def kinds_by_target(builder: str) -> Mapping[str, KindInfo]:
    """The kinds that register ``builder`` (``int8_builder`` for quantize, ``qat_builder`` for QAT), by their
    ``--target`` name: a live read-only mapping."""
    return _View(lambda: {i.quantize_target: i for i in KINDS.values() if getattr(i, builder) is not None})
