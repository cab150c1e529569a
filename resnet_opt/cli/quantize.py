"""quantize command: static INT8 post-training quantization, measured against FP32."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from resnet_opt.cli.app import app
from resnet_opt.cli.choices import ActivationType, QuantizeTarget, choice_option
from resnet_opt.cli.common import (
    DepthOpt, JsonOpt, NumClassesOpt, OverwriteOpt, ThreadsOpt, WeightsOpt, console, handle_errors, model_spec,
    parse_auto_on_off, print_result, set_threads, show_progress, speed_change,
)
from resnet_opt.core.artifact import to_json


def _ms(v: float) -> str:
    return f"{v:.2f} ms" if v < 10 else f"{v:.1f} ms"


def latency_headline(res: Any) -> str:
    """The batch-1 latency line of a quantize result: INT8 against FP32 on the same runtime first (what INT8 itself
    gains), then against FP32 torch eager (runtime and INT8 together) beside it."""
    lat = res.latency_ms
    int8, eager = lat["int8"], lat["fp32_torch_eager"]
    head = f"batch-1 latency ({res.threads} threads): "
    for key, runtime in (("fp32_onnx", "onnxruntime"), ("fp32_openvino", "OpenVINO")):
        if key in lat:
            same = f"INT8 {_ms(int8)} vs FP32 {_ms(lat[key])} on {runtime} = {speed_change(lat[key], int8)}"
            cross = f"vs FP32 torch eager {_ms(eager)}: {eager / int8:.2f}× (runtime change + INT8)"
            return head + same + "; " + cross
    # torch targets: the INT8 .pt2 package (torch) or TorchScript (torchscript-fx) against FP32 torch eager
    what = "INT8 .pt2" if res.kind == "pt2" else "INT8 TorchScript"
    return head + f"{what} {_ms(int8)} vs FP32 torch eager {_ms(eager)} = {speed_change(eager, int8)}"


@app.command("quantize")
@handle_errors
def quantize_cmd(
    *,
    depth: DepthOpt = None,
    weights: WeightsOpt = None,
    model: Annotated[Optional[Path], typer.Option("--model", help="A model folder (written by train, prune or "
                                                                 "fuse).")] = None,
    num_classes: NumClassesOpt = None,
    out: Path = typer.Option(..., "--out", help="Artifact folder to write (INT8 model file + manifest.json)."),
    data: Optional[str] = typer.Option(None, "--data", help="Data spec for calibration (train split) and evaluation "
                                       "(val split): digits[:SIZE], fashion-mnist[:SIZE], imagefolder:PATH or "
                                       "synthetic[:SIZE]. Default: the model folder's data; synthetic for a random-init "
                                       "model."),
    preset: Optional[str] = typer.Option(None, "--preset", help="ImageNet preprocessing preset for imagefolder: v1 or v2."),
    calib_size: int = typer.Option(128, "--calib-size", help="Calibration images (from the training split)."),
    method: Optional[str] = typer.Option(None, "--method", help="Calibration: minmax, percentile or entropy (onnx, "
                                         "default percentile); minmax or histogram (torch / torchscript-fx, default "
                                         "histogram)."),
    target: QuantizeTarget = choice_option(QuantizeTarget.onnx, "--target", help="onnx (onnxruntime QDQ INT8), torch (PT2E "
                                           "INT8 compiled into an AOTInductor model.pt2), openvino (NNCF INT8 OpenVINO "
                                           "IR; openvino extra) or torchscript-fx (legacy: torch.ao FX INT8 "
                                           "TorchScript)."),
    max_accuracy_drop: Optional[float] = typer.Option(None, "--max-accuracy-drop", help="Top-1 points the INT8 model may "
                                                      "lose on labelled eval data; sensitive layers stay FP32 until met "
                                                      "(onnx; openvino: nncf.quantize_with_accuracy_control)."),
    max_excluded: Optional[int] = typer.Option(None, "--max-excluded", help="Most layers the accuracy gate may keep in "
                                               "FP32 (default: a quarter of them)."),
    eval_size: Optional[int] = typer.Option(None, "--eval-size", help="Eval images from the val split (default 1000; 32 "
                                            "synthetic)."),
    per_channel: bool = typer.Option(True, "--per-channel/--per-tensor", help="Per-channel int8 weights (onnx)."),
    activation_type: ActivationType = choice_option(ActivationType.auto, "--activation-type", help="auto (from the CPU), uint8 or int8 (onnx)."),
    reduce_range: str = typer.Option("auto", "--reduce-range", help="auto (on without VNNI), on or off (onnx, torch)."),
    min_agreement: float = typer.Option(90.0, "--min-agreement", help="Top-1 agreement with FP32 (%) below which a "
                                        "trained model's INT8 artifact is an error."),
    latency_runs: int = typer.Option(30, "--latency-runs", help="Batch-1 latency runs per model (median)."),
    seed: int = typer.Option(0, "--seed"),
    threads: ThreadsOpt = None,
    overwrite: OverwriteOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Static INT8 post-training quantization with real calibration, measured against FP32."""
    from resnet_opt.pipeline.quantize import QuantizeConfig, quantize_model

    cfg = QuantizeConfig(out=out, source=model_spec(model, depth, weights, num_classes), overwrite=overwrite,
                         target=target.value, data=data, preset=preset,
                         calib_size=calib_size, eval_size=eval_size, method=method,
                         max_accuracy_drop=max_accuracy_drop, max_excluded=max_excluded, per_channel=per_channel,
                         activation_type=None if activation_type is ActivationType.auto else activation_type.value,
                         reduce_range=parse_auto_on_off(reduce_range, "--reduce-range"), min_agreement=min_agreement,
                         latency_runs=latency_runs, threads=threads, seed=seed)
    set_threads(threads)
    log = None if as_json else (lambda m: console.print(m))
    # quantize_model checks every setting, the model source, the data against the model and the output folder first
    res = quantize_model(cfg, progress=show_progress() and not as_json, log=log)
    if as_json:
        typer.echo(to_json(res))
        return
    if res.int8_top1 is not None and res.accuracy_meaningful:
        console.print(f"top-1 FP32 {res.fp32_top1:.2f}% -> INT8 {res.int8_top1:.2f}% (drop {res.top1_drop:.2f} "
                      f"points, {res.eval_images} val images)")
    else:
        console.print(f"[yellow]{res.note or 'accuracy not measured'}[/yellow]")
    console.print(f"agreement with FP32 {res.top1_agreement:.2f}%, max abs logit difference {res.max_abs_diff:.4g} "
                  f"({res.eval_images} eval images)")
    if res.excluded_layers:
        console.print(f"kept in FP32: {', '.join(res.excluded_layers)}")
    console.print(latency_headline(res))
    sz = res.size_bytes
    print_result(f"size: FP32 {sz['fp32'] / 1e6:.1f} MB -> INT8 {sz['int8'] / 1e6:.1f} MB; {res.seconds:.1f}s", res.out)
    if res.compile:
        console.print(f"compiled ({res.kind}) in {res.compile['compile_seconds']:.1f}s; package load "
                      f"{res.compile.get('load_ms', 0):.0f} ms")
