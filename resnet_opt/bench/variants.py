"""What the benchmark measures: a *variant* is one model in one format (eager model folder, TorchScript, ONNX or PT2
artifact, or an in-memory model), described by what its manifest or config says."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from resnet_opt.core.artifact import dir_size
from resnet_opt.core.errors import ArtifactError, ConfigError
from resnet_opt.core.manifest import open_artifact
from resnet_opt.core.preprocessing import Preprocessing


@dataclass
class Variant:
    """One thing to measure. ``kind`` picks the backend family: torch (eager), torchscript or onnx."""

    name: str
    kind: str  # the backend family: torch | torchscript | onnx | ... (core.manifest.KINDS[...].family)
    precision: str = "fp32"  # fp32 | fp16 | int8
    path: str | None = None  # artifact or model folder (None for an in-memory / random model)
    file: str | None = None  # the model file (ONNX / TorchScript)
    input_size: int = 224  # H = W
    static_batch: int | None = None  # a fixed batch dimension (ONNX exported with --static-batch), else None
    num_classes: int | None = None
    preprocessing: Preprocessing | None = None
    trained: bool = True  # False for random init: accuracy is meaningless, agreement is what counts
    size_bytes: int | None = None
    stage: str | None = None  # what produced it (export, quantize, prune, train, ...)
    architecture: str | None = None
    notes: list[str] = field(default_factory=list)
    model: Any = field(default=None, repr=False, compare=False)  # an in-memory torch module (kind torch)
    depth: int | None = None  # for a random-init model built on demand
    cpu_only: str | None = None  # why this variant cannot run on a GPU (None: it can)
    cuda_only: str | None = None  # why this variant cannot run on the CPU (a CUDA-compiled .pt2 package)
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


def unique_name(base: str, taken: set[str]) -> str:
    name, i = base, 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    taken.add(name)
    return name


def variant_from_path(path: str | os.PathLike, *, name: str | None = None) -> Variant:
    """A variant from any artifact folder or model folder, opened with
    :func:`resnet_opt.core.manifest.open_artifact` (manifest checked, files checked against their sha256); the
    kind's registered backend family decides which backends run it."""
    art = open_artifact(path)
    m = art.manifest
    p = art.path
    if art.info.loader is None:
        raise ArtifactError(f"{p} is a {art.kind} artifact ({art.info.description}); it cannot be benchmarked itself")
    family = art.info.family
    precision = m.precision
    cpu_only = cuda_only = None
    if family == "torchscript" and precision == "int8":
        cpu_only = "INT8 TorchScript uses torch's x86 quantized kernels, which run on CPU only"
    if family == "pt2":
        if str(m.compile.device or "cpu") == "cuda":
            cuda_only = "a CUDA-compiled .pt2 package runs on the GPU only"
        else:
            cpu_only = "a CPU-compiled .pt2 package runs on the CPU only (export with --device cuda for a GPU)"
    model_file = art.model_file
    size_bytes = dir_size(model_file)
    if family == "torch":  # a model folder: its config decides the classes and input size
        cfg = art.config or {}
        stage = m.stage if m.stage not in (None, "model") else cfg.get("stage") or "model"
        return Variant(name=name or p.name, kind="torch", precision="fp32", path=str(p),
                       input_size=int(m.input_size or 224), num_classes=m.num_classes,
                       preprocessing=m.preprocessing, trained=True, size_bytes=size_bytes, stage=stage,
                       architecture=m.architecture_name)
    return Variant(
        name=name or p.name, kind=family, precision=precision, path=str(p), file=str(model_file),
        input_size=int(m.input_size or 224), static_batch=m.static_batch, num_classes=m.num_classes,
        preprocessing=m.preprocessing, trained=m.trained, size_bytes=size_bytes, stage=m.stage,
        architecture=m.architecture_name, cpu_only=cpu_only, cuda_only=cuda_only,
        optimize_on_cpu=bool(m.export.optimize_for_inference_on_load),
        inference_precision=m.openvino.inference_precision_hint,
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
                       trained: bool = True, preprocessing: Preprocessing | dict[str, Any] | None = None,
                       stage: str | None = None, precision: str = "fp32") -> Variant:
    """An in-memory torch module (measured on the torch eager backends)."""
    arch = getattr(getattr(model, "arch", None), "name", None)
    if num_classes is None:
        num_classes = getattr(getattr(model, "arch", None), "num_classes", None)
    size = sum(p.numel() * p.element_size() for p in model.parameters()) + \
        sum(b.numel() * b.element_size() for b in model.buffers())
    return Variant(name=name, kind="torch", precision=precision, input_size=input_size, num_classes=num_classes,
                   preprocessing=Preprocessing.optional(preprocessing), trained=trained, size_bytes=int(size), stage=stage,
                   architecture=arch,
                   model=model)


def variants_from_paths(paths: list[str | os.PathLike]) -> list[Variant]:
    """Variants for several folders, with unique names (folder names, suffixed on clashes)."""
    taken: set[str] = set()
    out = []
    for p in paths:
        v = variant_from_path(p)
        v.name = unique_name(v.name, taken)
        out.append(v)
    return out
