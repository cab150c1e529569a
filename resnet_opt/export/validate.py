"""Validation of exported artifacts against the PyTorch model they came from.

Every export is validated before it is kept:

* ONNX: ``onnx.checker.check_model(full_check=True)`` (which includes strict shape inference), the input/output
  names, element types and shapes (``input`` [batch|N, 3, H, W] float32, ``logits`` [batch|N, classes]) are checked;
* PyTorch (FP32, eval mode) and the artifact (onnxruntime for ONNX, ``torch.jit.load`` of the saved file for
  TorchScript) run on the *same* inputs: real images when a data spec is given, else seeded N(0, 1) tensors; with a
  dynamic batch axis the artifact runs at batch 1 and at batch N;
* the artifact passes when, for every logit, ``|artifact - torch| <= atol + rtol * max|torch logits|`` and the
  top-1 class agrees on at least ``min_top1_agreement`` percent of the inputs.

Both conditions are one rule, :func:`accept`, used by every export's validation and by the quantize stages: a
failure raises :class:`AtolError` (logits or top-1 out of tolerance; a :class:`ValidationError`), and the checker
or a wrong output shape raises :class:`ValidationError`; the export functions then delete what they wrote.

Per-precision tolerances (:data:`TOLERANCES`; every field can be overridden):

=========  ======  ======  ===============
precision  atol    rtol    min top-1 agree
=========  ======  ======  ===============
fp32       1e-3    1e-4    99 %
fp16       1e-2    1e-2    90 %
=========  ======  ======  ===============

Measured (benchmarks/results/export_validation.md; random weights, 224 px, 16 inputs, 2-core AVX2 EPYC): ONNX FP32 max
abs diff 3.3e-6 (R18) / 3.1e-5 (R50); TorchScript 4.1e-6 / 1.8e-4; ONNX FP16 on the CPU provider 3.2e-3 / 3.6e-2,
i.e. about 4.5e-4 of the logit scale — the FP16 bound (1 % of the scale) leaves ~20x headroom for GPU kernels, whose
FP16 accumulation differs from the CPU path; the top-1 agreement requirement is the second guard.

``rtol`` is relative to the largest reference logit (the logit *scale*), not per element: near-zero logits make
per-element relative error meaningless.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from resnet_opt.core.errors import AtolError, ConfigError, DataError, ExportError, ValidationError
from resnet_opt.export.common import INPUT_NAME, OUTPUT_NAME, load_ts, optimize_loaded

DEFAULT_COUNT = 16
DEFAULT_SEED = 0


@dataclass(frozen=True)
class Tolerance:
    """Allowed difference between an artifact's logits and PyTorch's: ``atol + rtol * max|reference|``."""

    atol: float
    rtol: float
    min_top1_agreement: float  # percent

    def bound(self, scale: float) -> float:
        return self.atol + self.rtol * scale

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def validate(self) -> "Tolerance":
        from resnet_opt.core.checks import check_float

        check_float("--atol", self.atol, 0.0, 1e6)  # NaN would make every comparison pass
        check_float("--rtol", self.rtol, 0.0, 1e6)
        if not 0 <= self.min_top1_agreement <= 100:
            raise ConfigError(f"top-1 agreement must be a percentage in 0..100, got {self.min_top1_agreement}")
        return self


TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(atol=1e-3, rtol=1e-4, min_top1_agreement=99.0),
    "fp16": Tolerance(atol=1e-2, rtol=1e-2, min_top1_agreement=90.0),
    # BF16 keeps 8 mantissa bits (~2-3 significant digits): 3 % of the logit scale, top-1 as for FP16
    "bf16": Tolerance(atol=5e-2, rtol=3e-2, min_top1_agreement=90.0),
}


def tolerance_for(precision: str, *, atol: float | None = None, rtol: float | None = None,
                  min_top1_agreement: float | None = None) -> Tolerance:
    """The default tolerance of ``precision`` with any of its fields overridden."""
    if precision not in TOLERANCES:
        raise ConfigError(f"no default tolerance for precision {precision!r}; known: {', '.join(TOLERANCES)}")
    t = TOLERANCES[precision]
    changes = {k: float(v) for k, v in (("atol", atol), ("rtol", rtol), ("min_top1_agreement", min_top1_agreement))
               if v is not None}
    return replace(t, **changes).validate()


@dataclass
class ValidationInputs:
    """The images an export is validated on (already preprocessed, N×3×H×W float32)."""

    tensors: torch.Tensor
    description: str  # e.g. "digits val (16 images)" or "random N(0,1), seed 0"
    real: bool


@dataclass
class ValidationReport:
    """What was compared and what was found; stored in the manifest under ``validation``."""

    passed: bool
    precision: str
    runtime: str
    inputs: str
    real_images: bool
    count: int
    batch_sizes: list[int]
    max_abs_diff: float
    max_rel_diff: float  # max abs diff / max |reference logit|
    logit_scale: float  # max |reference logit|
    allowed_abs_diff: float
    top1_agreement: float  # percent, worst over the batch sizes
    tolerance: dict[str, float]
    checks: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return (f"max abs diff {self.max_abs_diff:.3g} (allowed {self.allowed_abs_diff:.3g}), "
                f"max rel diff {self.max_rel_diff:.3g}, top-1 agreement {self.top1_agreement:.1f}% "
                f"on {self.count} {'images' if self.real_images else 'random inputs'}")


# ------------------------------------------------------------------------------------------------ inputs
def inputs_for(inputs: ValidationInputs | None, input_size: int) -> ValidationInputs:
    """The validation inputs of an export: ``inputs`` when given (they must be ``input_size`` px, else ConfigError),
    else seeded N(0, 1) tensors of that size."""
    vin = inputs if inputs is not None else validation_inputs(input_size=input_size)
    if int(vin.tensors.shape[-1]) != input_size:
        raise ConfigError(f"validation inputs are {vin.tensors.shape[-1]} px but the export input is {input_size} px")
    return vin


def validation_inputs(*, input_size: int, data: str | None = None, count: int = DEFAULT_COUNT,
                      seed: int = DEFAULT_SEED, preset: str | None = None) -> ValidationInputs:
    """Real images from a data spec (its ``val`` split, a seeded subset of ``count``) or seeded N(0, 1) tensors.

    The data spec's preprocessing must produce ``input_size`` images (a static-shape export cannot take others)."""
    if count < 1:
        raise ConfigError(f"validation needs at least 1 input, got {count}")
    if data is None:
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(count, 3, input_size, input_size, generator=g)
        return ValidationInputs(x, f"random N(0,1), seed {seed} ({count} inputs)", real=False)
    from resnet_opt.data import build_loader, parse_data_spec, preprocessing_for

    spec = parse_data_spec(data, preset=preset)
    size = preprocessing_for(spec).crop
    if size != input_size:
        raise ConfigError(f"data spec {spec} gives {size}-px images but the export input is {input_size} px; "
                          f"use a matching data spec (e.g. digits:{input_size}) or input size")
    loader = build_loader(spec, "val", batch_size=count, limit=count, seed=seed)
    xs = [x for x, _ in loader]
    if not xs:
        raise DataError(f"data spec {spec} gave no validation images")
    x = torch.cat(xs)[:count].float()
    return ValidationInputs(x, f"{spec} val ({x.shape[0]} images, seed {seed})", real=spec.labelled)


