"""QAT stage: trained model folder -> fake-quantized fine-tuning (torchao PT2E) -> an INT8 artifact carrying the
learned scales, the same kinds as PTQ writes:

* ``target="onnx"`` (default): ONNX QDQ ``model_int8.onnx`` (kind ``onnx``), as ``quantize --target onnx``;
* ``target="torch"``: the converted PT2E graph compiled by AOTInductor into ``model.pt2`` (kind ``pt2``), as
  ``quantize --target torch``.

Validated like the PTQ artifact (against the FP32 source on the val split), and the written file against the PyTorch
QAT model it came from (the converted PT2E graph run eagerly), with the same manifest plus ``"stage": "qat"``,
``quantization.method = "qat"`` and the schedule.

The schedule follows torchvision's reference QAT recipe (references/classification/train_quantization.py): SGD with
a small learning rate, the quantization observers frozen after a few epochs, BatchNorm statistics frozen after a few
epochs. Runs under torchrun (DistributedDataParallel, rank 0 writes the artifact).
"""

from __future__ import annotations

import copy
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch

from resnet_opt.core.artifact import check_output_path
from resnet_opt.core.manifest import Architecture, Manifest
from resnet_opt.core.env import cpu_info, library_versions
from resnet_opt.core.errors import ConfigError, DataError, ValidationError
from resnet_opt.core.registry import kind_table, kinds_by_target
from resnet_opt.core.results import StageResult
from resnet_opt.data import build_loader, class_names_for, num_classes_for, parse_data_spec, preprocessing_for
from resnet_opt.engine import TrainConfig, accuracy_from_logits, agreement, batched_logits, distributed, train
from resnet_opt.resnet import load_source
from resnet_opt.pipeline.int8_build import Int8Build, batch1_latency, latency_measurements, write_int8_folder
from resnet_opt.resnet.io import nonstandard_widths

__all__ = ["QatConfig", "QatResult", "qat_model", "FILE_NAME", "FILE_NAMES", "KIND_OF_TARGET"]

# the QAT targets are the registered kinds' with a QAT builder (resnet_opt.core.kinds), each under its quantize
# target name; the INT8 file each writes is its kind's int8 file (live views of the registry)
QAT_KINDS = kinds_by_target("qat_builder")
KIND_OF_TARGET = kind_table(lambda: {t: i.name for t, i in QAT_KINDS.items()})
FILE_NAMES = kind_table(lambda: {t: i.files["int8"] for t, i in QAT_KINDS.items()})
FILE_NAME = FILE_NAMES["onnx"]
# the written file against the PyTorch QAT model it came from: onnxruntime's integer kernels (and Inductor's oneDNN
# INT8 convolutions) requantize with rounding where PyTorch's simulation stays in float, so logits differ slightly;
# top-1 must agree on nearly every image
MIN_EXPORT_AGREEMENT = 98.0
MAX_EXPORT_REL_DIFF = 0.1


