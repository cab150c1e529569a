"""The artifact contract: a typed, versioned :class:`Manifest`, the registry of artifact kinds, and one opener.

Every artifact resnet-opt writes is a folder holding ``manifest.json``. Every consumer (``runtime.load``, ``eval``,
``predict``, ``bench``, the stages that take a model) opens it through :func:`open_artifact`, which parses the
manifest into a :class:`Manifest` (a typed error naming the field when it is malformed), checks that every file it
lists is inside the folder and matches its sha256, and returns an :class:`Artifact`.

A model folder (``config.json`` + ``model.safetensors``, what ``train`` and ``save_model`` write) is an artifact of
kind ``model``: when it has no ``manifest.json`` the opener builds the manifest from ``config.json``.

A new artifact kind is ONE module of its own in :mod:`resnet_opt.core.kinds` that calls :func:`register_kind` (the
mechanism: :mod:`resnet_opt.core.registry`, re-exported here): its name, the backend family that runs it, the
``"module:function"`` of its runtime loader, its file names per precision and its Triton platform. Importing this
module registers every kind; consumers derive their tables from :data:`KINDS`. The kinds × consumers test matrix
(tests/test_kinds.py) reads it.

JSON layout (``format_version`` 2; version-1 manifests are read too)::

    {"format": "resnet-opt-artifact", "format_version": 2, "created": "...",
     "kind": "onnx", "precision": "fp32", "stage": "export",
     "file": "model.onnx",                       # the primary model file (files[0]), also as file_sha256/file_size
     "files": [{"path": "model.onnx", "sha256": "...", "size": 123, "role": "model"}],
     "input": {"name": "input", "shape": [-1, 3, 32, 32], "dtype": "float32"},
     "output": {"name": "logits", "shape": [-1, 10], "dtype": "float32"},
     "preprocessing": {...}, "class_names": [...] | null,
     "source": {...}, "architecture": {"depth": 18, "num_classes": 10, ...},
     "validation": {...}, "measurements": {...}, "versions": {...}, "cpu": {...},
     ...stage sections (export, quantization, pruning, finetune, compile, ...)}
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from resnet_opt.core.artifact import atomic_write_text, sha256_file, to_json
from resnet_opt.core.errors import ArtifactError, ManifestError, ModelFormatError
from resnet_opt.core.model_config import (
    MODEL_CONFIG_NAME, MODEL_FORMAT, MODEL_WEIGHTS_NAME, ModelConfigError, check_model_config,
)
from resnet_opt.core import kinds as _kinds  # noqa: F401  every kind registers itself there (KINDS is full from here on)
from resnet_opt.core.registry import KINDS, PRECISIONS, KindInfo, kind_info, register_kind
from resnet_opt.core.preprocessing import INTERPOLATIONS, Preprocessing, PreprocessingError

__all__ = [
    "MANIFEST_NAME", "MANIFEST_FORMAT", "MANIFEST_VERSION", "SUPPORTED_VERSIONS", "MODEL_CONFIG_NAME",
    "MODEL_WEIGHTS_NAME", "MODEL_FORMAT", "ManifestError", "KindInfo", "KINDS", "register_kind", "kind_info",
    "TensorSpec", "FileEntry", "Section", "Architecture", "Source", "Validation", "Measurements", "StageSection",
    "ExportSection", "CompileSection", "QuantizationSection", "OpenVinoSection", "PruningSection", "STAGE_SECTIONS",
    "Manifest", "Artifact", "open_artifact", "manifest_json_schema", "write_manifest", "read_manifest",
]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "resnet-opt-artifact"
MANIFEST_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)
# the model folder format: resnet_opt.resnet.io writes it, core.model_config reads and checks its config.json


# ------------------------------------------------------------------------------------------------ the manifest
def _where(where: str, key: str) -> str:
    return f"{where}: field '{key}'"


def _req_str(d: dict[str, Any], key: str, where: str, *, optional: bool = False) -> str | None:
    v = d.get(key)
    if v is None and optional:
        return None
    if not isinstance(v, str) or not v:
        raise ManifestError(f"{_where(where, key)} must be a non-empty string, got {v!r}")
    return v


def _opt_dict(d: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    v = d.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ManifestError(f"{_where(where, key)} must be an object, got {type(v).__name__}")
    return v


def _check_int(v: Any, what: str, *, minimum: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ManifestError(f"{what} must be an integer, got {v!r}")
    if minimum is not None and v < minimum:
        raise ManifestError(f"{what} must be at least {minimum}, got {v}")
    return v


@dataclass
class TensorSpec:
    """Name, shape (``-1`` for a dynamic axis) and dtype of a model input or output."""

    name: str
    shape: list[int]
    dtype: str = "float32"

    @classmethod
    def from_dict(cls, d: Any, file: str, field_name: str) -> "TensorSpec":
        where = f"{file}: field '{field_name}"
        if not isinstance(d, dict):
            raise ManifestError(f"{where}' must be an object, got {type(d).__name__}")
        name = d.get("name", "input" if field_name == "input" else "logits")
        if not isinstance(name, str) or not name:
            raise ManifestError(f"{where}.name' must be a non-empty string, got {name!r}")
        shape = d.get("shape")
        if not isinstance(shape, list) or not shape:
            raise ManifestError(f"{where}.shape' must be a list of integers, got {shape!r}")
        for i, s in enumerate(shape):
            _check_int(s, f"{where}.shape[{i}]'", minimum=-1)
            if s == 0:
                raise ManifestError(f"{where}.shape[{i}]' must be positive or -1 (dynamic), got 0")
        dtype = d.get("dtype", "float32")
        if not isinstance(dtype, str) or not dtype:
            raise ManifestError(f"{where}.dtype' must be a string, got {dtype!r}")
        return cls(name=name, shape=[int(s) for s in shape], dtype=dtype)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass
class FileEntry:
    """A file of the artifact, relative to its folder, with its sha256 and size (None until written)."""

    path: str
    sha256: str | None = None
    size: int | None = None
    role: str = "model"

    @classmethod
    def from_dict(cls, d: Any, where: str) -> "FileEntry":
        if not isinstance(d, dict):
            raise ManifestError(f"{where} must be an object, got {type(d).__name__}")
        path = _req_str(d, "path", where)
        assert path is not None
        _check_relative(path, where)
        sha = d.get("sha256")
        if sha is not None and (not isinstance(sha, str) or len(sha) != 64
                                or any(c not in "0123456789abcdef" for c in sha)):
            raise ManifestError(f"{_where(where, 'sha256')} must be 64 lowercase hex digits, got {sha!r}")
        size = d.get("size")
        if size is not None:
            _check_int(size, f"{where}.size", minimum=0)
        role = d.get("role", "model")
        if not isinstance(role, str):
            raise ManifestError(f"{_where(where, 'role')} must be a string, got {role!r}")
        return cls(path=path, sha256=sha, size=size, role=role)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size, "role": self.role}


def _check_relative(path: str, where: str) -> None:
    p = Path(path)
    if p.is_absolute() or ".." in p.parts or path.startswith("~"):
        raise ManifestError(f"{where} names a file outside the artifact folder: {path!r}")


def _check_preprocessing(pre: Any, file: str, name: str = "preprocessing") -> Preprocessing | None:
    """The recorded preprocessing, checked by :meth:`Preprocessing.from_dict` (the one set of checks); None when the
    section is absent or empty. A bad field is a ManifestError naming ``preprocessing.<field>``."""
    if pre is not None and not isinstance(pre, (dict, Preprocessing)):
        raise ManifestError(f"{file}: field '{name}' must be an object, got {type(pre).__name__}")
    try:
        return Preprocessing.optional(pre)
    except PreprocessingError as e:
        key = f"{name}.{e.field}" if e.field else name
        raise ManifestError(f"{file}: field '{key}': {e}") from None


# ------------------------------------------------------------------------------------------------ typed sections
class Section:
    """A typed manifest section: its known fields (None = absent) plus ``extra`` for keys this version does not
    know, so old and foreign manifests round-trip. Read access by key (``section["depth"]``, ``.get``) is kept for
    callers that treat the section as the JSON object it is written as."""

    extra: dict[str, Any]
    __json_form__ = True  # core.artifact.plain writes a section as its JSON object (to_dict), not its fields

    @classmethod
    def known(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls) if f.name != "extra")  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, d: Any, where: str, name: str):
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise ManifestError(f"{_where(where, name)} must be an object, got {type(d).__name__}")
        known = cls.known()
        obj = cls(**{k: d[k] for k in known if k in d}, extra={k: v for k, v in d.items() if k not in known})
        obj.check(f"{where}: field '{name}")
        return obj

    def check(self, where: str) -> None:
        """Type checks of the known fields (``where`` is "FILE: field 'NAME" without the closing quote)."""

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.known() if getattr(self, k) is not None}
        d.update({k: v for k, v in self.extra.items() if k not in d})
        return d

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_dict().get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.to_dict()

    def __bool__(self) -> bool:
        return bool(self.to_dict())


def _section(cls: Any, value: Any, where: str, name: str) -> Any:
    """A section given typed or as its JSON object (checked like one read from disk)."""
    if value is None:
        return cls()
    return value if isinstance(value, cls) else cls.from_dict(value, where, name)


def _opt_int(v: Any, what: str, minimum: int = 1) -> None:
    if v is not None:
        _check_int(v, what, minimum=minimum)


@dataclass(eq=True)
class Architecture(Section):
    """The network: depth, classes, non-standard widths (pruned or custom), BatchNorms folded, stem."""

    depth: int | None = None
    num_classes: int | None = None
    widths: dict[str, int] | None = None
    fused: bool | None = None
    stem: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self, where: str) -> None:
        _opt_int(self.depth, f"{where}.depth'")
        _opt_int(self.num_classes, f"{where}.num_classes'")
        if self.widths is not None and not isinstance(self.widths, dict):
            raise ManifestError(f"{where}.widths' must be an object, got {type(self.widths).__name__}")
        if self.fused is not None and not isinstance(self.fused, bool):
            raise ManifestError(f"{where}.fused' must be true or false, got {self.fused!r}")

    @classmethod
    def of_model(cls, model: Any, *, num_classes: int | None = None, widths: dict[str, int] | None = None,
                 fused: bool | None = None, stem: bool = True) -> "Architecture":
        """The section of a resnet_opt ResNet (read from ``model.arch``; duck-typed, core imports no model code)."""
        arch = getattr(model, "arch", None)
        return cls(depth=getattr(arch, "depth", None),
                   num_classes=int(num_classes if num_classes is not None else getattr(arch, "num_classes")),
                   widths=widths, fused=fused, stem=getattr(arch, "stem", None) if stem else None)


@dataclass(eq=True)
class Source(Section):
    """Where the artifact came from: a model (``kind`` random / weights / model_dir, ``path``, ``sha256``,
    ``architecture``, ``num_classes``, ``trained``) or, for a Triton repository, the ``artifact`` it was made from
    (``kind``, ``file``, ``file_sha256``)."""

    kind: str | None = None
    path: str | None = None
    sha256: str | None = None
    architecture: str | None = None
    num_classes: int | None = None
    trained: bool | None = None
    artifact: str | None = None
    file: str | None = None
    file_sha256: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self, where: str) -> None:
        if self.trained is not None and not isinstance(self.trained, bool):
            raise ManifestError(f"{where}.trained' must be true or false, got {self.trained!r}")


@dataclass(eq=True)
class Validation(Section):
    """How the artifact was checked against its source: the agreement and accuracy figures each stage records
    (export: ``max_abs_diff``, ``atol``, ``passed``...; quantize/QAT: ``top1_agreement``, ``fp32_top1``,
    ``int8_top1``, ``top1_drop``...; prune: ``reload_identical``); the rest of a stage's report in ``extra``."""

    passed: bool | None = None
    max_abs_diff: float | None = None
    top1_agreement: float | None = None
    fp32_top1: float | None = None
    int8_top1: float | None = None
    top1_drop: float | None = None
    accuracy_meaningful: bool | None = None
    reload_identical: bool | None = None
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=True)
class Measurements(Section):
    """What was measured when the artifact was made: sizes, latencies (ms), load time, before/after (prune)."""

    size_bytes: dict[str, Any] | None = None
    latency_ms: dict[str, Any] | None = None
    load_ms: float | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    input_size: int | None = None
    threads: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class StageSection(Section):
    """A stage's section: its known fields type-checked from their annotations (``int | None``, ``list[int] |
    None``, ...); keys this version does not know are kept in ``extra``."""

    def check(self, where: str) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if f.name == "extra" or v is None:
                continue
            parts = [p.strip() for p in str(f.type).split("|") if p.strip() != "None"]
            if not any(_is_json_type(v, p) for p in parts):
                raise ManifestError(f"{where}.{f.name}' must be {' or '.join(parts)}, got {v!r}")