# ------------------------------------------------------------------------------------------------ comparison
@torch.no_grad()
def reference_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """FP32 PyTorch logits of ``model`` (eval mode, CPU) on ``x``."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(x[i:i + batch_size].float()).float().cpu() for i in range(0, x.shape[0], batch_size)])
    finally:
        model.train(was_training)


def compare_logits(reference: torch.Tensor, other: torch.Tensor, tolerance: Tolerance) -> dict[str, float]:
    """max abs diff, max rel diff (to the logit scale), allowed bound, top-1 agreement (percent)."""
    a = torch.as_tensor(reference).float()
    b = torch.as_tensor(other).float()
    if a.shape != b.shape:
        raise ValidationError(f"artifact output shape {tuple(b.shape)} differs from PyTorch's {tuple(a.shape)}")
    if not torch.isfinite(b).all():
        raise AtolError("artifact produced non-finite logits (inf/NaN)")
    diff = (a - b).abs()
    scale = float(a.abs().max()) if a.numel() else 0.0
    max_abs = float(diff.max()) if diff.numel() else 0.0
    return {
        "max_abs_diff": max_abs,
        "max_rel_diff": max_abs / max(scale, 1e-12),
        "logit_scale": scale,
        "allowed_abs_diff": tolerance.bound(scale),
        "top1_agreement": 100.0 * float((a.argmax(1) == b.argmax(1)).float().mean()) if a.numel() else 100.0,
    }


def accept(c: dict[str, float], tolerance: Tolerance, *, precision: str, what: str) -> None:
    """THE acceptance rule for an artifact's logits against PyTorch's (every export's validation, and the quantize
    stage's FP32 intermediate): the largest logit difference within ``tolerance`` (atol + rtol × the logit scale)
    and the top-1 agreement at least ``tolerance.min_top1_agreement``. ``c`` is :func:`compare_logits`' result
    (the worst batch size's, for several). Raises :class:`AtolError` (a subclass of ValidationError) otherwise."""
    if c["max_abs_diff"] > c["allowed_abs_diff"]:
        raise AtolError(f"{what} disagrees with PyTorch: max abs logit diff {c['max_abs_diff']:.3g} > allowed "
                        f"{c['allowed_abs_diff']:.3g} (atol {tolerance.atol:g} + rtol {tolerance.rtol:g} × logit "
                        f"scale {c['logit_scale']:.3g}, {precision})")
    if c["top1_agreement"] < tolerance.min_top1_agreement:
        raise AtolError(f"{what} top-1 agrees with PyTorch on {c['top1_agreement']:.1f}% of inputs, below the "
                        f"required {tolerance.min_top1_agreement:g}% ({precision})")


def check_close(reference: torch.Tensor, other: torch.Tensor, *, precision: str = "fp32",
                what: str = "the export") -> dict[str, float]:
    """Compare two logit tensors and apply :func:`accept` (the one acceptance rule); returns the comparison."""
    tol = tolerance_for(precision)
    c = compare_logits(reference, other, tol)
    accept(c, tol, precision=precision, what=what)
    return c


def _judge(runs: list[tuple[int, torch.Tensor, torch.Tensor]], *, tolerance: Tolerance, precision: str,
           runtime: str, inputs: ValidationInputs, checks: dict[str, Any], what: str) -> ValidationReport:
    """Combine the comparisons of several batch sizes into one report; raise when out of tolerance."""
    worst: dict[str, float] | None = None
    agree = 100.0
    for _, ref, out in runs:
        c = compare_logits(ref, out, tolerance)
        agree = min(agree, c["top1_agreement"])
        if worst is None or c["max_abs_diff"] - c["allowed_abs_diff"] > worst["max_abs_diff"] - worst["allowed_abs_diff"]:
            worst = c
    assert worst is not None
    rep = ValidationReport(
        passed=False, precision=precision, runtime=runtime, inputs=inputs.description, real_images=inputs.real,
        count=int(inputs.tensors.shape[0]), batch_sizes=[b for b, _, _ in runs], max_abs_diff=worst["max_abs_diff"],
        max_rel_diff=worst["max_rel_diff"], logit_scale=worst["logit_scale"],
        allowed_abs_diff=worst["allowed_abs_diff"], top1_agreement=agree, tolerance=tolerance.to_dict(), checks=checks)
    accept({**worst, "top1_agreement": agree}, tolerance, precision=precision, what=what)
    rep.passed = True
    return rep


def _batch_sizes(n: int, dynamic_batch: bool, static_batch: int | None) -> list[int]:
    if not dynamic_batch:
        return [static_batch or 1]
    return sorted({1, n})


def _run_batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, bs: int) -> torch.Tensor:
    """Run ``fn`` over ``x`` in batches of exactly ``bs`` (the last one padded by repeating the final input)."""
    from resnet_opt.engine.evaluate import run_in_fixed_batches

    return run_in_fixed_batches(fn, x, bs)


# ------------------------------------------------------------------------------------------------ ONNX
def check_onnx_file(path: str | os.PathLike, *, input_size: int | None = None,
                    num_classes: int | None = None, name: str | None = None) -> dict[str, Any]:
    """``onnx.checker`` (full check, with strict shape inference) + names, types and shapes of input and output.

    Returns the facts found (opset, input/output shapes, dtypes); raises ValidationError when something is off."""
    import onnx

    path = Path(path)
    label = name or path.name
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as e:  # noqa: BLE001 - checker / shape inference raise several types
        raise ValidationError(f"onnx.checker rejected {label}: {str(e).strip().splitlines()[0]}") from e
    model = onnx.load(str(path), load_external_data=False)
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except Exception as e:  # noqa: BLE001
        raise ValidationError(f"ONNX shape inference failed on {label}: {str(e).strip().splitlines()[0]}") from e
    init = {t.name for t in inferred.graph.initializer}
    inputs = [vi for vi in inferred.graph.input if vi.name not in init]
    outputs = list(inferred.graph.output)

    def shape(vi: Any) -> list[Any]:
        return [d.dim_param if d.dim_param else (d.dim_value if d.HasField("dim_value") else None)
                for d in vi.type.tensor_type.shape.dim]

    def dtype(vi: Any) -> str:
        return onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type).name

    if [vi.name for vi in inputs] != [INPUT_NAME]:
        raise ValidationError(f"{label} inputs are {[vi.name for vi in inputs]}, expected ['{INPUT_NAME}']")
    if [vi.name for vi in outputs] != [OUTPUT_NAME]:
        raise ValidationError(f"{label} outputs are {[vi.name for vi in outputs]}, expected ['{OUTPUT_NAME}']")
    ishape, oshape = shape(inputs[0]), shape(outputs[0])
    if len(ishape) != 4 or ishape[1] != 3 or (input_size is not None and ishape[2:] != [input_size, input_size]):
        raise ValidationError(f"{label} input shape {ishape} is not [batch, 3, {input_size or 'H'}, {input_size or 'W'}]")
    if len(oshape) != 2 or (num_classes is not None and oshape[1] != num_classes):
        raise ValidationError(f"{label} output shape {oshape} is not [batch, {num_classes or 'classes'}] "
                              "(shape inference)")
    if ishape[0] != oshape[0]:
        raise ValidationError(f"{label} batch axes of input {ishape} and output {oshape} differ")
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=None)
    return {"onnx_checker": "passed (full_check)", "shape_inference": "passed (strict)", "opset": opset,
            "input_shape": ishape, "input_dtype": dtype(inputs[0]), "output_shape": oshape,
            "output_dtype": dtype(outputs[0])}


