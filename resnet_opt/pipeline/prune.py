"""Prune stage: model source -> structured pruning -> optional fine-tune (with distillation) -> a model folder.

The output is a normal model folder (config.json with per-conv widths + model.safetensors, no pickle) plus
manifest.json holding the before/after figures, so a pruned model flows into fuse, quantize and export like
any other model folder.
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from resnet_opt.engine.timing import interleaved_latency_ms, median_ms
from resnet_opt.core.artifact import atomic_dir, work_dir
from resnet_opt.core.manifest import Architecture, Manifest, write_manifest
from resnet_opt.core.env import cpu_info, library_versions
from resnet_opt.core.errors import ConfigError, DataError, PruningError
from resnet_opt.core.results import StageResult
from resnet_opt.data import build_loader, class_names_for, num_classes_for, parse_data_spec
from resnet_opt.engine import TrainConfig, distributed, evaluate
from resnet_opt.optimize.prune import IMPORTANCES, format_macs, parse_macs, prune, resolve_ignored_layers
from resnet_opt.resnet import ModelSpec, ResNet, count_macs, count_params, load_model, save_model
from resnet_opt.resnet.io import WEIGHTS_NAME

__all__ = [
    "PruneConfig",
    "PruneStageResult",
    "prune_model",
    "measure_latency_ms",
    "weights_bytes",
    "deployed_latency_ms",
    "resolve_round_to",
    "search_target_latency",
]


def weights_bytes(model: ResNet) -> int:
    """Size on disk of the model's weights as our format stores them (safetensors)."""
    from safetensors.torch import save_file

    with work_dir("size") as d:
        p = Path(d) / WEIGHTS_NAME
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(p),
                  metadata={"format": "pt"})
        return p.stat().st_size


def measure_latency_ms(models: Sequence[nn.Module], input_size: int, *, runs: int = 20, warmup: int = 3,
                       batch: int = 1) -> list[float]:
    """Median batch-``batch`` CPU latency (ms) of each model in torch eager, measured interleaved in one process."""
    if runs < 1:
        raise ConfigError(f"latency runs must be at least 1, got {runs}")
    ms = [m.eval().to("cpu") for m in models]
    x = torch.randn(batch, 3, input_size, input_size)

    def call(m: nn.Module):
        def run() -> None:
            with torch.inference_mode():
                m(x)
        return run

    return interleaved_latency_ms([call(m) for m in ms], runs=runs, warmup=warmup)


def deployed_latency_ms(model: nn.Module, input_size: int, *, runtime: str = "onnxruntime", precision: str = "int8",
                        threads: int | None = None, runs: int = 10, batch: int = 1) -> float:
    """Median batch-``batch`` latency (ms) of ``model`` as it would be deployed: torch eager FP32, or exported to
    ONNX and run with onnxruntime or OpenVINO in FP32 or as INT8 QDQ (quantized with random calibration inputs:
    latency does not depend on the calibration, accuracy is not measured here)."""
    from resnet_opt.optimize.hardware import check_target

    runtime, precision = check_target(runtime, precision)
    if runs < 1:
        raise ConfigError(f"latency runs must be at least 1, got {runs}")
    if runtime == "torch":
        return measure_latency_ms([model], input_size, runs=runs, warmup=2, batch=batch)[0]
    import numpy as np

    from resnet_opt.export import export_onnx
    from resnet_opt.optimize.quantize_onnx import ImageDataReader, OnnxQuantConfig, ort_session, quantize_onnx

    with work_dir("lat") as d:
        path = export_onnx(copy.deepcopy(model).eval(), Path(d) / "fp32.onnx", input_size=input_size)
        if precision == "int8":
            g = torch.Generator().manual_seed(0)
            calib = ImageDataReader([torch.randn(4, 3, input_size, input_size, generator=g)])
            path = quantize_onnx(path, Path(d) / "int8.onnx", calib, OnnxQuantConfig(method="minmax"),
                                 workdir=Path(d)).path
        x = np.random.default_rng(0).standard_normal((batch, 3, input_size, input_size)).astype(np.float32)
        if runtime == "openvino":  # the file as the openvino-cpu backend runs it: static batch, latency hint
            from resnet_opt.engine.openvino_session import compile_model

            req = compile_model(path, threads=threads, batch=batch)[0].create_infer_request()
            return median_ms(lambda: req.infer({0: x}), runs, warmup=2)
        sess = ort_session(path, threads=threads)
        name = sess.get_inputs()[0].name
        return median_ms(lambda: sess.run(None, {name: x}), runs, warmup=2)