def _is_json_type(v: Any, annotation: str) -> bool:
    if annotation.startswith("dict"):
        return isinstance(v, dict)
    if annotation.startswith(("list", "tuple")):
        return isinstance(v, (list, tuple))
    if annotation == "bool":
        return isinstance(v, bool)
    if isinstance(v, bool):
        return False
    return isinstance(v, {"int": int, "float": (int, float), "str": str}[annotation])


@dataclass(eq=True)
class ExportSection(StageSection):
    """``export``: how the model file was exported (format, exporter, opset, batch sizes, load-time options)."""

    format: str | None = None
    method: str | None = None
    exporter: str | None = None
    opset: int | None = None
    dynamic_batch: bool | None = None
    batch_sizes: list[int] | None = None
    optimize_for_inference_on_load: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=True)
class CompileSection(StageSection):
    """``compile``: how an AOTInductor package was compiled (device, batch sizes, the CPU ISA its kernels need)."""

    device: str | None = None
    batch_sizes: list[int] | None = None
    vec_isa: str | None = None
    compile_seconds: float | None = None
    api: str | None = None
    inductor_configs: dict[str, Any] | None = None
    settings: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=True)
class QuantizationSection(StageSection):
    """``quantization``: how the INT8 file was made (target, calibration method and data, types, excluded layers)."""

    target: str | None = None
    format: str | None = None
    method: str | None = None
    per_channel: bool | None = None
    activation_type: str | None = None
    weight_type: str | None = None
    reduce_range: bool | None = None
    calibration: dict[str, Any] | None = None
    calibration_seconds: float | None = None
    excluded_layers: list[str] | None = None
    nodes_to_exclude: list[str] | None = None
    accuracy_gate: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=True)