@dataclass
class QatConfig:
    epochs: int = 3
    batch_size: int = 64  # global batch (split across torchrun processes)
    lr: float = 1e-3  # SGD; torchvision's recipe uses 1e-4 for ImageNet fine-tuning from a converged model
    weight_decay: float = 1e-4
    momentum: float = 0.9
    freeze_observers_epoch: int | None = None  # 0-based epoch; default min(4, epochs - 1) (torchvision: 4)
    freeze_bn_epoch: int | None = None  # default min(3, epochs - 1) (torchvision: 3)
    activation: str = "asymmetric"  # asymmetric (uint8) | symmetric (int8, TensorRT's form)
    weight_bits: int | None = None  # 8 or 7; None: 7 on CPUs without VNNI (onnxruntime's reduce_range), else 8
    data: str | None = None  # default: the model folder's data spec
    limit: int | None = None  # training images (seeded subset)
    eval_size: int | None = None  # val images for validation (default: all)
    min_agreement: float = 90.0
    latency_runs: int = 30
    threads: int | None = None
    opset: int = 20  # the dynamo exporter's own opset (down-converting its QDQ graph to 17 fails)
    seed: int = 0
    device: str = "auto"
    target: str = "onnx"  # onnx (model_int8.onnx, QDQ) | torch (PT2E INT8 compiled into an AOTInductor model.pt2)

    def validate(self) -> None:
        from resnet_opt.optimize.qat import ACTIVATION_SCHEMES, TARGETS, WEIGHT_BITS

        t = str(self.target).strip().lower()
        if t not in TARGETS:
            raise ConfigError(f"unknown --target {self.target!r}; valid: {', '.join(TARGETS)}")
        self.target = t
        if t == "torch" and self.activation != "asymmetric":
            raise ConfigError("--activation symmetric applies to the onnx target; the torch (PT2E / Inductor) target "
                              "uses the x86 Inductor quantizer's uint8 asymmetric activations")
        if t == "torch" and self.weight_bits not in (None, 8):
            raise ConfigError("--weight-bits 7 applies to the onnx target; the torch (PT2E / Inductor) target uses "
                              "8-bit weights and, on CPUs without VNNI, 7-bit activations (reduce_range)")
        if self.epochs < 1:
            raise ConfigError(f"--epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ConfigError(f"--lr must be positive, got {self.lr}")
        if self.weight_decay < 0:
            raise ConfigError(f"--weight-decay must be at least 0, got {self.weight_decay}")
        for name, v in (("--freeze-observers-epoch", self.freeze_observers_epoch),
                        ("--freeze-bn-epoch", self.freeze_bn_epoch)):
            if v is not None and v < 1:
                raise ConfigError(f"{name} must be at least 1 (observers and BN statistics first learn from "
                                  f"data), got {v}")
        if self.activation not in ACTIVATION_SCHEMES:
            raise ConfigError(f"unknown activation scheme {self.activation!r}; valid: {', '.join(ACTIVATION_SCHEMES)}")
        if self.weight_bits is not None and self.weight_bits not in WEIGHT_BITS:
            raise ConfigError(f"--weight-bits must be 7 or 8, got {self.weight_bits}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {self.limit}")
        if self.eval_size is not None and self.eval_size < 1:
            raise ConfigError(f"--eval-size must be at least 1, got {self.eval_size}")
        from resnet_opt.core.checks import check_float, check_int, check_threads

        check_float("--min-agreement", self.min_agreement, 0.0, 100.0)
        check_int("--latency-runs", self.latency_runs, 1, 100_000)
        check_threads(self.threads)

    def schedule(self) -> dict[str, Any]:
        """Freeze epochs (1-based: "frozen from the start of epoch N+1"), None when the run is too short."""
        def pick(v: int | None, default: int) -> int | None:
            if v is not None:
                return v if v < self.epochs else None
            d = min(default, self.epochs - 1)
            return d if d >= 1 else None

        return {"epochs": self.epochs, "freeze_observers_after_epoch": pick(self.freeze_observers_epoch, 4),
                "freeze_bn_after_epoch": pick(self.freeze_bn_epoch, 3), "optimizer": "sgd (nesterov)",
                "lr": self.lr, "lr_schedule": "cosine, no warm-up", "weight_decay": self.weight_decay,
                "momentum": self.momentum, "batch_size": self.batch_size, "seed": self.seed,
                "recipe": "torchvision references/classification/train_quantization.py"}


@dataclass
class QatResult(StageResult):
    """What :func:`qat_model` returns. On torchrun ranks other than 0 only ``out``, ``rank`` and ``written`` (False)
    are set: rank 0 alone validates and writes. Top-1 figures are percent on the val split (``images`` images);
    ``agreement`` is the INT8 artifact's top-1 agreement with the FP32 source, ``export_agreement`` with the PyTorch
    QAT model it came from. ``validation`` / ``quantization`` / ``measurements`` / ``compile`` are the manifest's
    sections as written (``compile``: the torch target's AOTInductor compile, None for onnx)."""

    omit_when_none: ClassVar[tuple[str, ...]] = ("compile",)

    out: Path
    written: bool = True
    rank: int = 0
    target: str | None = None
    kind: str | None = None
    file: str | None = None
    images: int | None = None
    fp32_top1: float | None = None
    int8_top1: float | None = None
    top1_drop: float | None = None
    agreement: float | None = None
    qat_torch_top1: float | None = None
    export_agreement: float | None = None
    speedup: float | None = None  # INT8 artifact vs FP32 PyTorch eager, batch 1
    seconds: float | None = None
    schedule: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    quantization: dict[str, Any] = field(default_factory=dict)
    measurements: dict[str, Any] = field(default_factory=dict)
    compile: dict[str, Any] | None = None


def qat_model(*, model_dir: str | os.PathLike, out: str | os.PathLike, config: QatConfig | None = None,
              progress: bool = False, log: Callable[[str], None] | None = None) -> QatResult:
    """Quantization-aware fine-tuning of a trained model folder; writes the INT8 artifact ``out`` (ONNX QDQ, or a
    ``.pt2`` package with ``config.target="torch"``). Returns a :class:`QatResult` on every rank (rank 0 writes)."""
    from resnet_opt.optimize.qat import convert_qat, prepare_qat, qat_schedule_hook, require_torchao

    cfg = config or QatConfig()
    cfg.validate()
    require_torchao()
    check_output_path(out)
    say = log or (lambda _m: None)
    t_start = time.perf_counter()
    src = load_source(model_dir=model_dir)
    model = src.model
    spec, pre, size = _qat_data(cfg, src, model_dir)
    scheme, bits_reason, scheme_words = _scheme(cfg)
    sched = cfg.schedule()
    threads = int(cfg.threads or torch.get_num_threads())

    # QAT trains on the CPU unless --device cuda is given (NCCL then, one GPU per process; untested here)
    with distributed.session(cfg.device if str(cfg.device).startswith("cuda") else "cpu") as ctx:
        say = say if ctx.is_main else (lambda _m: None)
        # ---- evaluation images (val split) and the FP32 reference
        val = build_loader(spec, "val", batch_size=256, limit=cfg.eval_size, seed=cfg.seed)
        xs, ys = zip(*[(x.float(), y) for x, y in val])
        x_eval, y_eval = torch.cat(xs), torch.cat(ys)
        model.eval()
        fp32_ref = batched_logits(model, x_eval)
        say(f"QAT of {model.arch.name} on {spec} ({size} px) for the {cfg.target} target: {scheme_words}; "
            f"{cfg.epochs} epochs, lr {cfg.lr:g}, observers frozen after epoch "
            f"{sched['freeze_observers_after_epoch']}, BN after epoch {sched['freeze_bn_after_epoch']}")

        # ---- fake-quantized fine-tuning
        prepared = prepare_qat(copy.deepcopy(model), size, scheme)
        if cfg.batch_size % ctx.world_size:
            raise ConfigError(f"--batch-size {cfg.batch_size} (the global batch) must be divisible by the number "
                              f"of processes ({ctx.world_size})")
        loader = build_loader(spec, "train", batch_size=cfg.batch_size // ctx.world_size, shuffle=True,
                              seed=cfg.seed, limit=cfg.limit, drop_last=True, replicas=ctx.world_size, rank=ctx.rank)
        tcfg = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, optimizer="sgd", lr=cfg.lr,
                           weight_decay=cfg.weight_decay, momentum=cfg.momentum, label_smoothing=0.0,
                           warmup_epochs=0.0, seed=cfg.seed, device=ctx.device)
        hook = qat_schedule_hook(sched["freeze_observers_after_epoch"], sched["freeze_bn_after_epoch"], log=say)
        # no per-epoch validation: the fake-quant observers would also learn from the val images
        res = train(prepared, loader, None, tcfg, progress=progress, log=say, dist=ctx, on_epoch_start=hook)
        prepared.to("cpu")
        converted = convert_qat(prepared)
        if not ctx.is_main:
            return QatResult(out=Path(out), written=False, rank=ctx.rank, target=cfg.target)
        qat_torch = batched_logits(converted, x_eval)
        fname = FILE_NAMES[cfg.target]

        with tempfile.TemporaryDirectory(prefix="resnet-opt-qat-") as td:
            qpath = Path(td) / fname
            make = QAT_KINDS[cfg.target].resolve("qat_builder")
            build = make(converted, qpath, x_eval, size=size, cfg=cfg, threads=threads, say=say, fp32=model,
                         work=Path(td))
            validation, agr, exp, a32, a8, aq = _qat_validation(cfg, spec, build, qat_torch, fp32_ref, y_eval)
            say(f"checked the {build.what} against the PyTorch QAT model it came from (top-1 {aq.top1:.2f}%)")

            # ---- size and latency (batch 1, this process): FP32 on the artifact's own runtime beside INT8
            say(f"measuring batch-1 latency ({cfg.latency_runs} runs each, {threads} threads) ...")
            lat = batch1_latency(model, build, size, cfg.latency_runs)
            fp32_bytes = sum(p.numel() * 4 for p in model.state_dict().values() if p.is_floating_point())
            int8_size = build.size_bytes
            quant = {
                "method": "qat", "qat": True,
                "flow": "torchao PT2E: torch.export -> prepare_qat_pt2e -> fine-tuning -> convert_pt2e",
                "quantizer": "X86InductorQuantizer annotation, QAT quantization config below",
                **build.quant, "scheme": scheme.to_dict(), "target": cfg.target,
                ("weight_bits_reason" if cfg.target == "onnx" else "bits_reason"): bits_reason,
                "schedule": sched,
                "training": {"data": str(spec), "split": "train", "limit": cfg.limit, "epochs_run": res.epochs_run,
                             "seconds": res.seconds, "history": [asdict(h) for h in res.history],
                             **({"distributed": ctx.to_dict()} if ctx.enabled else {})},
            }
            measurements = {
                "size_bytes": {"fp32": fp32_bytes, "int8": int8_size, "ratio": fp32_bytes / max(int8_size, 1),
                               "fp32_file": "FP32 parameters and buffers (4 bytes each)"},
                **latency_measurements(lat, size=size, threads=threads, runs=cfg.latency_runs),
            }
            sections: dict[str, Any] = {"quantization": quant, "seconds": time.perf_counter() - t_start}
            if build.compile is not None:
                sections["compile"] = build.compile
                measurements["load_ms"] = build.compile.get("load_ms")
            manifest = Manifest.for_quantized(
                kind=KIND_OF_TARGET[cfg.target], file=fname, stage="qat", source=src.manifest_source(),
                architecture=Architecture.of_model(model, widths=nonstandard_widths(model), fused=True),
                input_size=size, preprocessing=pre, class_names=src.class_names or class_names_for(spec),
                validation=validation, measurements=measurements, sections=sections, versions=library_versions(),
                cpu=cpu_info())
            write_int8_folder(out, build, manifest)
    return QatResult(out=Path(out), written=True, rank=ctx.rank, target=cfg.target, kind=manifest.kind,
                     file=fname, images=int(x_eval.shape[0]), fp32_top1=a32.top1, int8_top1=a8.top1,
                     top1_drop=a32.top1 - a8.top1, agreement=agr["top1_agreement"], qat_torch_top1=aq.top1,
                     export_agreement=exp["top1_agreement"],
                     speedup=measurements["speedup_int8_vs_fp32_torch_eager"], seconds=time.perf_counter() - t_start,
                     schedule=sched, validation=validation, quantization=quant, measurements=measurements,
                     compile=build.compile)


