"""Prune stage: model source -> structured pruning -> optional fine-tune (with distillation) -> a model folder.

The output is a normal model folder (config.json with per-conv widths + model.safetensors, no pickle) plus
manifest.json holding the before/after figures, so a pruned model flows into fuse, quantize and export like
any other model folder.
"""

from __future__ import annotations

import copy
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from resnet_opt.bench.timing import interleaved_latency_ms
from resnet_opt.core.artifact import atomic_dir
from resnet_opt.core.manifest import write_manifest
from resnet_opt.core.env import cpu_info, library_versions
from resnet_opt.core.errors import ConfigError, DataError, PruningError
from resnet_opt.data import build_loader, class_names_for, num_classes_for, parse_data_spec
from resnet_opt.engine import TrainConfig, distributed, evaluate
from resnet_opt.optimize.prune import IMPORTANCES, format_macs, parse_macs, prune, resolve_ignored_layers
from resnet_opt.resnet import ResNet, count_macs, count_params, load_model, load_source, read_config, save_model
from resnet_opt.resnet.io import WEIGHTS_NAME

__all__ = ["prune_model", "measure_latency_ms", "weights_bytes"]


def weights_bytes(model: ResNet) -> int:
    """Size on disk of the model's weights as our format stores them (safetensors)."""
    from safetensors.torch import save_file

    with tempfile.TemporaryDirectory(prefix="resnet-opt-size-") as d:
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


def _accuracy(model: nn.Module, spec, limit: int | None) -> dict[str, Any]:
    loader = build_loader(spec, "val", batch_size=256, limit=limit)
    return evaluate(model, loader).to_dict()