class OpenVinoSection(StageSection):
    """``openvino``: the IR's weights file, the inference precision hint it was validated with, OpenVINO's version."""

    weights_file: str | None = None
    inference_precision_hint: str | None = None
    version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=True)
class PruningSection(StageSection):
    """``pruning``: how the channels were pruned (mode, ratio or target, importance, MACs before and after)."""

    mode: str | None = None
    ratio: float | None = None
    target_macs: float | None = None
    importance: str | None = None
    global_pruning: bool | None = None
    iterative_steps: int | None = None
    macs_before: float | None = None
    macs_after: float | None = None
    hardware: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# the stage sections that are typed fields of a Manifest (name in manifest.json -> its type); any other section a
# stage writes is kept as written in ``details``
STAGE_SECTIONS: dict[str, Any] = {"export": ExportSection, "compile": CompileSection,
                                  "quantization": QuantizationSection, "openvino": OpenVinoSection,
                                  "pruning": PruningSection}


# the typed top-level fields and stage sections; everything else is a stage section kept in ``details``
_TOP = ("format", "format_version", "created", "kind", "precision", "stage", "file", "file_sha256", "file_size",
        "files", "input", "output", "preprocessing", "class_names", "source", "architecture", "validation",
        "measurements", "versions", "cpu", *STAGE_SECTIONS)