def resolve_round_to(round_to: int | str | None, model: ResNet, input_size: int, *, runtime: str, precision: str,
                     threads: int | None) -> tuple[int | None, dict[str, Any] | None]:
    """``"auto"`` -> the channel multiple measured fastest on the target (optimize/hardware.py), capped at half the
    narrowest prunable width so every layer can still lose channels; an int (or None) is used as given. The value
    is the one :meth:`PruneConfig.validate` parsed (an int, None or ``"auto"``)."""
    if round_to is None or isinstance(round_to, int):
        return round_to, None
    if round_to != "auto":
        raise ConfigError(f"--round-to must be a positive integer or auto, got {round_to!r}")
    from resnet_opt.optimize.hardware import CANDIDATES, choose_round_to
    from resnet_opt.resnet import conv_widths

    narrowest = min(conv_widths(model).values())
    cands = tuple(c for c in CANDIDATES if c <= max(narrowest // 2, CANDIDATES[0]))
    spatial = int(min(max(input_size // 16, 4), 28))
    choice = choose_round_to(runtime, precision, spatial=spatial, threads=threads, candidates=cands)
    return choice.round_to, choice.to_dict()


def search_target_latency(prune_at: Callable[[float], nn.Module], measure: Callable[[nn.Module], float],
                          target_ms: float, *, max_ratio: float = 0.9, steps: int = 6,
                          log: Callable[[str], None] | None = None) -> tuple[float, list[dict[str, float]]]:
    """Bisection on the channel ratio for the smallest ratio whose measured latency meets ``target_ms``.

    ``prune_at(r)`` prunes at ratio r; ``measure(model)`` times it on the target. Returns (ratio, trials). Raises
    PruningError when even ``max_ratio`` does not meet the target."""
    trials: list[dict[str, float]] = []

    def trial(r: float) -> float:
        ms = measure(prune_at(r))
        trials.append({"ratio": r, "latency_ms": ms})
        if log:
            log(f"ratio {r:.3f}: {ms:.2f} ms (target {target_ms:.2f} ms)")
        return ms

    if trial(max_ratio) > target_ms:
        raise PruningError(f"even pruning {max_ratio:.0%} of the channels gives {trials[-1]['latency_ms']:.2f} ms, "
                           f"above the target {target_ms:.2f} ms on this CPU")
    lo, hi = 0.0, max_ratio  # latency(lo) > target (checked by the caller), latency(hi) <= target
    for _ in range(steps):
        mid = round((lo + hi) / 2, 4)
        if trial(mid) <= target_ms:
            hi = mid
        else:
            lo = mid
    return hi, trials


def _accuracy(model: nn.Module, spec, limit: int | None) -> dict[str, Any]:
    loader = build_loader(spec, "val", batch_size=256, limit=limit)
    return evaluate(model, loader).to_dict()


@dataclass
class PruneConfig:
    """The prune stage's settings, each checked once in :meth:`validate` before the model is loaded."""

    out: str | os.PathLike
    source: ModelSpec = field(default_factory=ModelSpec)
    ratio: float | None = None
    target_macs: int | float | str | None = None
    importance: str = "l2"
    global_pruning: bool = False
    ignored_layers: Sequence[str] | None = None
    round_to: int | str | None = 8  # a multiple, or "auto" (measured on this CPU for the target runtime/precision)
    target_latency_ms: float | None = None
    target_speedup: float | None = None  # prune until this many times faster than unpruned (measured like the latency)
    target_runtime: str = "onnxruntime"
    target_precision: str = "int8"
    iterative_steps: int = 1
    data: str | None = None
    preset: str | None = None
    finetune_epochs: int = 0
    distill: bool = False
    lr: float | None = None
    batch_size: int = 64
    train_limit: int | None = None
    eval_limit: int | None = None
    seed: int = 0
    device: str = "auto"
    input_size: int | None = None
    latency_runs: int = 20
    overwrite: bool = True  # the library replaces a previous resnet-opt folder; the CLI asks for --overwrite

    def validate(self) -> None:
        from resnet_opt.core.artifact import check_output_dir
        from resnet_opt.core.checks import (
            MAX_COUNT, MAX_EPOCHS, check_batch_size, check_float, check_input_size, check_int,
        )
        if sum(x is not None for x in (self.ratio, self.target_macs, self.target_latency_ms, self.target_speedup)) != 1:
            raise ConfigError("give exactly one of --ratio, --target-macs, --target-latency-ms or --target-speedup")
        if self.target_latency_ms is not None:
            check_float("--target-latency-ms", self.target_latency_ms, 0.0, 1e6, lo_open=True)
        if self.target_speedup is not None:
            check_float("--target-speedup", self.target_speedup, 1.0, 1000.0, lo_open=True)
        from resnet_opt.optimize.hardware import check_round_to_auto, check_target

        self.target_runtime, self.target_precision = check_target(self.target_runtime, self.target_precision)
        if isinstance(self.round_to, str):
            if self.round_to.strip().lower() == "auto":
                self.round_to = "auto"
                check_round_to_auto(self.target_runtime)
            else:
                try:
                    self.round_to = int(self.round_to)
                except ValueError:
                    raise ConfigError(f"--round-to must be a positive integer or auto, got {self.round_to!r}") from None
        if self.ratio is not None:
            check_float("--ratio", self.ratio, 0.0, 1.0, lo_open=True, hi_open=True)
        if self.target_macs is not None:
            parse_macs(self.target_macs)
        if str(self.importance).strip().lower() not in IMPORTANCES:
            raise ConfigError(f"unknown importance {self.importance!r}; valid: {', '.join(IMPORTANCES)}")
        check_int("--finetune-epochs", self.finetune_epochs, 0, MAX_EPOCHS)
        if self.finetune_epochs > 0 and self.data is None:
            raise ConfigError("--finetune-epochs needs labelled --data (digits, fashion-mnist or imagefolder:PATH)")
        if self.distill and self.finetune_epochs == 0:
            raise ConfigError("--distill needs --finetune-epochs N (it distils the unpruned model during fine-tuning)")
        check_int("--latency-runs", self.latency_runs, 1, 100_000)
        check_int("--iterative-steps", self.iterative_steps, 1, 1000)
        if self.round_to != "auto":
            check_int("--round-to", self.round_to, 1, 4096, optional=True)
        check_float("--lr", self.lr, 0.0, 10.0, lo_open=True, optional=True)
        check_batch_size(self.batch_size)
        check_int("--limit", self.train_limit, 1, MAX_COUNT, optional=True)
        check_int("--eval-limit", self.eval_limit, 1, MAX_COUNT, optional=True)
        check_int("--seed", self.seed, 0, 2**32 - 1)
        check_input_size(self.input_size)
        if self.finetune_epochs > 0:
            TrainConfig(epochs=self.finetune_epochs, batch_size=self.batch_size, lr=self.lr, seed=self.seed,
                        device=self.device).validate()
        else:
            from resnet_opt.core.checks import check_device

            check_device(self.device)
        spec = parse_data_spec(self.data, preset=self.preset) if self.data is not None else None
        if str(self.importance).strip().lower() == "taylor" and (spec is None or not spec.labelled):
            raise ConfigError("--importance taylor ranks channels by loss gradients: it needs labelled --data "
                              "(digits, fashion-mnist or imagefolder:PATH)")
        if spec is not None:
            if self.finetune_epochs > 0 and not spec.labelled:
                raise DataError(f"data spec {spec} has no labels; fine-tuning needs labelled data (digits or "
                                "imagefolder:PATH)")
        self.source.validate()
        check_output_dir(self.out, overwrite=self.overwrite)


@dataclass
class PruneStageResult(StageResult):
    """The pruned model folder and its figures before / after (parameters, MACs, weights size, batch-1 CPU latency,
    top-1/top-5 on labelled data), the pruning record and the fine-tune run. Under torchrun only rank 0 measures and
    writes: the other ranks return ``out`` and their ``rank`` alone."""

    out: Path
    rank: int = 0
    input_size: int | None = None
    threads: int | None = None
    data: str | None = None
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    pruning: dict[str, Any] = field(default_factory=dict)
    finetune: dict[str, Any] | None = None
    source: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def _latency_target(cfg: PruneConfig, base: nn.Module, size: int, round_to: int | None, taylor_data: Any,
                    threads_now: int, say: Callable[[str], None]) -> tuple[float, dict[str, Any]]:
    """The ratio that meets ``--target-latency-ms`` (or ``--target-speedup``) on the target runtime, found by
    measuring pruned candidates on this CPU: (ratio, the search's record for the manifest)."""
    target_runtime, target_precision, latency_runs = cfg.target_runtime, cfg.target_precision, cfg.latency_runs
    target_latency_ms = cfg.target_latency_ms
    importance, global_pruning, iterative_steps = cfg.importance, cfg.global_pruning, cfg.iterative_steps
    ignored_layers = cfg.ignored_layers

    def measure(m: nn.Module) -> float:
        return deployed_latency_ms(m, size, runtime=target_runtime, precision=target_precision,
                                   threads=threads_now, runs=latency_runs)

    base_ms = measure(base)
    if cfg.target_speedup is not None:  # the same target on any CPU: a share of what this one measured
        target_latency_ms = base_ms / cfg.target_speedup
    say(f"unpruned: {base_ms:.2f} ms on {target_runtime} {target_precision} (target {target_latency_ms:.2f} ms)")
    if base_ms <= target_latency_ms:
        raise ConfigError(f"the unpruned model already runs in {base_ms:.2f} ms on {target_runtime} "
                          f"{target_precision}, within --target-latency-ms {target_latency_ms:g}: nothing to prune")

    def prune_at(r: float) -> nn.Module:
        return prune(base, torch.randn(1, 3, size, size), ratio=r, importance=importance,
                     global_pruning=global_pruning, round_to=round_to, iterative_steps=iterative_steps,
                     ignored_layers=ignored_layers, data=taylor_data)[0]

    ratio, trials = search_target_latency(prune_at, measure, float(target_latency_ms), log=say)
    latency_search = {"target_ms": float(target_latency_ms), "runtime": target_runtime,
                      "precision": target_precision, "unpruned_ms": base_ms, "ratio": ratio, "trials": trials,
                      "threads": threads_now, "runs": latency_runs, "target_speedup": cfg.target_speedup}
    say(f"ratio {ratio:.3f} meets {target_latency_ms:g} ms on {target_runtime} {target_precision}")
    return ratio, latency_search


def _finetune(cfg: PruneConfig, pruned: nn.Module, base: nn.Module, spec: Any, progress: bool,
              log: Callable[[str], None] | None,
              on_epoch: Callable[[Any], Any] | None) -> tuple[nn.Module, dict[str, Any]]:
    """Fine-tune the pruned model on ``spec`` (``distill``: from the unpruned model): (the last epoch's model, the
    manifest's finetune record)."""
    finetune_epochs, distill, seed, train_limit, eval_limit, preset = (cfg.finetune_epochs, cfg.distill, cfg.seed,
                                                                       cfg.train_limit, cfg.eval_limit, cfg.preset)
    from resnet_opt.pipeline.train import TrainStageConfig, train_model

    pruned_acc = _accuracy(pruned, spec, eval_limit)
    tcfg = TrainConfig(epochs=finetune_epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=seed, device=cfg.device,
                       warmup_epochs=min(1.0, finetune_epochs / 5))
    teacher = copy.deepcopy(base).eval() if distill else None
    with work_dir("finetune") as run_dir:
        res = train_model(TrainStageConfig(out=Path(run_dir) / "run", data=str(spec), preset=preset,
                                           limit=train_limit, train=tcfg),
                          model=pruned, teacher=teacher, progress=progress, log=log, on_epoch=on_epoch)
    pruned = pruned.to("cpu").eval()  # the last epoch's weights
    finetune = {"epochs": finetune_epochs, "distill": bool(distill), "data": str(spec), "train_limit": train_limit,
                "lr": tcfg.resolved_lr(), "batch_size": cfg.batch_size, "seed": seed,
                "top1_before_finetune": pruned_acc["top1"], "top5_before_finetune": pruned_acc["top5"],
                "best_val_top1": res.best_top1, "best_epoch": res.best_epoch, "kept": "last epoch",
                "seconds": res.seconds, "history": res.history}
    if distill:
        finetune.update(distill_temperature=tcfg.distill_temperature, distill_alpha=tcfg.distill_alpha)
    return pruned, finetune


def _save_pruned(out: Path, pruned: nn.Module, src: Any, spec: Any, labelled: bool, size: int,
                 class_names: list[str] | None, pruning: dict[str, Any], finetune: dict[str, Any] | None,
                 before: dict[str, Any], after: dict[str, Any], threads: int, cfg: PruneConfig) -> None:
    """The pruned model folder, written atomically, with its manifest; checked to reload to identical outputs."""
    # the data spec the model is for (used by later stages, e.g. quantize calibration): the one given, else the
    # source folder's
    data_for = str(spec) if labelled else (src.config or {}).get("data")
    with atomic_dir(out) as tmp:
        save_model(pruned, tmp, input_size=size, preprocessing=src.preprocessing, class_names=class_names,
                   extra={"stage": "prune", "pruning": {k: pruning[k] for k in ("mode", "ratio", "target_macs",
                          "importance", "global_pruning", "round_to", "iterative_steps", "ignored_layers",
                          "macs_before", "macs_after", "hardware")}, "source": src.describe(),
                          **({"data": data_for} if data_for else {})}, in_place=True)
        after["size_bytes"] = (tmp / WEIGHTS_NAME).stat().st_size
        reloaded = load_model(tmp)
        with torch.no_grad():
            x = torch.randn(2, 3, size, size)
            if not torch.equal(reloaded(x), pruned.eval()(x)):
                raise PruningError("the saved pruned model does not reload to identical outputs")
        summary = Manifest.for_model_folder(
            stage="prune", source=src.manifest_source(),
            architecture=Architecture.of_model(pruned, widths=dict(pruned.arch.widths)), input_size=size,
            preprocessing=src.preprocessing, class_names=class_names,
            sections={"pruning": pruning, "finetune": finetune}, validation={"reload_identical": True},
            measurements={"before": before, "after": after, "input_size": size, "threads": threads,
                          "latency_runs": cfg.latency_runs, "data": str(spec) if spec else None,
                          "eval_limit": cfg.eval_limit},
            versions=library_versions(), cpu=cpu_info())
        write_manifest(tmp, summary)


def _labels(spec: Any, base: nn.Module, class_names: list[str] | None) -> tuple[bool, list[str] | None]:
    """(whether ``spec`` is labelled, the class names): a labelled spec must have the model's class count."""
    if spec is None or not spec.labelled:
        return False, class_names
    n_data = num_classes_for(spec)
    if n_data is not None and n_data != base.arch.num_classes:
        raise DataError(f"the model predicts {base.arch.num_classes} classes but {spec} has {n_data}")
    return True, class_names or class_names_for(spec)


def prune_model(config: PruneConfig, *, progress: bool = False, log: Callable[[str], None] | None = None,
                on_epoch: Callable[[Any], Any] | None = None) -> PruneStageResult:
    """Prune the model of ``config.source``, optionally fine-tune it on ``data`` for ``finetune_epochs``
    (``distill``: knowledge distillation from the unpruned model), and save it to ``config.out``.

    The fine-tuned model kept is the LAST epoch's, unlike ``train``, which keeps the best epoch by val top-1: the
    pruned model's accuracy is then not picked on the split it is reported on. ``finetune["best_val_top1"]`` /
    ``["best_epoch"]`` say what the best epoch reached. Progress: ``progress`` (bars), ``log`` (lines) and
    ``on_epoch`` (each fine-tune :class:`~resnet_opt.engine.train.EpochRecord`), as in ``train``."""
    t_start = time.perf_counter()
    say = log or (lambda _m: None)
    # ---- arguments first: fail before any slow work
    cfg = config
    cfg.validate()
    out, model_dir, data, preset, ratio = cfg.out, cfg.source.model_dir, cfg.data, cfg.preset, cfg.ratio
    importance, global_pruning, iterative_steps = cfg.importance, cfg.global_pruning, cfg.iterative_steps
    ignored_layers, target_latency_ms, latency_runs = cfg.ignored_layers, cfg.target_latency_ms, cfg.latency_runs
    finetune_epochs, seed, train_limit, eval_limit = cfg.finetune_epochs, cfg.seed, cfg.train_limit, cfg.eval_limit
    target_runtime, target_precision = cfg.target_runtime, cfg.target_precision
    round_to = None if cfg.round_to == 1 else cfg.round_to
    target = parse_macs(cfg.target_macs) if cfg.target_macs is not None else None
    spec = parse_data_spec(data, preset=preset) if data is not None else None
    if spec is not None and model_dir is not None:  # the model has its own input size: the data must match it
        from resnet_opt.data import fit_data_to_model

        spec = fit_data_to_model(spec, int((cfg.source.model_config() or {}).get("input_size") or 224),
                                 f"the model {model_dir}")

    src = cfg.source.load(input_size=cfg.input_size)
    base = src.model.eval()
    size = int(src.input_size)
    resolve_ignored_layers(base, ignored_layers)  # unknown names -> one clear error, before measuring anything
    macs_before = count_macs(base, size)
    if target is not None and target >= macs_before:
        raise ConfigError(f"--target-macs {format_macs(target)} is not below the model's {format_macs(macs_before)} "
                          f"at {size}×{size}")
    labelled, class_names = _labels(spec, base, src.class_names)

    # ---- before
    say(f"pruning {base.arch.name} from {src.label} at {size}×{size}: {format_macs(macs_before)} MACs")
    before: dict[str, Any] = {"parameters": count_params(base), "macs": macs_before, "size_bytes": weights_bytes(base)}
    if labelled:
        before.update({k: v for k, v in _accuracy(base, spec, eval_limit).items()})

    # ---- hardware-aware settings: channel multiple from kernel timings, ratio from the measured target latency
    threads_now = torch.get_num_threads()
    round_to, round_to_info = resolve_round_to(round_to, base, size, runtime=target_runtime,
                                               precision=target_precision, threads=threads_now)
    if round_to_info:
        say(f"round_to auto: {round_to} (3x3 conv throughput on {target_runtime} {target_precision}: " + ", ".join(
            f"x{t['multiple']} {t['gmacs_per_s']:.1f} GMAC/s" for t in round_to_info["timings"]) + ")")
    taylor_data = None
    if str(importance).lower() == "taylor" and labelled:
        taylor_data = build_loader(spec, "train", batch_size=32, shuffle=True, seed=seed, limit=train_limit)
    latency_search: dict[str, Any] | None = None
    if target_latency_ms is not None or cfg.target_speedup is not None:
        ratio, latency_search = _latency_target(cfg, base, size, round_to, taylor_data, threads_now, say)
    pruned, result = prune(base, torch.randn(1, 3, size, size), ratio=ratio, target_macs=target,
                           importance=importance, global_pruning=global_pruning, round_to=round_to,
                           iterative_steps=iterative_steps, ignored_layers=ignored_layers, data=taylor_data,
                           log=say if target is not None else None)
    say(f"pruned: {format_macs(result.macs_before)} -> {format_macs(result.macs_after)} MACs "
        f"({result.macs_reduction:.2f}x fewer) in {result.seconds:.1f}s")

    # ---- fine-tune
    finetune: dict[str, Any] | None = None
    if finetune_epochs > 0:
        pruned, finetune = _finetune(cfg, pruned, base, spec, progress, log, on_epoch)

    if distributed.env_rank() != 0:  # under torchrun rank 0 alone measures and writes
        return PruneStageResult(out=Path(out), rank=distributed.env_rank())

    # ---- after
    after: dict[str, Any] = {"parameters": count_params(pruned), "macs": count_macs(pruned, size)}
    if labelled:
        after.update(_accuracy(pruned, spec, eval_limit))
    threads = torch.get_num_threads()
    say(f"measuring batch-1 latency ({latency_runs} runs, {threads} thread(s))")
    lat_before, lat_after = measure_latency_ms([base, pruned], size, runs=latency_runs)
    before["latency_ms"], after["latency_ms"] = lat_before, lat_after

    # ---- save (atomic): model folder + manifest
    out = Path(out)
    pruning = result.to_dict()
    pruning["hardware"] = {"round_to_auto": round_to_info, "target_latency": latency_search}
    if latency_search is not None:
        after["deployed_latency_ms"] = ms = deployed_latency_ms(pruned, size, runtime=target_runtime,
                                                                precision=target_precision, threads=threads_now,
                                                                runs=latency_runs)
        pruning["mode"] = "target_latency"
        target_ms = latency_search["target_ms"]
        latency_search.update(remeasured_ms=ms, met_when_remeasured=ms <= target_ms)
        if ms > target_ms:  # the search met it once; the saved model, timed again, does not: say so
            say(f"warning: timed again, the saved model runs in {ms:.2f} ms on {target_runtime} {target_precision}, "
                f"above the {target_ms:.2f} ms target the search measured it within: latencies this small vary "
                f"from run to run on this CPU (raise --latency-runs, or ask for a larger speed-up)")
    _save_pruned(out, pruned, src, spec, labelled, size, class_names, pruning, finetune, before, after,
                 threads, cfg)
    return PruneStageResult(out=out, input_size=size, threads=threads, data=str(spec) if spec else None,
                            before=before, after=after, pruning=pruning, finetune=finetune, source=src.describe(),
                            seconds=time.perf_counter() - t_start)
