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

__all__ = ["KindInfo", "KINDS", "register_kind", "kind_info", "kind_table", "kind_names", "LOADER_PACKAGE"]

# where every loader named by a KindInfo lives: core names runtime loaders by string (the one lazy upward reference
# the layer rules allow; tests/test_layers.py checks each string resolves to a function there, without a cycle)
LOADER_PACKAGE = "resnet_opt.runtime"
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
    in the version folder) when a Triton repository can be made from it, else None."""

    name: str
    family: str
    description: str
    loader: str | None
    model_input: bool = False
    files: Mapping[str, str] = field(default_factory=dict, hash=False)
    triton_platform: tuple[str, str] | None = None

    @property
    def exportable(self) -> bool:
        """``resnet-opt export NAME`` writes it (it has a file at a precision other than int8)."""
        return any(p != "int8" for p in self.files)

    def load_function(self) -> Callable[..., Any]:
        if self.loader is None:
            raise ArtifactError(f"artifacts of kind {self.name!r} ({self.description}) cannot be loaded for inference")
        mod, _, fn = self.loader.partition(":")
        return getattr(importlib.import_module(mod), fn)


KINDS: dict[str, KindInfo] = {}


def register_kind(name: str, *, family: str, description: str, loader: str | None, model_input: bool = False,
                  files: Mapping[str, str] | None = None, triton_platform: tuple[str, str] | None = None) -> KindInfo:
    """Register an artifact kind: called once, by the kind's own module in :mod:`resnet_opt.core.kinds`."""
    if loader is not None and (":" not in loader or not loader.startswith(LOADER_PACKAGE + ".")):
        raise ValueError(f"kind {name!r}: loader {loader!r} is not 'module:function' in {LOADER_PACKAGE}")
    bad = [p for p in (files or {}) if p not in PRECISIONS]
    if bad:
        raise ValueError(f"kind {name!r}: files for unknown precisions {bad}; known: {', '.join(PRECISIONS)}")
    info = KindInfo(name=name, family=family, description=description, loader=loader, model_input=model_input,
                    files=dict(files or {}), triton_platform=triton_platform)
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