def validate_onnx(path: str | os.PathLike, model: nn.Module, inputs: ValidationInputs, *,
                  precision: str = "fp32", tolerance: Tolerance | None = None, provider: str = "cpu",
                  reference: torch.Tensor | None = None, name: str | None = None) -> ValidationReport:
    """Check an ONNX file and compare it with ``model`` (FP32 PyTorch) on ``inputs`` with onnxruntime."""
    from resnet_opt.engine.onnx_session import OnnxSession

    x = inputs.tensors
    n_cls = getattr(getattr(model, "arch", None), "num_classes", None)
    checks = check_onnx_file(path, input_size=int(x.shape[-1]), num_classes=n_cls, name=name)
    tol = tolerance or tolerance_for(precision)
    ref = reference if reference is not None else reference_logits(model, x)
    sess = OnnxSession(path, provider=provider, name=name)
    batch_dim = checks["input_shape"][0]
    dynamic = not isinstance(batch_dim, int)
    runs = []
    for bs in _batch_sizes(x.shape[0], dynamic, batch_dim if not dynamic else None):
        runs.append((bs, ref, _run_batched(sess.run, x, bs)))
    checks["provider"] = sess.provider
    checks["node_providers"] = sess.node_providers
    return _judge(runs, tolerance=tol, precision=precision, runtime=f"onnxruntime {_ort_version()} ({sess.provider})",
                  inputs=inputs, checks=checks, what=f"ONNX artifact {name or Path(path).name}")