@dataclass
class Manifest:
    """The typed manifest of an artifact folder. The stage sections read by consumers are typed fields (``export``,
    ``compile``, ``quantization``, ``openvino``, ``pruning``: :data:`STAGE_SECTIONS`; empty when the stage did not
    write one); ``details`` holds the other sections (finetune, triton, optimize, ...) as they were written.

    Stages build it with one constructor per artifact family (:meth:`for_export`, :meth:`for_quantized`,
    :meth:`for_model_folder`, :meth:`for_triton_repo`) and write it with :func:`write_manifest`; consumers read the
    typed fields."""

    kind: str
    files: list[FileEntry] = field(default_factory=list)
    precision: str = "fp32"
    stage: str | None = None
    input: TensorSpec | None = None
    output: TensorSpec | None = None
    preprocessing: Preprocessing | None = None
    class_names: list[str] | None = None
    source: Source = field(default_factory=Source)
    architecture: Architecture = field(default_factory=Architecture)
    validation: Validation | None = None
    measurements: Measurements = field(default_factory=Measurements)
    versions: dict[str, Any] = field(default_factory=dict)
    cpu: dict[str, Any] = field(default_factory=dict)
    created: str | None = None
    format_version: int = MANIFEST_VERSION
    export: ExportSection = field(default_factory=ExportSection)
    compile: CompileSection = field(default_factory=CompileSection)
    quantization: QuantizationSection = field(default_factory=QuantizationSection)
    openvino: OpenVinoSection = field(default_factory=OpenVinoSection)
    pruning: PruningSection = field(default_factory=PruningSection)
    details: dict[str, Any] = field(default_factory=dict)

    # ---------------------------------------------------------------- derived
    @property
    def file(self) -> str | None:
        """The primary model file (relative path), or None."""
        return self.files[0].path if self.files else None

    @property
    def input_size(self) -> int | None:
        """H (= W) of the model input, from the input spec, else the preprocessing crop."""
        if self.input is not None and len(self.input.shape) == 4 and self.input.shape[-1] > 0:
            return int(self.input.shape[-1])
        return int(self.preprocessing.crop) if self.preprocessing is not None else None

    @property
    def static_batch(self) -> int | None:
        if self.input is not None and len(self.input.shape) == 4 and self.input.shape[0] > 0:
            return int(self.input.shape[0])
        return None

    @property
    def num_classes(self) -> int | None:
        n = self.architecture.num_classes
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            return n
        if self.output is not None and len(self.output.shape) == 2 and self.output.shape[1] > 0:
            return int(self.output.shape[1])
        n = self.source.num_classes
        return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else None

    @property
    def trained(self) -> bool:
        return bool(self.source.trained if self.source.trained is not None else True)

    @property
    def architecture_name(self) -> str | None:
        d = self.architecture.depth
        return f"resnet{d}" if d else self.source.architecture

    # ---------------------------------------------------------------- parse / write
    @classmethod
    def from_dict(cls, data: Any, where: str = MANIFEST_NAME) -> "Manifest":
        """Parse a manifest dict (versions 1 and 2). Raises :class:`ManifestError` naming the bad field."""
        if not isinstance(data, dict):
            raise ManifestError(f"{where} must hold a JSON object, got {type(data).__name__}")
        if data.get("format") != MANIFEST_FORMAT:
            raise ManifestError(f"{where} is not a resnet-opt manifest (field 'format' is {data.get('format')!r})")
        version = data.get("format_version", 1)
        if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
            raise ManifestError(f"{_where(where, 'format_version')}: unsupported version {version!r} (this resnet-opt "
                                f"reads {', '.join(map(str, SUPPORTED_VERSIONS))}); upgrade resnet-opt or re-export")
        kind = _req_str(data, "kind", where)
        assert kind is not None
        kind_info(kind)
        precision = data.get("precision", "fp32")
        if not isinstance(precision, str) or precision.lower() not in PRECISIONS:
            raise ManifestError(f"{_where(where, 'precision')} must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        stage = data.get("stage")
        if stage is not None and not isinstance(stage, str):
            raise ManifestError(f"{_where(where, 'stage')} must be a string, got {stage!r}")
        files: list[FileEntry] = []
        if "files" in data:
            raw = data["files"]
            if not isinstance(raw, list):
                raise ManifestError(f"{_where(where, 'files')} must be a list, got {type(raw).__name__}")
            files = [FileEntry.from_dict(f, f"{where}: files[{i}]") for i, f in enumerate(raw)]
        elif data.get("file") is not None:  # version 1: one model file
            name = _req_str(data, "file", where)
            assert name is not None
            files = [FileEntry.from_dict({"path": name, "sha256": data.get("file_sha256"),
                                          "size": data.get("file_size")}, f"{where}: field 'file'")]
        if "file" in data and files and data["file"] != files[0].path:
            raise ManifestError(f"{_where(where, 'file')} ({data['file']!r}) is not the first of 'files' "
                                f"({files[0].path!r})")
        if "files" in data and files:  # the legacy copies of files[0]'s hash and size must agree with it
            for key, have in (("file_sha256", files[0].sha256), ("file_size", files[0].size)):
                if data.get(key) is not None and have is not None and data[key] != have:
                    raise ManifestError(f"{_where(where, key)} ({data[key]!r}) disagrees with files[0] "
                                        f"({have!r}): the manifest was edited by hand or is damaged")
        class_names = data.get("class_names")
        if class_names is not None and (not isinstance(class_names, list)
                                        or not all(isinstance(c, str) for c in class_names)):
            raise ManifestError(f"{_where(where, 'class_names')} must be a list of strings, got {class_names!r}")
        validation = data.get("validation")
        if validation is not None and not isinstance(validation, dict):
            raise ManifestError(f"{_where(where, 'validation')} must be an object")
        created = data.get("created")
        if created is not None and not isinstance(created, str):
            raise ManifestError(f"{_where(where, 'created')} must be a string")
        m = cls(
            kind=kind, files=files, precision=precision.lower(), stage=stage,
            input=TensorSpec.from_dict(data["input"], where, "input") if data.get("input") is not None else None,
            output=TensorSpec.from_dict(data["output"], where, "output") if data.get("output") is not None else None,
            preprocessing=_check_preprocessing(data.get("preprocessing"), where),
            class_names=list(class_names) if class_names is not None else None,
            source=Source.from_dict(data.get("source"), where, "source"),
            architecture=Architecture.from_dict(data.get("architecture"), where, "architecture"),
            validation=Validation.from_dict(validation, where, "validation") if validation is not None else None,
            measurements=Measurements.from_dict(data.get("measurements"), where, "measurements"),
            versions=_opt_dict(data, "versions", where), cpu=_opt_dict(data, "cpu", where),
            created=created, format_version=int(version),
            **{name: sec.from_dict(data.get(name), where, name) for name, sec in STAGE_SECTIONS.items()},
            details={k: v for k, v in data.items() if k not in _TOP},
        )
        if m.class_names is not None and m.num_classes is not None and len(m.class_names) != m.num_classes:
            raise ManifestError(f"{_where(where, 'class_names')} lists {len(m.class_names)} names for "
                                f"{m.num_classes} classes")
        return m

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": MANIFEST_FORMAT, "format_version": MANIFEST_VERSION, "created": self.created,
                             "kind": self.kind, "precision": self.precision, "stage": self.stage}
        if self.files:
            d["file"] = self.files[0].path
            d["file_sha256"] = self.files[0].sha256
            d["file_size"] = self.files[0].size
        d["files"] = [f.to_dict() for f in self.files]
        d.update(input=self.input.to_dict() if self.input else None,
                 output=self.output.to_dict() if self.output else None,
                 preprocessing=self.preprocessing.to_dict() if self.preprocessing is not None else None,
                 class_names=self.class_names, source=self.source.to_dict(), architecture=self.architecture.to_dict(),
                 validation=self.validation.to_dict() if self.validation is not None else None,
                 measurements=self.measurements.to_dict(), versions=self.versions, cpu=self.cpu)
        for name in STAGE_SECTIONS:
            section = getattr(self, name)
            if section:
                d[name] = section.to_dict()
        for k, v in self.details.items():
            if k not in d:
                d[k] = v
        return d

    # ---------------------------------------------------------------- constructors, one per artifact family
    @classmethod
    def _build(cls, *, kind: str, files: list[FileEntry], precision: str, stage: str, source: Source | dict[str, Any],
               architecture: Architecture, input: TensorSpec | None, output: TensorSpec | None,
               preprocessing: Preprocessing | dict[str, Any] | None, class_names: list[str] | None,
               validation: Validation | dict[str, Any] | None = None,
               measurements: Measurements | dict[str, Any] | None = None, sections: dict[str, Any] | None = None,
               versions: dict[str, Any] | None = None, cpu: dict[str, Any] | None = None) -> "Manifest":
        where = f"{kind} manifest ({stage})"
        m = cls(kind=kind, files=files, precision=precision, stage=stage, input=input, output=output,
                preprocessing=_check_preprocessing(preprocessing, where),
                class_names=list(class_names) if class_names is not None else None,
                source=_section(Source, source, where, "source"), architecture=architecture,
                validation=_section(Validation, validation, where, "validation") if validation is not None else None,
                measurements=_section(Measurements, measurements, where, "measurements"),
                versions=dict(versions or {}), cpu=dict(cpu or {}), **_split_sections(sections, where))
        # the same checks as a manifest read from disk: a malformed one fails when written, not when opened
        return cls.from_dict({"format": MANIFEST_FORMAT, **m.to_dict()}, where=where)

    @classmethod
    def for_export(cls, *, kind: str, file: str, precision: str, source: Source | dict[str, Any],
                   architecture: Architecture, input_shape: list[int], output_shape: list[int],
                   preprocessing: Preprocessing | dict[str, Any] | None, class_names: list[str] | None,
                   validation: Validation | dict[str, Any], sections: dict[str, Any] | None = None,
                   more_files: list[FileEntry] | None = None, versions: dict[str, Any] | None = None,
                   cpu: dict[str, Any] | None = None, input_name: str = "input",
                   output_name: str = "logits") -> "Manifest":
        """An exported model file (onnx, torchscript, pt2, openvino), validated against its PyTorch source."""
        return cls._build(kind=kind, files=[FileEntry(file, role="model"), *(more_files or [])], precision=precision,
                          stage="export", source=source, architecture=architecture,
                          input=TensorSpec(input_name, list(input_shape)),
                          output=TensorSpec(output_name, list(output_shape)), preprocessing=preprocessing,
                          class_names=class_names, validation=validation, sections=sections, versions=versions,
                          cpu=cpu)

    @classmethod
    def for_quantized(cls, *, kind: str, file: str, stage: str, source: Source | dict[str, Any],
                      architecture: Architecture, input_size: int,
                      preprocessing: Preprocessing | dict[str, Any] | None, class_names: list[str] | None,
                      validation: Validation | dict[str, Any], measurements: Measurements | dict[str, Any],
                      sections: dict[str, Any] | None = None, more_files: list[FileEntry] | None = None,
                      versions: dict[str, Any] | None = None, cpu: dict[str, Any] | None = None) -> "Manifest":
        """An INT8 model file made by post-training quantization (``stage="quantize"``) or QAT (``"qat"``)."""
        nc = architecture.num_classes
        return cls._build(kind=kind, files=[FileEntry(file, role="model"), *(more_files or [])], precision="int8",
                          stage=stage, source=source, architecture=architecture,
                          input=TensorSpec("input", [-1, 3, int(input_size), int(input_size)]),
                          output=TensorSpec("logits", [-1, int(nc)] if nc else [-1]), preprocessing=preprocessing,
                          class_names=class_names, validation=validation, measurements=measurements,
                          sections=sections, versions=versions, cpu=cpu)

    @classmethod
    def for_model_folder(cls, *, stage: str, source: Source | dict[str, Any], architecture: Architecture,
                         input_size: int, preprocessing: Preprocessing | dict[str, Any] | None,
                         class_names: list[str] | None, validation: Validation | dict[str, Any] | None = None,
                         measurements: Measurements | dict[str, Any] | None = None,
                         sections: dict[str, Any] | None = None, versions: dict[str, Any] | None = None,
                         cpu: dict[str, Any] | None = None) -> "Manifest":
        """A model folder (``model.safetensors`` + ``config.json``, both listed) written by a stage (prune, the
        optimize source, ...)."""
        nc = architecture.num_classes
        return cls._build(kind="model", files=[FileEntry(MODEL_WEIGHTS_NAME, role="weights"),
                                               FileEntry(MODEL_CONFIG_NAME, role="config")],
                          precision="fp32", stage=stage, source=source, architecture=architecture,
                          input=TensorSpec("input", [-1, 3, int(input_size), int(input_size)]),
                          output=TensorSpec("logits", [-1, int(nc)] if nc else [-1]), preprocessing=preprocessing,
                          class_names=class_names, validation=validation, measurements=measurements,
                          sections=sections, versions=versions, cpu=cpu)

    @classmethod
    def for_triton_repo(cls, *, files: list[FileEntry], precision: str, source: Source, architecture: Architecture,
                        input: TensorSpec | None, output: TensorSpec | None, preprocessing: Preprocessing | None,
                        class_names: list[str] | None, versions: dict[str, Any] | None,
                        triton: dict[str, Any]) -> "Manifest":
        """A Triton model repository made from an artifact (``files[0]`` is the served model file)."""
        return cls._build(kind="triton-repo", files=files, precision=precision, stage="export", source=source,
                          architecture=architecture, input=input, output=output, preprocessing=preprocessing,
                          class_names=class_names, sections={"triton": triton}, versions=versions)

    def derive(self, **changes: Any) -> "Manifest":
        """A copy for a new artifact folder (a copy of this artifact elsewhere): ``changes`` applied, a new creation
        time unless ``created`` is given, the current format version; ``sections`` adds stage sections to
        ``details``."""
        split = _split_sections(changes.pop("sections", None), f"{self.kind} manifest (copy)")
        split["details"] = {**self.details, **split["details"]}
        changes.setdefault("created", None)
        m = replace(self, **changes, **split, format_version=MANIFEST_VERSION)
        return Manifest.from_dict({"format": MANIFEST_FORMAT, **m.to_dict()}, where=f"{m.kind} manifest (copy)")

    def section(self, name: str) -> Any:
        """A stage section by its name in manifest.json: the typed one (:data:`STAGE_SECTIONS`), else the dict in
        ``details`` (None when absent)."""
        if name in STAGE_SECTIONS:
            sec = getattr(self, name)
            return sec if sec else None
        return self.details.get(name)

    def fill_files(self, folder: str | os.PathLike) -> "Manifest":
        """Compute sha256 and size of every listed file that lacks them (when writing)."""
        folder = Path(folder)
        for f in self.files:
            p = folder / f.path
            if p.is_file():
                if f.sha256 is None:
                    f.sha256 = sha256_file(p)
                if f.size is None:
                    f.size = p.stat().st_size
        return self

    def write(self, folder: str | os.PathLike) -> Path:
        """Write ``manifest.json`` into ``folder`` (atomically), filling file hashes and the creation time."""
        self.fill_files(folder)
        if self.created is None:
            self.created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        path = Path(folder) / MANIFEST_NAME
        atomic_write_text(path, to_json(self.to_dict()) + "\n")
        return path