def _qat_data(cfg: QatConfig, src: Any, model_dir: str | os.PathLike) -> tuple[Any, Any, int]:
    """The labelled data QAT trains on (``--data``, else the model folder's), checked against the model's classes
    and input size: (data spec, its preprocessing, input size)."""
    if cfg.data:
        spec = parse_data_spec(cfg.data)
    else:
        recorded = (src.config or {}).get("data")  # the config load_source read and checked
        if not recorded:
            raise ConfigError(f"model folder {model_dir} does not record its data spec; pass --data")
        spec = parse_data_spec(str(recorded))
    if not spec.labelled:
        raise DataError(f"QAT trains on labelled data; {spec} has no labels (use digits or imagefolder:PATH)")
    n_data = num_classes_for(spec)
    if n_data is not None and n_data != src.model.arch.num_classes:
        raise DataError(f"the model predicts {src.model.arch.num_classes} classes but {spec} has {n_data}")
    pre = preprocessing_for(spec)
    size = int(pre.crop)
    if src.input_size and int(src.input_size) != size:
        raise DataError(f"data {spec} gives {size} px images but the model was trained at {src.input_size} px")
    return spec, pre, size


def _scheme(cfg: QatConfig) -> tuple[Any, str, str]:
    """The QAT scheme of the target on this CPU: (scheme, why these bits, the scheme in words)."""
    from resnet_opt.optimize.qat import QatScheme
    from resnet_opt.optimize.quantize_onnx import choose_quant_types

    types = choose_quant_types()
    if cfg.target == "torch":
        from resnet_opt.optimize.quantize_pt2e import default_reduce_range

        bits, rr = 8, default_reduce_range()
        scheme = QatScheme(activation="asymmetric", weight_bits=8, target="torch", reduce_range=rr)
        bits_reason = ("8-bit weights and " + ("7-bit activations [0, 127] (reduce_range): this CPU has no VNNI, "
                                               "as the PTQ torch target" if rr else "8-bit activations (VNNI)"))
        scheme_words = f"uint8 activations{' (7-bit)' if rr else ''}, 8-bit per-channel weights"
    else:
        bits = cfg.weight_bits or (7 if types.reduce_range else 8)
        scheme = QatScheme(activation=cfg.activation, weight_bits=bits)
        bits_reason = (f"{bits}-bit weights: " + ("chosen" if cfg.weight_bits else "from the CPU: ")
                       + ("" if cfg.weight_bits else types.reason))
        scheme_words = f"{scheme.activation} activations, {bits}-bit per-channel weights"
    return scheme, bits_reason, scheme_words