def prune_model(
    *,
    out: str | os.PathLike,
    depth: int | str | None = None,
    weights: str | os.PathLike | None = None,
    model_dir: str | os.PathLike | None = None,
    num_classes: int | None = None,
    ratio: float | None = None,
    target_macs: int | float | str | None = None,
    importance: str = "l2",
    global_pruning: bool = False,
    round_to: int | None = 8,
    iterative_steps: int = 1,
    ignored_layers: Sequence[str] | None = None,
    data: str | None = None,
    preset: str | None = None,
    finetune_epochs: int = 0,
    distill: bool = False,
    lr: float | None = None,
    batch_size: int = 64,
    train_limit: int | None = None,
    eval_limit: int | None = None,
    seed: int = 0,
    device: str = "auto",
    input_size: int | None = None,
    latency_runs: int = 20,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Prune a model (``depth`` / ``weights`` / ``model_dir``), optionally fine-tune it on ``data`` for
    ``finetune_epochs`` (``distill``: knowledge distillation from the unpruned model), and save it to ``out``.

    Returns a summary with ``before`` / ``after`` figures (parameters, MACs, weights size, batch-1 CPU latency,
    top-1/top-5 on ``data`` when labelled), the :class:`~resnet_opt.optimize.PruneResult` and the fine-tune run.
    The fine-tuned model kept is the last epoch's (no checkpoint picked on the evaluation split)."""
    t_start = time.perf_counter()
    say = log or (lambda _m: None)
    # ---- arguments first: fail before any slow work
    if (ratio is None) == (target_macs is None):
        raise ConfigError("give exactly one of --ratio or --target-macs")
    if ratio is not None and not (0.0 < float(ratio) < 1.0):
        raise ConfigError(f"--ratio must be strictly between 0 and 1, got {ratio}")
    target = parse_macs(target_macs) if target_macs is not None else None
    if str(importance).strip().lower() not in IMPORTANCES:
        raise ConfigError(f"unknown importance {importance!r}; valid: {', '.join(IMPORTANCES)}")
    if finetune_epochs < 0:
        raise ConfigError(f"--finetune-epochs must be 0 or more, got {finetune_epochs}")
    if finetune_epochs > 0 and data is None:
        raise ConfigError("--finetune-epochs needs labelled --data (digits or imagefolder:PATH)")
    if distill and finetune_epochs == 0:
        raise ConfigError("--distill needs --finetune-epochs N (it distils the unpruned model during fine-tuning)")
    if latency_runs < 1:
        raise ConfigError(f"latency runs must be at least 1, got {latency_runs}")
    if not isinstance(iterative_steps, int) or iterative_steps < 1:
        raise ConfigError(f"--iterative-steps must be at least 1, got {iterative_steps}")
    if round_to is not None and round_to < 1:
        raise ConfigError(f"--round-to must be at least 1, got {round_to}")
    spec = parse_data_spec(data, preset=preset) if data is not None else None
    if spec is not None and finetune_epochs > 0 and not spec.labelled:
        raise DataError(f"data spec {spec} has no labels; fine-tuning needs labelled data (digits or imagefolder:PATH)")

    src = load_source(depth=depth, weights=weights, model_dir=model_dir, num_classes=num_classes, input_size=input_size)
    base = src.model.eval()
    size = int(src.input_size)
    resolve_ignored_layers(base, ignored_layers)  # unknown names -> one clear error, before measuring anything
    macs_before = count_macs(base, size)
    if target is not None and target >= macs_before:
        raise ConfigError(f"--target-macs {format_macs(target)} is not below the model's {format_macs(macs_before)} "
                          f"at {size}×{size}")
    labelled = spec is not None and spec.labelled
    class_names = src.class_names
    if spec is not None and labelled:
        n_data = num_classes_for(spec)
        if n_data is not None and n_data != base.arch.num_classes:
            raise DataError(f"the model predicts {base.arch.num_classes} classes but {spec} has {n_data}")
        class_names = class_names or class_names_for(spec)

    # ---- before
    say(f"source {src.kind} {base.arch.name} at {size}×{size}: {format_macs(macs_before)} MACs")
    before: dict[str, Any] = {"parameters": count_params(base), "macs": macs_before, "size_bytes": weights_bytes(base)}
    if labelled:
        before.update({k: v for k, v in _accuracy(base, spec, eval_limit).items()})

    # ---- prune
    taylor_data = None
    if str(importance).lower() == "taylor" and labelled:
        taylor_data = build_loader(spec, "train", batch_size=32, shuffle=True, seed=seed, limit=train_limit)
    pruned, result = prune(base, torch.randn(1, 3, size, size), ratio=ratio, target_macs=target,
                           importance=importance, global_pruning=global_pruning, round_to=round_to,
                           iterative_steps=iterative_steps, ignored_layers=ignored_layers, data=taylor_data,
                           log=say if target is not None else None)
    say(f"pruned: {format_macs(result.macs_before)} -> {format_macs(result.macs_after)} MACs "
        f"({result.macs_reduction:.2f}x fewer) in {result.seconds:.1f}s")

    # ---- fine-tune
    finetune: dict[str, Any] | None = None
    if finetune_epochs > 0:
        from resnet_opt.pipeline.train import train_model

        pruned_acc = _accuracy(pruned, spec, eval_limit)
        cfg = TrainConfig(epochs=finetune_epochs, batch_size=batch_size, lr=lr, seed=seed, device=device,
                          warmup_epochs=min(1.0, finetune_epochs / 5))
        teacher = copy.deepcopy(base).eval() if distill else None
        with tempfile.TemporaryDirectory(prefix="resnet-opt-finetune-") as run_dir:
            res = train_model(model=pruned, data=str(spec), preset=preset, out=Path(run_dir) / "run", config=cfg,
                              limit=train_limit, teacher=teacher, progress=progress, log=log)
        pruned = pruned.to("cpu").eval()  # the last epoch's weights
        finetune = {"epochs": finetune_epochs, "distill": bool(distill), "data": str(spec), "train_limit": train_limit,
                    "lr": cfg.resolved_lr(), "batch_size": batch_size, "seed": seed,
                    "top1_before_finetune": pruned_acc["top1"], "top5_before_finetune": pruned_acc["top5"],
                    "best_val_top1": res["best_top1"], "best_epoch": res["best_epoch"], "kept": "last epoch",
                    "seconds": res["seconds"], "history": res["history"]}
        if distill:
            finetune.update(distill_temperature=cfg.distill_temperature, distill_alpha=cfg.distill_alpha)

    if distributed.env_rank() != 0:
        return {"out": str(out), "rank": distributed.env_rank()}  # under torchrun rank 0 alone measures and writes

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
    # the data spec the model is for (used by later stages, e.g. quantize calibration): the one given, else the
    # source folder's
    data_for = str(spec) if labelled else (read_config(model_dir).get("data") if model_dir is not None else None)
    with atomic_dir(out) as tmp:
        save_model(pruned, tmp, input_size=size, preprocessing=src.preprocessing, class_names=class_names,
                   extra={"stage": "prune", "pruning": {k: pruning[k] for k in ("mode", "ratio", "target_macs",
                          "importance", "global_pruning", "round_to", "iterative_steps", "ignored_layers",
                          "macs_before", "macs_after")}, "source": src.describe(),
                          **({"data": data_for} if data_for else {})}, in_place=True)
        after["size_bytes"] = (tmp / WEIGHTS_NAME).stat().st_size
        reloaded = load_model(tmp)
        with torch.no_grad():
            x = torch.randn(2, 3, size, size)
            if not torch.equal(reloaded(x), pruned.eval()(x)):
                raise PruningError("the saved pruned model does not reload to identical outputs")
        summary = {
            "kind": "model", "file": WEIGHTS_NAME, "precision": "fp32", "stage": "prune",
            "source": src.describe(),
            "architecture": {"depth": pruned.arch.depth, "num_classes": pruned.arch.num_classes,
                             "widths": dict(pruned.arch.widths)},
            "input": {"name": "input", "shape": [-1, 3, size, size], "dtype": "float32"},
            "output": {"name": "logits", "shape": [-1, pruned.arch.num_classes]},
            "preprocessing": src.preprocessing, "class_names": class_names,
            "pruning": pruning, "finetune": finetune,
            "validation": {"reload_identical": True},
            "measurements": {"before": before, "after": after, "input_size": size, "threads": threads,
                             "latency_runs": latency_runs, "data": str(spec) if spec else None,
                             "eval_limit": eval_limit},
            "versions": library_versions(), "cpu": cpu_info(),
        }
        write_manifest(tmp, summary)
    say(f"saved {out} ({time.perf_counter() - t_start:.1f}s)")
    return {"out": str(out), "input_size": size, "threads": threads, "data": str(spec) if spec else None,
            "before": before, "after": after, "pruning": pruning, "finetune": finetune, "source": src.describe(),
            "seconds": time.perf_counter() - t_start}