def _ort_version() -> str:
    import onnxruntime as ort

    return ort.__version__


# ------------------------------------------------------------------------------------------------ TorchScript
def validate_torchscript(path: str | os.PathLike, model: nn.Module, inputs: ValidationInputs, *,
                         precision: str = "fp32", tolerance: Tolerance | None = None,
                         reference: torch.Tensor | None = None, name: str | None = None,
                         optimize: bool = False) -> ValidationReport:
    """Load the saved TorchScript file with ``torch.jit.load`` and compare it with ``model`` at batch 1 and N; with
    ``optimize`` also the loaded module after ``torch.jit.optimize_for_inference`` (what the runtime runs on CPU)."""
    x = inputs.tensors
    name = name or Path(path).name
    tol = tolerance or tolerance_for(precision)
    ref = reference if reference is not None else reference_logits(model, x)
    try:
        ts = load_ts(path).eval()
        modules = {"loaded": ts}
        if optimize:
            modules["loaded + optimize_for_inference"] = optimize_loaded(load_ts(path))
    except Exception as e:  # noqa: BLE001
        raise ExportError(f"the saved TorchScript file {name} does not load: {str(e).strip().splitlines()[0]}") from e

    runs = []
    for mod in modules.values():
        def run(b: torch.Tensor, mod: Any = mod) -> torch.Tensor:
            with torch.no_grad():
                return mod(b)

        runs += [(bs, ref, _run_batched(run, x, bs)) for bs in _batch_sizes(x.shape[0], True, None)]
    checks = {"torch_jit_load": "passed", "modules_checked": list(modules), "output_shape": [None, int(ref.shape[1])]}
    rep = _judge(runs, tolerance=tol, precision=precision, runtime=f"torch.jit {torch.__version__} (cpu)",
                 inputs=inputs, checks=checks, what=f"TorchScript artifact {name}")
    rep.batch_sizes = sorted(set(rep.batch_sizes))
    return rep