def _qat_validation(cfg: QatConfig, spec: Any, build: Int8Build, qat_torch: torch.Tensor, fp32_ref: torch.Tensor,
                    y_eval: torch.Tensor) -> tuple[dict[str, Any], dict[str, float], dict[str, float], Any, Any, Any]:
    """The INT8 artifact judged twice on the val images: against the PyTorch QAT model it was made from (a lowering
    or export error) and against FP32 (``--min-agreement``). Returns the manifest's validation section, the
    agreements with FP32 and with the QAT model, and the FP32, INT8 and QAT-model accuracies."""
    from resnet_opt.runtime import runtime_name

    int8, n = build.int8_logits, int(build.int8_logits.shape[0])
    if not torch.isfinite(int8).all():
        raise ValidationError("the QAT INT8 model produces non-finite logits on the eval images")
    exp = agreement(qat_torch, int8)
    if exp["top1_agreement"] < MIN_EXPORT_AGREEMENT or exp["max_rel_diff"] > MAX_EXPORT_REL_DIFF:
        raise ValidationError(
            f"the INT8 {build.what} disagrees with the PyTorch QAT model it was made from (top-1 agreement "
            f"{exp['top1_agreement']:.1f}% < {MIN_EXPORT_AGREEMENT:g}% or max relative logit difference "
            f"{exp['max_rel_diff']:.3f} > {MAX_EXPORT_REL_DIFF:g})")
    agr = agreement(fp32_ref, int8)
    a32, a8, aq = (accuracy_from_logits(fp32_ref, y_eval), accuracy_from_logits(int8, y_eval),
                   accuracy_from_logits(qat_torch, y_eval))
    validation = {
        "reference": "PyTorch FP32 (source model, before QAT)",
        "runtime": runtime_name(KIND_OF_TARGET[cfg.target], "cpu"),  # what ran the INT8 model for these figures
        "eval": {"data": str(spec), "split": "val", "images": n},
        "top1_agreement": agr["top1_agreement"], "max_abs_diff": agr["max_abs_diff"],
        "max_rel_diff": agr["max_rel_diff"], "accuracy_meaningful": True, "min_agreement": cfg.min_agreement,
        "fp32_top1": a32.top1, "int8_top1": a8.top1, "top1_drop": a32.top1 - a8.top1,
        "fp32_top5": a32.top5, "int8_top5": a8.top5,
        "export_check": {"reference": "the PyTorch QAT model (converted PT2E graph run eagerly: "
                                      "quantize/dequantize simulated in FP32)",
                         "checked": build.what, "images": n,
                         "qat_torch_top1": aq.top1, "top1_agreement": exp["top1_agreement"],
                         "max_abs_diff": exp["max_abs_diff"], "max_rel_diff": exp["max_rel_diff"],
                         "min_agreement": MIN_EXPORT_AGREEMENT, "max_rel_diff_allowed": MAX_EXPORT_REL_DIFF},
    }
    if agr["top1_agreement"] < cfg.min_agreement:
        raise ValidationError(
            f"the QAT INT8 model agrees with FP32 on only {agr['top1_agreement']:.1f}% of "
            f"{n} val images (< --min-agreement {cfg.min_agreement:g}%)")
    return validation, agr, exp, a32, a8, aq


