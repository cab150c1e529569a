"""predict command: classify images with an artifact, with the preprocessing its manifest records."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer
from rich.table import Table

from resnet_opt.cli.app import app
from resnet_opt.cli.common import JsonOpt, ThreadsOpt, console, handle_errors, set_threads, warn_line
from resnet_opt.core.artifact import to_json


@app.command("predict")
@handle_errors
def predict_cmd(
    artifact: Path = typer.Argument(..., help="An artifact folder (ONNX / TorchScript / PT2, with manifest.json) or a model folder."),
    images: List[str] = typer.Argument(..., help="Image files, folders (their images, recursively) or glob patterns "
                                                 "('photos/*.jpg'). `resnet-opt digits-images --out DIR` writes some."),
    top_k: int = typer.Option(5, "--top-k", help="Classes to show per image."),
    provider: str = typer.Option("cpu", "--provider", help="cpu, cuda, tensorrt or auto (auto falls back to cpu with a warning)."),
    show: int = typer.Option(50, "--show", help="Rows of the table (the summary and --json cover every image)."),
    threads: ThreadsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Classify images with an artifact, applying the preprocessing recorded in its manifest; a summary follows
    (images, predictions per class, and matches with folder names when the folders are named after classes)."""
    from resnet_opt.pipeline.predict import PredictConfig
    from resnet_opt.runtime import load
    from resnet_opt.runtime.images import summarize, unlike_training

    cfg = PredictConfig(artifact=artifact, images=list(images), top_k=top_k, provider=provider, threads=threads)
    cfg.validate()  # every setting and image spec, before the model is loaded
    set_threads(threads)
    files = cfg.files
    pred = load(artifact, provider=provider, threads=threads)
    results = pred.predict([str(p) for p in files], top_k=top_k)
    summary = summarize(results, pred.class_names)
    unlike = unlike_training(files, pred.preprocessing)
    if as_json:
        typer.echo(to_json({"artifact": str(artifact), **pred.describe(),
                            "predictions": [r.to_dict() for r in results], "summary": summary.to_dict(),
                            "input_warnings": unlike}))
        return
    for w in unlike:
        warn_line(w)
    where = pred.provider + (f" ({', '.join(f'{k}: {v} nodes' for k, v in pred.node_providers.items())})"
                             if pred.node_providers else "")
    k = min(top_k, pred.num_classes or top_k)
    t = Table(title=f"{pred.kind} {pred.precision} {artifact} on {where}")
    t.add_column("image", overflow="fold")
    t.add_column("class", justify="right")
    t.add_column("prob", justify="right")
    if k > 1:
        t.add_column(f"next {k - 1}" if k > 2 else "2nd")
    for r in results[:max(0, show)]:
        labels = r.names or [str(i) for i in r.indices]
        cells = [r.source, f"{labels[0]}", f"{r.probabilities[0]:.3f}"]
        if k > 1:
            cells.append(", ".join(f"{lab} {p:.3f}" for lab, p in zip(labels[1:], r.probabilities[1:])))
        t.add_row(*cells)
    console.print(t)
    if len(results) > show:
        console.print(f"(first {max(0, show)} of {len(results)} rows; --show N or --json for all)")
    per = ", ".join(f"{name}: {n}" for name, n in summary.per_class.items())
    line = f"{summary.images} image(s); predicted classes: {per}"
    if summary.labelled_by_folder:
        line += (f". Folder names as labels: {summary.correct_by_folder}/{summary.labelled_by_folder} correct "
                 f"({100 * summary.correct_by_folder / summary.labelled_by_folder:.1f} %)")
    console.print(line)
