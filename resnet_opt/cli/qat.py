"""qat command: quantization-aware fine-tuning into an INT8 artifact (ONNX QDQ, or a PT2E INT8 ``.pt2`` package)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from resnet_opt.cli.app import app
from resnet_opt.cli.choices import QatActivation, QatTarget, choice_option
from resnet_opt.cli.common import (
    JsonOpt, NprocOpt, ThreadsOpt, accuracy_change, console, handle_errors, launched, print_result, set_threads,
    show_progress, speed_change,
)
from resnet_opt.core.artifact import to_json


@app.command("qat")
@handle_errors
def qat_cmd(
    model: Path = typer.Option(..., "--model", help="A trained model folder (written by train, prune or fuse)."),
    out: Path = typer.Option(..., "--out", help="Artifact folder to write (model_int8.onnx or model.pt2, + "
                             "manifest.json)."),
    target: QatTarget = choice_option(QatTarget.onnx, "--target", help="onnx (ONNX QDQ model_int8.onnx, onnxruntime) or torch (PT2E "
                               "INT8 compiled by AOTInductor into model.pt2, like quantize --target torch)."),
    epochs: int = typer.Option(3, "--epochs", help="QAT fine-tuning epochs."),
    batch_size: int = typer.Option(64, "--batch-size", help="Global batch (split across --nproc processes)."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate (SGD, cosine; small: the model is trained)."),
    weight_decay: float = typer.Option(1e-4, "--weight-decay"),
    freeze_observers: Optional[int] = typer.Option(None, "--freeze-observers-after", help="Freeze the quantization "
                                                   "ranges after this many epochs (default min(4, epochs-1))."),
    freeze_bn: Optional[int] = typer.Option(None, "--freeze-bn-after", help="Freeze BatchNorm statistics after this "
                                            "many epochs (default min(3, epochs-1))."),
    activation: QatActivation = choice_option(QatActivation.asymmetric, "--activation", help="asymmetric (uint8) or symmetric (int8 "
                                   "per-tensor, TensorRT's form; onnx target)."),
    weight_bits: Optional[int] = typer.Option(None, "--weight-bits", help="8, or 7 (onnx target; default: 7 on CPUs "
                                              "without VNNI, like onnxruntime's reduce_range)."),
    data: Optional[str] = typer.Option(None, "--data", help="Labelled data spec (default: the model folder's)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Train on a seeded subset of this many images."),
    eval_size: Optional[int] = typer.Option(None, "--eval-size", help="Val images for validation (default all)."),
    min_agreement: float = typer.Option(90.0, "--min-agreement", help="Top-1 agreement with FP32 (%) below which "
                                        "the artifact is an error."),
    latency_runs: int = typer.Option(30, "--latency-runs"),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda (training)."),
    threads: ThreadsOpt = None,
    nproc: NprocOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Quantization-aware training (torchao PT2E, torchvision's recipe) into an INT8 artifact with the learned
    scales (ONNX QDQ, or with --target torch a PT2E INT8 .pt2 package), validated and described like the quantize
    stage's."""
    from resnet_opt.pipeline.qat import QatConfig, qat_model

    set_threads(threads)
    cfg = QatConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                    freeze_observers_epoch=freeze_observers, freeze_bn_epoch=freeze_bn, activation=activation.value,
                    weight_bits=weight_bits, data=data, limit=limit, eval_size=eval_size, min_agreement=min_agreement,
                    latency_runs=latency_runs, threads=threads, seed=seed, device=device, target=target.value)
    if launched(nproc, threads, cfg):
        return
    bars = show_progress() and not as_json
    log = None if as_json else (lambda m: console.print(m))
    res = qat_model(model_dir=model, out=out, config=cfg, progress=bars, log=log)  # validated there first
    if not res.written:
        return  # a torchrun worker other than rank 0
    if as_json:
        typer.echo(to_json(res))
        return
    print_result(f"top-1 FP32 {res.fp32_top1:.2f}% -> QAT INT8 {res.int8_top1:.2f}% ({accuracy_change(res.top1_drop)}, "
                 f"{res.images} val images); agreement with FP32 {res.agreement:.2f}%; {res.kind} artifact "
                 f"{res.file}", res.out)
    line = qat_latency_line((res.measurements or {}).get("latency_ms") or {})
    if line:
        console.print(line)


def qat_latency_line(lat: dict) -> str | None:
    """The batch-1 latency line: QAT INT8 against FP32 on the same runtime first (the onnx target: the FP32 ONNX
    export on onnxruntime), then against FP32 torch eager."""
    int8, eager = lat.get("int8"), lat.get("fp32_torch_eager")
    if not int8 or not eager:
        return None
    head = f"batch-1 latency ({lat.get('threads', '?')} threads): "
    if lat.get("fp32_onnx"):
        return (head + f"QAT INT8 {int8:.2f} ms vs FP32 {lat['fp32_onnx']:.2f} ms on onnxruntime = "
                f"{speed_change(lat['fp32_onnx'], int8)}; vs FP32 torch eager {eager:.2f} ms: {eager / int8:.2f}× "
                "(runtime change + INT8)")
    return head + f"QAT INT8 .pt2 {int8:.2f} ms vs FP32 torch eager {eager:.2f} ms = {speed_change(eager, int8)}"
