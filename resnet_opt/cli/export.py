"""export commands: ``resnet-opt export onnx|torchscript ...`` and ``resnet-opt predict ARTIFACT IMAGE...``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.table import Table

from resnet_opt.cli.app import app
from resnet_opt.cli.common import (
    DepthOpt, JsonOpt, ModelDirOpt, NumClassesOpt, ThreadsOpt, WeightsOpt, console, handle_errors, path_or_none,
    err_console, set_threads, show_progress,
)
from resnet_opt.core.artifact import to_json

export_app = typer.Typer(
    name="export",
    help="Export a model to a validated ONNX, TorchScript or OpenVINO IR artifact folder (model file + manifest.json).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(export_app, name="export")

OutOpt = typer.Option(..., "--out", help="Artifact folder to write (model file + manifest.json); replaced atomically.")
InputSizeOpt = typer.Option(None, "--input-size", help="Square input size (default: the model folder's, the data spec's, else 224).")
DataOpt = typer.Option(None, "--data", help="Validate on real images: digits[:SIZE] or imagefolder:PATH (default: random inputs).")
PresetOpt = typer.Option(None, "--preset", help="ImageNet preprocessing preset for imagefolder: v1 or v2.")
CountOpt = typer.Option(16, "--count", help="Number of validation inputs.")
AtolOpt = typer.Option(None, "--atol", help="Absolute logit tolerance (default: 1e-3 fp32, 1e-2 fp16).")
RtolOpt = typer.Option(None, "--rtol", help="Tolerance relative to the largest logit (default: 1e-4 fp32, 1e-2 fp16).")
AgreeOpt = typer.Option(None, "--min-agreement", help="Minimum top-1 agreement with PyTorch, percent (default: 99 fp32, 90 fp16).")




def _print_export(res: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(to_json(res))
        return
    v = res["validation"]
    console.print(f"{res['kind']} {res['precision']} resnet{res['architecture']['depth']} "
                  f"input {res['input']['shape']} -> {res['out']}/{res['file']}")
    console.print(f"validated against PyTorch on {v['inputs']}: max abs diff {v['max_abs_diff']:.3g} "
                  f"(allowed {v['allowed_abs_diff']:.3g}), max rel diff {v['max_rel_diff']:.3g}, "
                  f"top-1 agreement {v['top1_agreement']:.1f}%, batch sizes {v['batch_sizes']}")


def _run_export(fmt: str, **kw: Any) -> dict[str, Any]:
    from resnet_opt.pipeline.export import export_artifact

    as_json = kw.pop("as_json")
    log = (lambda m: err_console.print(f"[dim]{m}[/dim]")) if show_progress() and not as_json else None
    return export_artifact(fmt, log=log, **kw)


@export_app.command("onnx")
@handle_errors
def export_onnx_cmd(
    out: Path = OutOpt,
    depth: Optional[str] = DepthOpt,
    weights: Optional[Path] = WeightsOpt,
    model: Optional[Path] = ModelDirOpt,
    num_classes: Optional[int] = NumClassesOpt,
    input_size: Optional[int] = InputSizeOpt,
    opset: int = typer.Option(17, "--opset", help="ONNX opset, 13..21."),
    static_batch: bool = typer.Option(False, "--static-batch", help="Fix the batch axis at 1 (default: dynamic 'batch' axis)."),
    fp16: bool = typer.Option(False, "--fp16", help="FP16 weights and compute, float32 input/output (for GPUs)."),
    data: Optional[str] = DataOpt,
    preset: Optional[str] = PresetOpt,
    count: int = CountOpt,
    atol: Optional[float] = AtolOpt,
    rtol: Optional[float] = RtolOpt,
    min_agreement: Optional[float] = AgreeOpt,
    provider: str = typer.Option("cpu", "--provider", help="onnxruntime provider used for validation: cpu, cuda, tensorrt."),
    threads: Optional[int] = ThreadsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Export to ONNX (input 'input', output 'logits'), validate with onnxruntime against PyTorch, write the folder."""
    set_threads(threads)
    res = _run_export("onnx", out=out, depth=depth, weights=path_or_none(weights), model_dir=path_or_none(model),
                      num_classes=num_classes, input_size=input_size, opset=opset, dynamic_batch=not static_batch,
                      fp16=fp16, data=data, preset=preset, count=count, atol=atol, rtol=rtol,
                      min_top1_agreement=min_agreement, provider=provider, as_json=as_json)
    _print_export(res, as_json)