# ------------------------------------------------------------------------------------------------ PT2 (AOTInductor)
def validate_pt2(path: str | os.PathLike, model: nn.Module, inputs: ValidationInputs, *, precision: str = "fp32",
                 tolerance: Tolerance | None = None, reference: torch.Tensor | None = None, name: str | None = None,
                 device: str = "cpu", load: Callable[[Any, str], Any] | None = None) -> ValidationReport:
    """Load the AOTInductor package with ``load(path, device)`` (the exporter passes
    :func:`resnet_opt.export.pt2_export.load_package`, the loader the runtime uses: a
    :class:`~resnet_opt.export.pt2_export.Pt2Package`) and compare it with ``model`` (FP32 PyTorch on the CPU) at
    batch 1 and N for a dynamic-batch package; for static models at each compiled batch size and at N through the
    package's chunking. On CUDA, TF32 is disabled while comparing (strict FP32; torch enables TF32 for cuDNN
    convolutions by default, which a user may keep for speed)."""
    import contextlib

    if load is None:
        raise ConfigError("validate_pt2 needs the package loader (load=resnet_opt.export.pt2_export.load_package)")
    x = inputs.tensors
    name = name or Path(path).name
    tol = tolerance or tolerance_for(precision)
    ref = reference if reference is not None else reference_logits(model, x)
    try:
        pkg = load(path, device)
    except ExportError as e:
        raise ExportError(f"the compiled package {name} does not load: {str(e).split(': ', 1)[-1]}") from e
    dev = torch.device(device)
    ctx = torch.backends.cudnn.flags(enabled=True, allow_tf32=False) if dev.type == "cuda" else contextlib.nullcontext()
    sizes = getattr(pkg, "batch_sizes", None)

    def run(b: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out = pkg(b.to(dev))
        if isinstance(out, (list, tuple)):
            out = out[0]
        return out.float().cpu()

    n = int(x.shape[0])
    with ctx:
        # each compiled size in chunks of exactly that size, then the whole set at once (the package's own chunking)
        runs = [(bs, ref, _run_batched(run, x, bs)) for bs in sorted(set(sizes or [1]) | ({n} if sizes else set()))]
        if not sizes:
            runs.append((n, ref, run(x)))
    checks = {"aoti_load_package": "passed", "device": device, "output_shape": [None, int(ref.shape[1])],
              "batch_sizes": list(sizes) if sizes else "dynamic"}
    if dev.type == "cuda":
        checks["tf32"] = "disabled during validation"
    return _judge(runs, tolerance=tol, precision=precision, runtime=f"AOTInductor {torch.__version__} ({device})",
                  inputs=inputs, checks=checks, what=f"PT2 package {name}")


# ------------------------------------------------------------------------------------------------ OpenVINO
def validate_openvino(path: str | os.PathLike, model: nn.Module, inputs: ValidationInputs, *,
                      precision: str = "fp32", tolerance: Tolerance | None = None,
                      inference_precision: str | None = None, reference: torch.Tensor | None = None,
                      name: str | None = None) -> ValidationReport:
    """Compile an OpenVINO IR (or ONNX) file with OpenVINO's CPU plugin and compare it with ``model`` (FP32
    PyTorch) on ``inputs`` at batch 1 and N (dynamic batch) — the same checks and tolerances as the ONNX export."""
    from resnet_opt.engine.openvino_session import OpenVINOSession

    x = inputs.tensors
    name = name or Path(path).name
    tol = tolerance or tolerance_for(precision)
    ref = reference if reference is not None else reference_logits(model, x)
    sess = OpenVINOSession(path, inference_precision=inference_precision)
    n_cls = getattr(getattr(model, "arch", None), "num_classes", None) or int(ref.shape[1])
    ishape, oshape = sess.input_shape, sess.output_shape
    size = int(x.shape[-1])
    if len(ishape) != 4 or ishape[1] != 3 or ishape[2:] != [size, size]:
        raise ValidationError(f"{name} input shape {ishape} is not [batch, 3, {size}, {size}]")
    if len(oshape) != 2 or oshape[1] != n_cls:
        raise ValidationError(f"{name} output shape {oshape} is not [batch, {n_cls}]")
    dynamic = sess.static_batch is None
    runs = [(bs, ref, _run_batched(sess.run, x, bs))
            for bs in _batch_sizes(x.shape[0], dynamic, sess.static_batch)]
    checks = {"input_shape": ishape, "output_shape": oshape, **sess.info}
    return _judge(runs, tolerance=tol, precision=precision, runtime=sess.info["runtime"], inputs=inputs,
                  checks=checks, what=f"OpenVINO artifact {name} ({sess.info['ran_precision']})")