def onnx_qat_artifact(converted: torch.nn.Module, qpath: Path, x_eval: torch.Tensor, *, size: int, cfg: QatConfig,
                   threads: int, say: Callable[[str], None], fp32: torch.nn.Module, work: Path) -> Int8Build:
    """The converted graph as an ONNX QDQ file at ``qpath``, run on the eval images by onnxruntime; the FP32 model's
    ONNX export (BatchNorm fused, as the PTQ stage's) on the same runtime for the latency comparison."""
    import numpy as np

    from resnet_opt.export import export_onnx
    from resnet_opt.optimize import fuse_bn
    from resnet_opt.optimize.qat import export_qat_onnx
    from resnet_opt.optimize.quantize_onnx import ort_session, qdq_summary, run_onnx

    say("exporting the converted model to ONNX QDQ (learned scales as QuantizeLinear / DequantizeLinear) ...")
    rewrites: dict[str, Any] = {}
    export_qat_onnx(converted, qpath, input_size=size, opset=cfg.opset, report=rewrites)
    sess = ort_session(qpath, threads=threads)
    fp32_path = export_onnx(fuse_bn(fp32), work / "model_fp32.onnx", input_size=size, dynamic_batch=True)
    fp32_sess = ort_session(fp32_path, threads=threads)

    def extra_latency(xb: torch.Tensor) -> dict[str, Callable[[], Any]]:
        a = np.ascontiguousarray(xb.numpy())
        return {"fp32_onnx": lambda: fp32_sess.run(None, {"input": a})}

    def logits_of(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(run_onnx(sess, x.numpy()))

    def latency_fn(xb: torch.Tensor) -> Callable[[], Any]:
        a = xb.numpy()
        return lambda: sess.run(None, {"input": a})

    summary = qdq_summary(qpath)
    quant = {"format": "QDQ",
             "qdq_placement": "onnxruntime quantize_static's: every Conv output and each residual Add quantized "
                              "(annotation), ReLU folded into the QuantizeLinear after it (exact: uint8 zero "
                              "point 0), int32 biases",
             "graph_rewrites": rewrites,
             "scales": "learned during QAT (fake-quant observers), exported as QuantizeLinear/DequantizeLinear",
             "quantized_layers": summary["quantized_layers"], "fp32_layers": summary["fp32_layers"],
             "op_counts": summary["op_counts"], "onnx_opset": cfg.opset,
             "runtime_note": "run with onnxruntime graph optimizations enabled (ORT_ENABLE_ALL) so QDQ groups "
                             "become QLinearConv / QLinearAdd kernels"}
    return Int8Build(file=qpath, what="ONNX file (onnxruntime)", int8_logits=batched_logits(logits_of, x_eval),
                     latency_fn=latency_fn, quant=quant, extra_latency=extra_latency)


def pt2_qat_artifact(converted: torch.nn.Module, qpath: Path, x_eval: torch.Tensor, *, size: int, cfg: QatConfig,
                  threads: int, say: Callable[[str], None], fp32: torch.nn.Module, work: Path) -> Int8Build:
    """The converted graph compiled into an AOTInductor package at ``qpath`` (as ``quantize --target torch``)."""
    from resnet_opt.export.pt2_export import Pt2Settings, build_package, load_package, package_latency_fn
    from resnet_opt.optimize.qat import quantized_layer_count
    from resnet_opt.optimize.quantize_pt2e import torchao_version

    settings = Pt2Settings(device="cpu").validate()
    say(f"compiling the INT8 package (torch.export + AOTInductor, freezing; {settings.describe()}); "
        "this takes a while ...")
    info = build_package(converted, qpath, input_size=size, settings=settings)
    t0 = time.perf_counter()
    pkg = load_package(qpath, "cpu")
    info["load_ms"] = (time.perf_counter() - t0) * 1e3
    quant = {"format": "PT2E (torchao prepare_qat_pt2e / convert_pt2e, X86InductorQuantizer), AOTInductor .pt2 "
                       "package",
             "torchao": torchao_version(),
             "scales": "learned during QAT (fake-quant observers), kept in the converted PT2E graph; Inductor's "
                       "x86 passes lower each dequantize -> conv -> (add) -> relu -> quantize group to oneDNN "
                       "INT8 convolutions",
             "quantized_layers": quantized_layer_count(converted)}
    return Int8Build(file=qpath, what=".pt2 package (AOTInductor)", int8_logits=batched_logits(pkg, x_eval),
                     latency_fn=package_latency_fn(pkg), quant=quant, compile=info)