@export_app.command("torchscript")
@handle_errors
def export_torchscript_cmd(
    out: Path = OutOpt,
    depth: Optional[str] = DepthOpt,
    weights: Optional[Path] = WeightsOpt,
    model: Optional[Path] = ModelDirOpt,
    num_classes: Optional[int] = NumClassesOpt,
    input_size: Optional[int] = InputSizeOpt,
    no_freeze: bool = typer.Option(False, "--no-freeze", help="Keep the traced module unfrozen."),
    optimize: str = typer.Option("auto", "--optimize", help="optimize_for_inference: auto (keep it when faster here), on, off."),
    fp16: bool = typer.Option(False, "--fp16", help="Not available for TorchScript (ONNX only)."),
    data: Optional[str] = DataOpt,
    preset: Optional[str] = PresetOpt,
    count: int = CountOpt,
    atol: Optional[float] = AtolOpt,
    rtol: Optional[float] = RtolOpt,
    min_agreement: Optional[float] = AgreeOpt,
    threads: Optional[int] = ThreadsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Export to TorchScript (trace + freeze), validate the saved file with torch.jit.load, write the folder."""
    from resnet_opt.core.errors import ConfigError

    set_threads(threads)
    opt_map = {"auto": "auto", "on": True, "off": False, "true": True, "false": False}
    if optimize.lower() not in opt_map:
        raise ConfigError(f"--optimize must be auto, on or off, got {optimize!r}")
    res = _run_export("torchscript", out=out, depth=depth, weights=path_or_none(weights), model_dir=path_or_none(model),
                      num_classes=num_classes, input_size=input_size, fp16=fp16, data=data, preset=preset, count=count,
                      atol=atol, rtol=rtol, min_top1_agreement=min_agreement, frozen=not no_freeze,
                      optimize=opt_map[optimize.lower()], as_json=as_json)
    _print_export(res, as_json)


@export_app.command("openvino")
@handle_errors
def export_openvino_cmd(
    out: Path = OutOpt,
    depth: Optional[str] = DepthOpt,
    weights: Optional[Path] = WeightsOpt,
    model: Optional[Path] = ModelDirOpt,
    num_classes: Optional[int] = NumClassesOpt,
    input_size: Optional[int] = InputSizeOpt,
    opset: int = typer.Option(17, "--opset", help="ONNX opset of the intermediate export, 13..21."),
    static_batch: bool = typer.Option(False, "--static-batch", help="Fix the batch axis at 1 (default: dynamic)."),
    precision: str = typer.Option("fp32", "--precision", help="fp32, or bf16 (CPUs with AVX512_BF16 or AMX only)."),
    data: Optional[str] = DataOpt,
    preset: Optional[str] = PresetOpt,
    count: int = CountOpt,
    atol: Optional[float] = AtolOpt,
    rtol: Optional[float] = RtolOpt,
    min_agreement: Optional[float] = AgreeOpt,
    threads: Optional[int] = ThreadsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Export to an OpenVINO IR (model.xml + model.bin; needs the openvino extra), validate it with OpenVINO's CPU
    plugin against PyTorch, write the folder."""
    from resnet_opt.core.errors import ConfigError

    set_threads(threads)
    hints = {"fp32": "f32", "f32": "f32", "bf16": "bf16"}
    if precision.lower() not in hints:
        raise ConfigError(f"--precision must be fp32 or bf16, got {precision!r}")
    res = _run_export("openvino", out=out, depth=depth, weights=path_or_none(weights), model_dir=path_or_none(model),
                      num_classes=num_classes, input_size=input_size, opset=opset, dynamic_batch=not static_batch,
                      data=data, preset=preset, count=count, atol=atol, rtol=rtol, min_top1_agreement=min_agreement,
                      inference_precision=hints[precision.lower()], as_json=as_json)
    _print_export(res, as_json)


@app.command("predict")
@handle_errors
def predict_cmd(
    artifact: Path = typer.Argument(..., help="An artifact folder (ONNX / TorchScript, with manifest.json) or a model folder."),
    images: List[Path] = typer.Argument(..., help="Image files."),
    top_k: int = typer.Option(5, "--top-k", help="Classes to show per image."),
    provider: str = typer.Option("cpu", "--provider", help="cpu, cuda, tensorrt, openvino or auto (auto falls back to cpu with a warning)."),
    threads: Optional[int] = ThreadsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Classify image files with an artifact, applying the preprocessing recorded in its manifest."""
    from resnet_opt.core.errors import ConfigError
    from resnet_opt.runtime import load

    set_threads(threads)
    if top_k < 1:
        raise ConfigError(f"--top-k must be at least 1, got {top_k}")
    pred = load(artifact, provider=provider, threads=threads)
    results = pred.predict([str(p) for p in images], top_k=top_k)
    if as_json:
        typer.echo(to_json({"artifact": str(artifact), **pred.describe(),
                            "predictions": [r.to_dict() for r in results]}))
        return
    where = pred.provider + (f" ({', '.join(f'{k}: {v} nodes' for k, v in pred.node_providers.items())})"
                             if pred.node_providers else "")
    t = Table(title=f"{pred.kind} {pred.precision} {artifact} on {where}")
    t.add_column("image", overflow="fold")
    t.add_column("top-1", justify="right")
    t.add_column("prob", justify="right")
    t.add_column(f"top-{min(top_k, pred.num_classes or top_k)}")
    for r in results:
        labels = r.names or [str(i) for i in r.indices]
        rest = ", ".join(f"{lab} {p:.3f}" for lab, p in zip(labels, r.probabilities))
        t.add_row(r.source, f"{labels[0]}", f"{r.probabilities[0]:.3f}", rest)
    console.print(t)
