"""What the benchmark measures: a *variant* is one model in one format (eager model folder, TorchScript or ONNX
artifact, or an in-memory model), described by what its manifest or config says."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resnet_opt.core.artifact import MANIFEST_NAME, dir_size, read_manifest
from resnet_opt.core.errors import ArtifactError, ConfigError, ModelFormatError

KINDS = ("torch", "torchscript", "onnx", "openvino")
# a model folder (Foundation format) holds these two files
_CONFIG = "config.json"
_WEIGHTS = "model.safetensors"


@dataclass
class Variant:
    """One thing to measure. ``kind`` picks the backend family: torch (eager), torchscript or onnx."""

    name: str
    kind: str  # torch | torchscript | onnx
    precision: str = "fp32"  # fp32 | fp16 | int8
    path: str | None = None  # artifact or model folder (None for an in-memory / random model)
    file: str | None = None  # the model file (ONNX / TorchScript)
    input_size: int = 224  # H = W
    static_batch: int | None = None  # a fixed batch dimension (ONNX exported with --static-batch), else None
    num_classes: int | None = None
    preprocessing: dict[str, Any] | None = None
    trained: bool = True  # False for random init: accuracy is meaningless, agreement is what counts
    size_bytes: int | None = None
    stage: str | None = None  # what produced it (export, quantize, prune, train, ...)
    architecture: str | None = None
    notes: list[str] = field(default_factory=list)
    model: Any = field(default=None, repr=False, compare=False)  # an in-memory torch module (kind torch)
    depth: int | None = None  # for a random-init model built on demand
    cpu_only: str | None = None  # why this variant cannot run on a GPU (None: it can)
    macs: int | None = None  # multiply-accumulates per image (roofline); None: counted from the model/manifest
    backends: list[str] | None = None  # restrict to these backend names (None: every selected backend that runs it)
    inference_precision: str | None = None  # OpenVINO precision hint (f32 | bf16); None: f32
    optimize_on_cpu: bool = False  # TorchScript: apply optimize_for_inference when loading on CPU (as runtime.load does)

    def describe(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("name", "kind", "precision", "path", "file", "input_size", "static_batch",
                                               "num_classes", "trained", "size_bytes", "stage", "architecture", "notes")}

    @property
    def label(self) -> str:
        return self.name

    def build_torch_model(self):
        """The eager torch module of a ``torch`` variant (loaded from its folder, or built from ``depth``)."""
        if self.kind != "torch":
            raise ConfigError(f"variant {self.name} is {self.kind}, not an eager torch model")
        if self.model is not None:
            return self.model
        if self.path is not None:
            from resnet_opt.resnet import load_model

            return load_model(self.path)
        if self.depth is not None:
            import torch

            from resnet_opt.resnet import ResNet

            torch.manual_seed(0)
            return ResNet(self.depth, num_classes=self.num_classes or 1000).eval()
        raise ConfigError(f"variant {self.name} has no model, folder or depth")


def _shape_info(manifest: dict[str, Any]) -> tuple[int | None, int | None]:
    """(static batch or None, input size) from ``manifest['input']['shape']`` = [N|-1, 3, H, W]."""
    shape = (manifest.get("input") or {}).get("shape")
    if not isinstance(shape, (list, tuple)) or len(shape) != 4:
        return None, None
    n, _, h, w = shape
    batch = int(n) if isinstance(n, int) and n > 0 else None
    size = int(h) if isinstance(h, int) and h > 0 else (int(w) if isinstance(w, int) and w > 0 else None)
    return batch, size


def _unique_name(base: str, taken: set[str]) -> str:
    name, i = base, 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    taken.add(name)
    return name


def variant_from_path(path: str | os.PathLike, *, name: str | None = None) -> Variant:
    """A variant from an artifact folder (manifest.json + model file) or a model folder (config.json + weights).

    Raises a typed error naming what is missing when the folder is neither."""
    p = Path(path)
    if not p.exists():
        raise ArtifactError(f"artifact folder {p} does not exist")
    if not p.is_dir():
        raise ArtifactError(f"{p} is not an artifact folder (expected a folder with {MANIFEST_NAME} and a model file, "
                            f"or a model folder with {_CONFIG} and {_WEIGHTS})")
    if (p / _CONFIG).is_file():  # a model folder (prune/fuse stages add a manifest.json of kind "model" to it)
        return _variant_from_model_dir(p, name)
    if (p / MANIFEST_NAME).is_file():
        return _variant_from_artifact(p, name)
    if (p / _WEIGHTS).is_file():
        raise ModelFormatError(f"model folder {p} has no {_CONFIG}")
    raise ArtifactError(f"{p} has neither {MANIFEST_NAME} (artifact folder) nor {_CONFIG} (model folder)")


def _variant_from_artifact(p: Path, name: str | None) -> Variant:
    m = read_manifest(p)
    kind = m.get("kind")
    if kind not in ("onnx", "torchscript", "openvino"):
        raise ArtifactError(f"{p / MANIFEST_NAME}: unsupported artifact kind {kind!r}; expected onnx, torchscript "
                            "or openvino")
    fname = m.get("file")
    if not fname or not isinstance(fname, str):
        raise ArtifactError(f"{p / MANIFEST_NAME} does not name its model file ('file')")
    f = p / fname
    if not f.is_file():
        raise ArtifactError(f"artifact folder {p} is missing its model file {fname}")
    batch, size = _shape_info(m)
    pre = m.get("preprocessing") or None
    if size is None and pre:
        size = pre.get("crop")
    arch = m.get("architecture") or {}
    src = m.get("source") or {}
    num_classes = arch.get("num_classes") or src.get("num_classes")
    out_shape = (m.get("output") or {}).get("shape")
    if num_classes is None and isinstance(out_shape, (list, tuple)) and len(out_shape) == 2 and isinstance(out_shape[1], int):
        num_classes = out_shape[1]
    depth = arch.get("depth")
    architecture = f"resnet{depth}" if depth else src.get("architecture")
    precision = str(m.get("precision") or "fp32").lower()
    cpu_only = None
    if kind == "torchscript" and precision == "int8":
        cpu_only = "INT8 TorchScript uses torch's x86 quantized kernels, which run on CPU only"
    return Variant(
        name=name or p.name, kind=kind, precision=precision, path=str(p), file=str(f), input_size=int(size or 224),
        static_batch=batch, num_classes=int(num_classes) if num_classes else None, preprocessing=pre,
        trained=bool(src.get("trained", True)), size_bytes=f.stat().st_size, stage=m.get("stage"),
        architecture=architecture, cpu_only=cpu_only,
        optimize_on_cpu=bool((m.get("export") or {}).get("optimize_for_inference_on_load")),
        inference_precision=(m.get("openvino") or {}).get("inference_precision_hint"),
    )


def _variant_from_model_dir(p: Path, name: str | None) -> Variant:
    from resnet_opt.resnet import read_config

    if not (p / _WEIGHTS).is_file():
        raise ModelFormatError(f"model folder {p} has no {_WEIGHTS}")
    cfg = read_config(p)
    stage = cfg.get("stage")
    if stage is None and (p / MANIFEST_NAME).is_file():
        try:
            stage = read_manifest(p).get("stage")
        except ArtifactError:
            stage = None
    pre = cfg.get("preprocessing") or None
    size = cfg.get("input_size") or (pre or {}).get("crop") or 224
    return Variant(
        name=name or p.name, kind="torch", precision="fp32", path=str(p), input_size=int(size),
        num_classes=int(cfg["num_classes"]), preprocessing=pre, trained=True, size_bytes=dir_size(p / _WEIGHTS),
        stage=stage or "model", architecture=cfg.get("architecture"),
    )


def variant_from_depth(depth: int | str, *, input_size: int = 224, num_classes: int = 1000,
                       name: str | None = None) -> Variant:
    """A random-initialised eager model: latency and agreement only (accuracy is not meaningful)."""
    from resnet_opt.resnet import parse_depth

    d = parse_depth(depth)
    return Variant(name=name or f"resnet{d}-random", kind="torch", precision="fp32", input_size=input_size,
                   num_classes=num_classes, trained=False, stage="random", architecture=f"resnet{d}", depth=d,
                   notes=["random initialisation: accuracy figures are not meaningful"])


def variant_from_model(model: Any, name: str, *, input_size: int, num_classes: int | None = None,
                       trained: bool = True, preprocessing: dict[str, Any] | None = None,
                       stage: str | None = None, precision: str = "fp32") -> Variant:
    """An in-memory torch module (measured on the torch eager backends)."""
    arch = getattr(getattr(model, "arch", None), "name", None)
    if num_classes is None:
        num_classes = getattr(getattr(model, "arch", None), "num_classes", None)
    size = sum(p.numel() * p.element_size() for p in model.parameters()) + \
        sum(b.numel() * b.element_size() for b in model.buffers())
    return Variant(name=name, kind="torch", precision=precision, input_size=input_size, num_classes=num_classes,
                   preprocessing=preprocessing, trained=trained, size_bytes=int(size), stage=stage, architecture=arch,
                   model=model)


def variants_from_paths(paths: list[str | os.PathLike]) -> list[Variant]:
    """Variants for several folders, with unique names (folder names, suffixed on clashes)."""
    taken: set[str] = set()
    out = []
    for p in paths:
        v = variant_from_path(p)
        v.name = _unique_name(v.name, taken)
        out.append(v)
    return out