_JSON_TYPES = {"int": "integer", "float": "number", "str": "string", "bool": "boolean"}


def _split_sections(sections: dict[str, Any] | None, where: str) -> dict[str, Any]:
    """Stage sections given by name (typed or as dicts) as Manifest fields: the typed ones checked, the others in
    ``details``."""
    out: dict[str, Any] = {"details": {}}
    for name, value in (sections or {}).items():
        if name in STAGE_SECTIONS:
            out[name] = _section(STAGE_SECTIONS[name], value, where, name)
        else:
            out["details"][name] = value
    return out


def _field_schema(annotation: str) -> dict[str, Any]:
    """JSON Schema of a dataclass field from its annotation (``int | None``, ``dict[str, int] | None``, ...)."""
    types: list[str] = []
    for part in (p.strip() for p in str(annotation).split("|")):
        if part == "None":
            types.append("null")
        elif part.startswith("dict"):
            types.append("object")
        elif part.startswith(("list", "tuple")):
            types.append("array")
        else:
            types.append(_JSON_TYPES[part])
    return {"type": types[0] if len(types) == 1 else types}


def _section_schema(cls: Any) -> dict[str, Any]:
    """A typed section: its known fields, other keys allowed (kept in ``extra``)."""
    return {"type": ["object", "null"], "description": (cls.__doc__ or "").split("\n")[0].strip(),
            "properties": {f.name: _field_schema(f.type) for f in fields(cls) if f.name != "extra"}}


