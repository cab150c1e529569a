"""The artifact contract: a typed, versioned :class:`Manifest`, the registry of artifact kinds, and one opener.

Every artifact resnet-opt writes is a folder holding ``manifest.json``. Every consumer (``runtime.load``, ``eval``,
``predict``, ``bench``, the stages that take a model) opens it through :func:`open_artifact`, which parses the
manifest into a :class:`Manifest` (a typed error naming the field when it is malformed), checks that every file it
lists is inside the folder and matches its sha256, and returns an :class:`Artifact`.

A model folder (``config.json`` + ``model.safetensors``, what ``train`` and ``save_model`` write) is an artifact of
kind ``model``: when it has no ``manifest.json`` the opener builds the manifest from ``config.json``.

A new artifact kind registers in ONE place: :func:`register_kind` below (its name, the backend family that runs it,
and the ``"module:function"`` of its runtime loader). The kinds × consumers test matrix (tests/test_kinds.py) reads
:data:`KINDS`.

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
import importlib
import json
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from resnet_opt.core.artifact import atomic_write_text, sha256_file, to_json
from resnet_opt.core.errors import ArtifactError

__all__ = [
    "MANIFEST_NAME", "MANIFEST_FORMAT", "MANIFEST_VERSION", "SUPPORTED_VERSIONS", "MODEL_CONFIG_NAME",
    "MODEL_WEIGHTS_NAME", "MODEL_FORMAT", "ManifestError", "KindInfo", "KINDS", "register_kind", "kind_info",
    "TensorSpec", "FileEntry", "Manifest", "Artifact", "open_artifact", "manifest_json_schema", "write_manifest",
    "read_manifest",
]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "resnet-opt-artifact"
MANIFEST_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)
# the model folder format (resnet_opt.resnet.io writes it)
MODEL_CONFIG_NAME = "config.json"
MODEL_WEIGHTS_NAME = "model.safetensors"
MODEL_FORMAT = "resnet-opt-model"
PRECISIONS = ("fp32", "fp16", "bf16", "int8")


class ManifestError(ArtifactError):
    """A manifest that is malformed, of an unknown version or kind; the message names the field."""


# ------------------------------------------------------------------------------------------------ kinds registry
@dataclass(frozen=True)
class KindInfo:
    """One artifact kind. ``family`` is the backend family that runs it in ``bench`` (torch, torchscript, onnx, ...);
    ``loader`` is ``"module:function"`` called as ``fn(artifact, provider=..., threads=...)`` -> a runtime Predictor
    (None: not loadable for inference, e.g. a serving repository); ``model_input``: stages that rebuild a PyTorch
    model (fuse, quantize, export, prune) accept it as their ``--model``."""

    name: str
    family: str
    description: str
    loader: str | None
    model_input: bool = False

    def load_function(self) -> Callable[..., Any]:
        if self.loader is None:
            raise ArtifactError(f"artifacts of kind {self.name!r} ({self.description}) cannot be loaded for inference")
        mod, _, fn = self.loader.partition(":")
        return getattr(importlib.import_module(mod), fn)


KINDS: dict[str, KindInfo] = {}


def register_kind(name: str, *, family: str, description: str, loader: str | None, model_input: bool = False) -> KindInfo:
    """Register an artifact kind (the one place a new kind is added)."""
    info = KindInfo(name=name, family=family, description=description, loader=loader, model_input=model_input)
    KINDS[name] = info
    return info


register_kind("model", family="torch", description="model folder (config.json + model.safetensors)",
              loader="resnet_opt.runtime.loaders:load_model_folder", model_input=True)
register_kind("onnx", family="onnx", description="ONNX model (FP32, FP16 or INT8 QDQ)",
              loader="resnet_opt.runtime.loaders:load_onnx")
register_kind("torchscript", family="torchscript", description="TorchScript file (FP32 or FX INT8)",
              loader="resnet_opt.runtime.loaders:load_torchscript")
register_kind("triton-repo", family="triton", description="Triton Inference Server model repository (serve it with "
              "tritonserver; its model folder NAME/1 is the onnx or torchscript artifact)", loader=None)
register_kind("pt2", family="pt2", description="AOTInductor package model.pt2 (FP32 export, or PT2E INT8)",
              loader="resnet_opt.runtime.pt2:load_pt2")
register_kind("openvino", family="openvino", description="OpenVINO IR (model.xml + model.bin; openvino extra)",
              loader="resnet_opt.runtime.openvino:load_openvino_artifact")


def kind_info(kind: str) -> KindInfo:
    if kind not in KINDS:
        raise ManifestError(f"unknown artifact kind {kind!r}; known kinds: {', '.join(KINDS)}")
    return KINDS[kind]


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


def _check_preprocessing(pre: Any, file: str, name: str = "preprocessing") -> dict[str, Any] | None:
    where = f"{file}: field '{name}"
    if pre is None:
        return None
    if not isinstance(pre, dict):
        raise ManifestError(f"{where}' must be an object, got {type(pre).__name__}")
    if not pre:
        return {}
    for key in ("resize", "crop"):
        if key in pre:
            _check_int(pre[key], f"{where}.{key}'", minimum=1)
    for key in ("mean", "std"):
        if key in pre:
            v = pre[key]
            if (not isinstance(v, list) or len(v) != 3
                    or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)):
                raise ManifestError(f"{where}.{key}' must be a list of 3 finite numbers, got {v!r}")
            if key == "std" and any(x <= 0 for x in v):
                raise ManifestError(f"{where}.std' must be positive, got {v!r}")
    if "interpolation" in pre and pre["interpolation"] not in ("bilinear", "bicubic", "nearest"):
        raise ManifestError(f"{where}.interpolation' must be bilinear, bicubic or nearest, got {pre['interpolation']!r}")
    return dict(pre)


# the typed top-level fields; everything else is a stage section kept in ``details``
_TOP = ("format", "format_version", "created", "kind", "precision", "stage", "file", "file_sha256", "file_size",
        "files", "input", "output", "preprocessing", "class_names", "source", "architecture", "validation",
        "measurements", "versions", "cpu")


@dataclass
class Manifest:
    """The typed manifest of an artifact folder. ``details`` holds the stage sections (export, quantization,
    pruning, finetune, compile, ...) as they were written."""

    kind: str
    files: list[FileEntry] = field(default_factory=list)
    precision: str = "fp32"
    stage: str | None = None
    input: TensorSpec | None = None
    output: TensorSpec | None = None
    preprocessing: dict[str, Any] | None = None
    class_names: list[str] | None = None
    source: dict[str, Any] = field(default_factory=dict)
    architecture: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] | None = None
    measurements: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    cpu: dict[str, Any] = field(default_factory=dict)
    created: str | None = None
    format_version: int = MANIFEST_VERSION
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
        crop = (self.preprocessing or {}).get("crop")
        return int(crop) if isinstance(crop, int) else None

    @property
    def static_batch(self) -> int | None:
        if self.input is not None and len(self.input.shape) == 4 and self.input.shape[0] > 0:
            return int(self.input.shape[0])
        return None

    @property
    def num_classes(self) -> int | None:
        n = self.architecture.get("num_classes")
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            return n
        if self.output is not None and len(self.output.shape) == 2 and self.output.shape[1] > 0:
            return int(self.output.shape[1])
        n = self.source.get("num_classes")
        return n if isinstance(n, int) and n > 0 else None

    @property
    def trained(self) -> bool:
        return bool(self.source.get("trained", True))

    @property
    def architecture_name(self) -> str | None:
        d = self.architecture.get("depth")
        return f"resnet{d}" if d else self.source.get("architecture")

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
            source=_opt_dict(data, "source", where), architecture=_opt_dict(data, "architecture", where),
            validation=validation, measurements=_opt_dict(data, "measurements", where),
            versions=_opt_dict(data, "versions", where), cpu=_opt_dict(data, "cpu", where),
            created=created, format_version=int(version),
            details={k: v for k, v in data.items() if k not in _TOP},
        )
        nc = m.architecture.get("num_classes")
        if nc is not None:
            _check_int(nc, f"{where}: field 'architecture.num_classes'", minimum=1)
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
                 preprocessing=self.preprocessing, class_names=self.class_names, source=self.source,
                 architecture=self.architecture, validation=self.validation, measurements=self.measurements,
                 versions=self.versions, cpu=self.cpu)
        for k, v in self.details.items():
            if k not in d:
                d[k] = v
        return d

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
        "preprocessing": {"type": ["object", "null"], "properties": {
            "resize": {"type": "integer", "minimum": 1}, "crop": {"type": "integer", "minimum": 1},
            "mean": {"type": "array", "minItems": 3, "maxItems": 3, "items": {"type": "number"}},
            "std": {"type": "array", "minItems": 3, "maxItems": 3, "items": {"type": "number", "exclusiveMinimum": 0}},
            "interpolation": {"enum": ["bilinear", "bicubic", "nearest"]},
            "grayscale": {"type": "boolean"}, "square": {"type": "boolean"}, "name": {"type": "string"}}},
        "class_names": {"type": ["array", "null"], "items": {"type": "string"}},
        "source": obj, "architecture": obj, "validation": obj, "measurements": obj, "versions": obj, "cpu": obj,
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
    def preprocessing(self) -> dict[str, Any] | None:
        return self.manifest.preprocessing or None

    def require_preprocessing(self) -> dict[str, Any]:
        """The recorded preprocessing; a clear error when the folder has none (it is never guessed)."""
        pre = self.manifest.preprocessing
        if not pre:
            raise ArtifactError(
                f"{self.path} records no preprocessing, so images cannot be prepared for it; re-save the model with "
                "save_model(..., preprocessing=...) (e.g. 'digits:32' or 'v1'), or evaluate it with --data, which "
                "brings its own")
        crop = pre.get("crop")
        size = self.manifest.input_size
        if isinstance(crop, int) and size is not None and crop != size:
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
    if not isinstance(cfg, dict) or cfg.get("format") != MODEL_FORMAT:
        raise ManifestError(f"{where} is not a resnet-opt model config")
    for key in ("depth", "num_classes"):
        if key not in cfg:
            raise ManifestError(f"{where} lacks '{key}'")
    nc = _check_int(cfg["num_classes"], f"{where}: field 'num_classes'", minimum=1)
    size = cfg.get("input_size")
    if size is not None:
        _check_int(size, f"{where}: field 'input_size'", minimum=1)
    pre = _check_preprocessing(cfg.get("preprocessing"), where)
    names = cfg.get("class_names")
    if names is not None and (not isinstance(names, list) or not all(isinstance(c, str) for c in names)):
        raise ManifestError(f"{where}: field 'class_names' must be a list of strings")
    return Manifest(
        kind="model", files=[FileEntry(MODEL_WEIGHTS_NAME, role="weights"), FileEntry(MODEL_CONFIG_NAME, role="config")],
        precision="fp32", stage=cfg.get("stage") if isinstance(cfg.get("stage"), str) else "model",
        input=TensorSpec("input", [-1, 3, int(size), int(size)]) if size else None,
        output=TensorSpec("logits", [-1, nc]), preprocessing=pre, class_names=names,
        source=cfg.get("source") if isinstance(cfg.get("source"), dict) else {},
        architecture={"depth": cfg.get("depth"), "num_classes": nc, "widths": cfg.get("widths") or {},
                      "fused": bool(cfg.get("fused", False))},
        details={k: v for k, v in cfg.items() if k in ("pruning", "data", "fused")},
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


def open_artifact(path: str | os.PathLike, *, verify: bool = True) -> Artifact:
    """Open an artifact folder or a model folder: parse and check its manifest, check every listed file is inside
    the folder, present, non-empty and (``verify``) matches its size and sha256. One error vocabulary
    (:class:`ArtifactError` / :class:`ManifestError`) for every consumer."""
    p = Path(path)
    if not p.exists():
        raise ArtifactError(f"artifact {p} does not exist")
    if not p.is_dir():
        raise ArtifactError(f"{p} is a file, not an artifact folder; pass the folder that holds it and {MANIFEST_NAME}"
                            f" (or {MODEL_CONFIG_NAME} + {MODEL_WEIGHTS_NAME} for a model folder)")
    cfg_path, man_path = p / MODEL_CONFIG_NAME, p / MANIFEST_NAME
    cfg = _read_json(cfg_path, "model config") if cfg_path.is_file() else None
    if man_path.is_file():
        manifest = Manifest.from_dict(_read_json(man_path, "manifest"), where=str(man_path))
        if manifest.kind == "model":
            if cfg is None:
                raise ArtifactError(f"model folder {p} has no {MODEL_CONFIG_NAME}")
            # model folders written before format_version 2 list only the weights; the config is part of it too
            if not manifest.preprocessing and isinstance(cfg, dict) and cfg.get("preprocessing"):
                manifest.preprocessing = _check_preprocessing(cfg["preprocessing"], str(cfg_path))
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


def write_manifest(folder: str | os.PathLike, manifest: Manifest | dict[str, Any]) -> Manifest:
    """Write ``manifest.json`` into an artifact folder and return the typed manifest written. A dict (today's stage
    sections included) is parsed into a :class:`Manifest` first, so a malformed one fails at write time, not when a
    user opens it."""
    if not isinstance(manifest, Manifest):
        data = {"format": MANIFEST_FORMAT, "format_version": MANIFEST_VERSION, **manifest}
        data.pop("out", None)
        manifest = Manifest.from_dict(data, where=f"manifest for {folder}")
    manifest.write(folder)
    return manifest


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """The manifest of an artifact folder as a dict (checked: files inside the folder, sizes and sha256)."""
    return open_artifact(folder).manifest.to_dict()