def _preprocessing_schema() -> dict[str, Any]:
    props: dict[str, Any] = {}
    for f in fields(Preprocessing):
        if f.name in ("resize", "crop"):
            props[f.name] = {"type": "integer", "minimum": 1}
        elif f.name in ("mean", "std"):
            items: dict[str, Any] = {"type": "number"}
            if f.name == "std":
                items["exclusiveMinimum"] = 0
            props[f.name] = {"type": "array", "minItems": 3, "maxItems": 3, "items": items}
        elif f.name == "interpolation":
            props[f.name] = {"enum": list(INTERPOLATIONS)}
        else:
            props[f.name] = _field_schema(f.type)
    return {"type": ["object", "null"], "properties": props}


def manifest_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``manifest.json`` (format_version 2), generated from the dataclasses; published in
    docs/manifest.schema.json (a test checks that file is up to date)."""
    tensor = {"type": "object", "required": ["name", "shape"],
              "properties": {"name": {"type": "string", "minLength": 1},
                             "shape": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": -1}},
                             "dtype": {"type": "string"}}}
    file_entry = {"type": "object", "required": ["path"],
                  "properties": {"path": {"type": "string", "minLength": 1},
                                 "sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
                                 "size": {"type": ["integer", "null"], "minimum": 0},
                                 "role": {"type": "string"}}}
    obj = {"type": ["object", "null"]}
    props: dict[str, Any] = {
        "format": {"const": MANIFEST_FORMAT},
        "format_version": {"enum": list(SUPPORTED_VERSIONS)},
        "created": {"type": ["string", "null"]},
        "kind": {"enum": sorted(KINDS)},
        "precision": {"enum": list(PRECISIONS)},
        "stage": {"type": ["string", "null"]},
        "file": {"type": ["string", "null"], "description": "the primary model file (files[0].path)"},
        "file_sha256": {"type": ["string", "null"]},
        "file_size": {"type": ["integer", "null"]},
        "files": {"type": "array", "items": file_entry},
        "input": {"oneOf": [tensor, {"type": "null"}]},
        "output": {"oneOf": [tensor, {"type": "null"}]},
        "preprocessing": _preprocessing_schema(),
        "class_names": {"type": ["array", "null"], "items": {"type": "string"}},
        "source": _section_schema(Source), "architecture": _section_schema(Architecture),
        "validation": _section_schema(Validation), "measurements": _section_schema(Measurements),
        "versions": obj, "cpu": obj,
        **{name: _section_schema(sec) for name, sec in STAGE_SECTIONS.items()},
    }
    typed = {f.name for f in fields(Manifest)} - {"details", "files", "input", "output"}
    assert typed <= set(props), typed - set(props)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "resnet-opt artifact manifest",
            "type": "object", "required": ["format", "kind"], "properties": props,
            "additionalProperties": {"description": "a stage section (export, quantization, pruning, ...)"}}


# ------------------------------------------------------------------------------------------------ the opener
@dataclass
class Artifact:
    """An opened artifact folder: its typed manifest, its kind, and (for model folders) the raw config."""

    path: Path
    manifest: Manifest
    info: KindInfo
    config: dict[str, Any] | None = None  # config.json of a model folder

    @property
    def kind(self) -> str:
        return self.manifest.kind

    @property
    def model_file(self) -> Path:
        f = self.manifest.file
        if f is None:
            raise ArtifactError(f"{self.path / MANIFEST_NAME} names no model file")
        return self.path / f

    @property
    def preprocessing(self) -> Preprocessing | None:
        return self.manifest.preprocessing

    def require_preprocessing(self) -> Preprocessing:
        """The recorded preprocessing; a clear error when the folder has none (it is never guessed)."""
        pre = self.manifest.preprocessing
        if not pre:
            raise ArtifactError(
                f"{self.path} records no preprocessing, so images cannot be prepared for it; re-save the model with "
                "save_model(..., preprocessing=...) (e.g. 'digits:32' or 'v1'), or evaluate it with --data, which "
                "brings its own")
        crop = pre.crop
        size = self.manifest.input_size
        if size is not None and crop != size:
            raise ArtifactError(f"{self.path}: preprocessing crops to {crop} px but the model input is {size} px")
        return pre

    def describe(self) -> dict[str, Any]:
        return {"path": str(self.path), **self.manifest.to_dict()}


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ManifestError(f"{path} is not valid JSON: {e}") from e
    except OSError as e:
        raise ArtifactError(f"cannot read {what} {path}: {e.strerror or e}") from e


def _model_folder_manifest(folder: Path, cfg: Any) -> Manifest:
    """The manifest of a model folder that has none (train / save_model output), built from its config.json."""
    where = str(folder / MODEL_CONFIG_NAME)
    try:
        check_model_config(cfg, where)  # the one set of config.json checks (core.model_config)
    except ModelFormatError as e:
        raise ModelConfigError(str(e)) from None
    nc, size, names = int(cfg["num_classes"]), cfg.get("input_size"), cfg.get("class_names")
    pre = Preprocessing.optional(cfg.get("preprocessing"))
    return Manifest(
        kind="model", files=[FileEntry(MODEL_WEIGHTS_NAME, role="weights"), FileEntry(MODEL_CONFIG_NAME, role="config")],
        precision="fp32", stage=cfg.get("stage") if isinstance(cfg.get("stage"), str) else "model",
        input=TensorSpec("input", [-1, 3, int(size), int(size)]) if size else None,
        output=TensorSpec("logits", [-1, nc]), preprocessing=pre, class_names=names,
        source=Source.from_dict(cfg["source"], where, "source") if isinstance(cfg.get("source"), dict) else Source(),
        architecture=Architecture(depth=cfg.get("depth"), num_classes=nc, widths=cfg.get("widths") or {},
                                  fused=bool(cfg.get("fused", False))),
        **_split_sections({k: v for k, v in cfg.items() if k in ("pruning", "data", "fused")}, where),
    )


def _verify_file(folder: Path, entry: FileEntry, verify: bool) -> None:
    p = folder / entry.path
    try:
        resolved, root = p.resolve(), folder.resolve()
    except OSError as e:
        raise ArtifactError(f"cannot resolve {p}: {e}") from e
    if root != resolved and root not in resolved.parents:
        raise ArtifactError(f"{p} points outside the artifact folder {folder} (symbolic link?)")
    if not p.is_file():
        raise ArtifactError(f"artifact folder {folder} is missing its file {entry.path}")
    size = p.stat().st_size
    if size == 0:
        raise ArtifactError(f"file {p} is empty")
    if not verify:
        return
    if entry.size is not None and entry.size != size:
        raise ArtifactError(f"file {p} is {size} bytes but its manifest says {entry.size} (modified or truncated)")
    if entry.sha256:
        got = sha256_file(p)
        if got != entry.sha256:
            raise ArtifactError(f"file {p} does not match the sha256 in its manifest (modified or truncated; expected "
                                f"{entry.sha256[:12]}…, got {got[:12]}…)")


def folder_of_file(path: str | os.PathLike) -> Path:
    """The artifact or model folder that ``path`` (a file) belongs to: ``artifacts/x/model_int8.onnx`` ->
    ``artifacts/x`` when that folder's manifest lists the file (or it is a model folder's config/weights); anything
    else is an ArtifactError that says to pass the folder."""
    p = Path(path)
    parent = p.parent
    listed = False
    if (parent / MANIFEST_NAME).is_file():
        try:
            data = json.loads((parent / MANIFEST_NAME).read_text())
            names = {str(f.get("path")) for f in data.get("files", []) if isinstance(f, dict)}
            listed = p.name in names or p.name == MANIFEST_NAME
        except (OSError, ValueError, AttributeError):
            listed = False
    elif (parent / MODEL_CONFIG_NAME).is_file():
        listed = p.name in (MODEL_CONFIG_NAME, MODEL_WEIGHTS_NAME)
    if not listed:
        raise ArtifactError(f"{p} is a file; pass the model or artifact folder that holds it")
    return parent


def _what_is_inside(p: Path) -> str:
    """For a folder that is no artifact itself: the artifacts one level down (a pipeline folder, a Triton model
    repository), so the refusal says what to pass instead."""
    try:
        subs = sorted(d for d in p.iterdir() if d.is_dir())
    except OSError:
        return ""
    inner = [d.name for d in subs if (d / MANIFEST_NAME).is_file() or (d / MODEL_CONFIG_NAME).is_file()]
    if inner:
        return f"; it holds {len(inner)} artifact(s): {', '.join(inner[:12])}{' ...' if len(inner) > 12 else ''}"
    models = [d.name for d in subs if (d / "config.pbtxt").is_file()]
    if models:
        return f"; it is a Triton model repository (models: {', '.join(models[:12])}): serve it with tritonserver"
    return ""


def open_artifact(path: str | os.PathLike, *, verify: bool = True, config: dict[str, Any] | None = None) -> Artifact:
    """Open an artifact folder or a model folder: parse and check its manifest, check every listed file is inside
    the folder, present, non-empty and (``verify``) matches its size and sha256. One error vocabulary
    (:class:`ArtifactError` / :class:`ManifestError`) for every consumer. ``config``: a model folder's config.json
    that the caller has just read (``resnet.read_config``), so it is not read again."""
    p = Path(path)
    if not p.exists():
        raise ArtifactError(f"artifact {p} does not exist")
    if not p.is_dir():
        raise ArtifactError(f"{p} is a file, not an artifact folder; pass the folder that holds it and {MANIFEST_NAME}"
                            f" (or {MODEL_CONFIG_NAME} + {MODEL_WEIGHTS_NAME} for a model folder)")
    cfg_path, man_path = p / MODEL_CONFIG_NAME, p / MANIFEST_NAME
    if config is not None and cfg_path.is_file():
        cfg: Any = config
    else:
        cfg = _read_json(cfg_path, "model config") if cfg_path.is_file() else None
    if man_path.is_file():
        manifest = Manifest.from_dict(_read_json(man_path, "manifest"), where=str(man_path))
        if manifest.kind == "model":
            if cfg is None:
                raise ArtifactError(f"model folder {p} has no {MODEL_CONFIG_NAME}")
            # model folders written before format_version 2 list only the weights; the config is part of it too
            if manifest.preprocessing is None and isinstance(cfg, dict) and cfg.get("preprocessing"):
                try:
                    check_model_config(cfg, cfg_path)
                except ModelFormatError as e:
                    raise ModelConfigError(str(e)) from None
                manifest.preprocessing = Preprocessing.optional(cfg["preprocessing"])
    elif cfg is not None:
        manifest = _model_folder_manifest(p, cfg)
    elif (p / MODEL_WEIGHTS_NAME).is_file():
        raise ArtifactError(f"model folder {p} has no {MODEL_CONFIG_NAME}")
    else:
        raise ArtifactError(f"{p} is not a resnet-opt artifact: it has neither {MANIFEST_NAME} (artifact folder) nor "
                            f"{MODEL_CONFIG_NAME} (model folder)" + _what_is_inside(p))
    for entry in manifest.files:
        _verify_file(p, entry, verify)
    return Artifact(path=p, manifest=manifest, info=kind_info(manifest.kind),
                    config=cfg if isinstance(cfg, dict) else None)


def write_manifest(folder: str | os.PathLike, manifest: Manifest) -> Manifest:
    """Write ``manifest.json`` into an artifact folder (file hashes filled in) and return the typed manifest written.
    Build it with a :class:`Manifest` constructor (``Manifest.for_export(...)``, ...) or :meth:`Manifest.from_dict`."""
    if not isinstance(manifest, Manifest):
        raise TypeError(f"write_manifest takes a Manifest, got {type(manifest).__name__}; build one with "
                        "Manifest.for_export/for_quantized/for_model_folder/for_triton_repo or Manifest.from_dict")
    manifest.write(folder)
    return manifest


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """The manifest of an artifact folder as a dict (checked: files inside the folder, sizes and sha256)."""
    return open_artifact(folder).manifest.to_dict()
