"""export commands: ``resnet-opt export onnx|torchscript|openvino|pt2|triton ...``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from resnet_opt.cli.app import app
from resnet_opt.cli.choices import Pt2Device, TritonBackend, choice_option
from resnet_opt.cli.common import (
    DepthOpt, JsonOpt, ModelDirOpt, NumClassesOpt, OverwriteOpt, ThreadsOpt, WeightsOpt, console, err_console,
    handle_errors, model_spec, parse_auto_on_off, print_result, set_threads, show_progress,
)
from resnet_opt.core.artifact import to_json

export_app = typer.Typer(
    name="export",
    help="Export a model to a validated ONNX, TorchScript, PT2 (AOTInductor) or OpenVINO IR artifact folder (model "
         "file + manifest.json), or an artifact to a Triton model repository.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(export_app, name="export")

# what every `export FORMAT` command takes besides its own settings: output, input size, validation, threads, JSON
OutOpt = Annotated[Path, typer.Option("--out", help="Artifact folder to write (model file + manifest.json); replaced "
                                                    "atomically.")]
InputSizeOpt = Annotated[Optional[int], typer.Option("--input-size", help="Square input size (default: the model "
                                                     "folder's, the data spec's, else 224).")]
DataOpt = Annotated[Optional[str], typer.Option("--data", help="Validate on real images: digits[:SIZE], "
                                                "fashion-mnist[:SIZE] or imagefolder:PATH (default: random inputs).")]
PresetOpt = Annotated[Optional[str], typer.Option("--preset", help="ImageNet preprocessing preset for imagefolder: v1 "
                                                  "or v2.")]
CountOpt = Annotated[int, typer.Option("--count", help="Number of validation inputs.")]
AtolOpt = Annotated[Optional[float], typer.Option("--atol", help="Absolute logit tolerance (default: 1e-3 fp32, 1e-2 "
                                                  "fp16).")]
RtolOpt = Annotated[Optional[float], typer.Option("--rtol", help="Tolerance relative to the largest logit (default: "
                                                  "1e-4 fp32, 1e-2 fp16).")]
AgreeOpt = Annotated[Optional[float], typer.Option("--min-agreement", help="Minimum top-1 agreement with PyTorch, "
                                                   "percent (default: 99 fp32, 90 fp16).")]
OpsetOpt = Annotated[int, typer.Option("--opset", help="ONNX opset, 13..21 (openvino: of the intermediate ONNX "
                                                       "export).")]
StaticBatchOpt = Annotated[bool, typer.Option("--static-batch", help="Fix the batch axis at 1 (default: a dynamic "
                                              "'batch' axis).")]


def _export(cfg: Any, *, threads: Optional[int], as_json: bool) -> Any:
    """Run the export stage on ``cfg`` (an ExportConfig; export_artifact checks every setting, once, before any work)
    and print its result (or JSON)."""
    from resnet_opt.pipeline.export import export_artifact

    set_threads(threads)  # checked against the CPU's bound first
    log = (lambda m: err_console.print(f"[dim]{m}[/dim]")) if show_progress() and not as_json else None
    res = export_artifact(cfg, log=log)
    if as_json:
        typer.echo(to_json(res))
        return res
    m, v = res.manifest, res.validation
    print_result(f"{m.kind} {m.precision} resnet{m.architecture.get('depth')} input {m.input.shape if m.input else '?'}",
                 f"{res.out}/{res.file}")
    if v is not None:
        console.print(f"validated against PyTorch on {v.inputs}: max abs diff {v.max_abs_diff:.3g} "
                      f"(allowed {v.allowed_abs_diff:.3g}), max rel diff {v.max_rel_diff:.3g}, "
                      f"top-1 agreement {v.top1_agreement:.1f}%, batch sizes {v.batch_sizes}")
    return res


def _config(fmt: str, *, model: Optional[Path], depth: Optional[str], weights: Optional[Path],
            num_classes: Optional[int], out: Path, input_size: Optional[int], data: Optional[str],
            preset: Optional[str], count: int, atol: Optional[float], rtol: Optional[float],
            min_agreement: Optional[float], overwrite: bool, **settings: Any) -> Any:
    """The ExportConfig of the options every `export FORMAT` command shares, plus the format's own ``settings``."""
    from resnet_opt.pipeline.export import ExportConfig

    return ExportConfig(fmt=fmt, source=model_spec(model, depth, weights, num_classes), out=out,
                        input_size=input_size, data=data, preset=preset, count=count, atol=atol, rtol=rtol,
                        min_top1_agreement=min_agreement, overwrite=overwrite, **settings)


@export_app.command("onnx")
@handle_errors
def export_onnx_cmd(
    *,
    depth: DepthOpt = None,
    weights: WeightsOpt = None,
    model: ModelDirOpt = None,
    num_classes: NumClassesOpt = None,
    out: OutOpt,
    input_size: InputSizeOpt = None,
    data: DataOpt = None,
    preset: PresetOpt = None,
    count: CountOpt = 16,
    atol: AtolOpt = None,
    rtol: RtolOpt = None,
    min_agreement: AgreeOpt = None,
    threads: ThreadsOpt = None,
    overwrite: OverwriteOpt = False,
    as_json: JsonOpt = False,
    opset: OpsetOpt = 17,
    static_batch: StaticBatchOpt = False,
    fp16: bool = typer.Option(False, "--fp16", help="FP16 weights and compute, float32 input/output (for GPUs)."),
    provider: str = typer.Option("cpu", "--provider", help="onnxruntime provider used for validation: cpu, cuda, tensorrt."),
) -> None:
    """Export to ONNX (input 'input', output 'logits'), validate with onnxruntime against PyTorch, write the folder."""
    cfg = _config("onnx", model=model, depth=depth, weights=weights, num_classes=num_classes, out=out,
                  input_size=input_size, data=data, preset=preset, count=count, atol=atol, rtol=rtol,
                  min_agreement=min_agreement, overwrite=overwrite,
                  opset=opset, dynamic_batch=not static_batch, fp16=fp16, provider=provider)
    _export(cfg, threads=threads, as_json=as_json)


@export_app.command("torchscript")
@handle_errors
def export_torchscript_cmd(
    *,
    depth: DepthOpt = None,
    weights: WeightsOpt = None,
    model: ModelDirOpt = None,
    num_classes: NumClassesOpt = None,
    out: OutOpt,
    input_size: InputSizeOpt = None,
    data: DataOpt = None,
    preset: PresetOpt = None,
    count: CountOpt = 16,
    atol: AtolOpt = None,
    rtol: RtolOpt = None,
    min_agreement: AgreeOpt = None,
    threads: ThreadsOpt = None,
    overwrite: OverwriteOpt = False,
    as_json: JsonOpt = False,
    no_freeze: bool = typer.Option(False, "--no-freeze", help="Keep the traced module unfrozen."),
    optimize: str = typer.Option("auto", "--optimize", help="optimize_for_inference: auto (keep it when faster here), on, off."),
    fp16: bool = typer.Option(False, "--fp16", help="Not available for TorchScript (ONNX only)."),
) -> None:
    """Export to TorchScript (trace + freeze), validate the saved file with torch.jit.load, write the folder."""
    on = parse_auto_on_off(optimize, "--optimize")
    cfg = _config("torchscript", model=model, depth=depth, weights=weights, num_classes=num_classes, out=out,
                  input_size=input_size, data=data, preset=preset, count=count, atol=atol, rtol=rtol,
                  min_agreement=min_agreement, overwrite=overwrite,
                  fp16=fp16, frozen=not no_freeze, optimize="auto" if on is None else on)
    _export(cfg, threads=threads, as_json=as_json)


@export_app.command("triton")
@handle_errors
def export_triton_cmd(
    model: Path = typer.Option(..., "--model", help="An ONNX (FP32, FP16, INT8) or TorchScript artifact folder."),
    out: Path = typer.Option(..., "--out", help="Triton model repository folder to write (REPO/NAME/config.pbtxt, "
                                                 "REPO/NAME/1/model.onnx|model.pt)."),
    name: Optional[str] = typer.Option(None, "--name", help="Model name in the repository (default: "
                                                            "resnet<depth>_<kind>_<precision>)."),
    max_batch_size: Optional[int] = typer.Option(None, "--max-batch-size", help="Triton max_batch_size; 0 = no "
                                                 "batching (default: 32, or 0 for a static-batch model)."),
    preferred: Optional[str] = typer.Option(None, "--preferred-batch-sizes", help="Dynamic batching preferred sizes, "
                                            "e.g. 4,8,16 (default: powers of two from 4 up to the max)."),
    queue_delay: int = typer.Option(100, "--max-queue-delay-us", help="Dynamic batching: longest wait to fill a "
                                                                      "batch, microseconds."),
    instances: int = typer.Option(1, "--instances", help="Model instances (instance_group count)."),
    gpu: bool = typer.Option(False, "--gpu", help="instance_group KIND_GPU (default KIND_CPU)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing repository written by resnet-opt."),
    backend: TritonBackend = choice_option(TritonBackend.platform, "--backend", help="platform: onnxruntime_onnx / pytorch_libtorch (for "
                                "production Triton containers; ONNX and TorchScript artifacts); python: Triton's "
                                "Python backend running resnet-opt's runtime (any artifact kind; NAME and "
                                "NAME-images; what `resnet-opt serve` runs)."),
    provider: str = typer.Option("cpu", "--provider", help="--backend python: runtime provider inside Triton."),
    threads: Optional[int] = typer.Option(None, "--threads", help="--backend python: intra-op threads per instance."),
    top_k: int = typer.Option(5, "--top-k", help="--backend python: labels and scores NAME-images returns."),
    no_batching: bool = typer.Option(False, "--no-dynamic-batching", help="--backend python: no dynamic batcher."),
    as_json: JsonOpt = False,
) -> None:
    """Write a Triton Inference Server model repository for an artifact, checked against Triton's config schema."""
    from resnet_opt.core.errors import ConfigError
    from resnet_opt.export.triton import TritonConfig, export_triton

    sizes = None
    if preferred is not None:
        try:
            sizes = [int(b) for b in preferred.split(",") if b.strip()]
        except ValueError:
            raise ConfigError(f"--preferred-batch-sizes must be comma-separated integers, got {preferred!r}") from None
    cfg = TritonConfig(out=out, name=name, max_batch_size=max_batch_size, preferred_batch_sizes=sizes,
                       max_queue_delay_us=queue_delay, instances=instances, gpu=gpu, overwrite=overwrite,
                       backend=backend.value, provider=provider, threads=threads, top_k=top_k,
                       dynamic_batching=not no_batching)
    if cfg.backend != "python":
        given = [o for o, v in (("--provider", provider != "cpu"), ("--threads", threads is not None),
                                ("--top-k", top_k != 5), ("--no-dynamic-batching", no_batching)) if v]
        if given:
            raise ConfigError(f"{', '.join(given)} apply to --backend python only")
    log = (lambda m: err_console.print(f"[dim]{m}[/dim]")) if show_progress() and not as_json else None
    res = export_triton(model, cfg, log=log)
    if as_json:
        typer.echo(to_json(res.to_dict()))
        return
    if res.backend == "python":
        c = res.config
        console.print(f"triton python {res.source_kind} {res.precision}: {c.name} (input "
                      f"{c.inputs[0].name} {c.inputs[0].dims} -> {c.outputs[0].name} {c.outputs[0].dims})"
                      + (f", {res.images_name} (encoded images -> top-{res.images_config.outputs[0].dims[0]})"
                         if res.images_config is not None else "")
                      + f"; max_batch_size {c.max_batch_size}, {c.instance_count} instance(s)")
        print_result("model repository", res.repo)
        console.print(f"config.pbtxt schema check: {res.check.schema}; artifact copied and checked (sha256)")
        _print_serve(res)
        return
    c = res.config
    batching = (f"max_batch_size {c.max_batch_size}, dynamic batching {c.preferred_batch_sizes}"
                if c.max_batch_size > 0 else "max_batch_size 0 (no batching)")
    console.print(f"triton {res.source_kind} {res.precision}: {res.platform}, input "
                  f"{c.inputs[0].name} {c.inputs[0].dims}, output {c.outputs[0].name} {c.outputs[0].dims}, "
                  f"{batching}, {c.instance_count} x {c.instance_kind}")
    print_result("model", res.model_dir)
    console.print(f"config.pbtxt schema check: {res.check.schema}; checked against {res.model_file.name}: "
                  f"{', '.join(res.check.checks)}")
    _print_serve(res)


def _print_serve(res: Any) -> None:
    """The serve command on a line of its own (never folded: it is meant to be copied), then where the README is."""
    console.print("serve:")
    console.print(f"  {escape(str(res.serve_command))}", soft_wrap=True)
    print_result("details", res.readme)


@export_app.command("openvino")
@handle_errors
def export_openvino_cmd(
    *,
    depth: DepthOpt = None,
    weights: WeightsOpt = None,
    model: ModelDirOpt = None,
    num_classes: NumClassesOpt = None,
    out: OutOpt,
    input_size: InputSizeOpt = None,
    data: DataOpt = None,
    preset: PresetOpt = None,
    count: CountOpt = 16,
    atol: AtolOpt = None,
    rtol: RtolOpt = None,
    min_agreement: AgreeOpt = None,
    threads: ThreadsOpt = None,
    overwrite: OverwriteOpt = False,
    as_json: JsonOpt = False,
    opset: OpsetOpt = 17,
    static_batch: StaticBatchOpt = False,
    precision: str = typer.Option("fp32", "--precision", help="fp32, or bf16 (CPUs with AVX512_BF16 or AMX only)."),
) -> None:
    """Export to an OpenVINO IR (model.xml + model.bin; needs the openvino extra), validate it with OpenVINO's CPU
    plugin against PyTorch, write the folder."""
    from resnet_opt.core.errors import ConfigError

    hints = {"fp32": "f32", "f32": "f32", "bf16": "bf16"}
    if precision.lower() not in hints:
        raise ConfigError(f"--precision must be fp32 or bf16, got {precision!r}")
    cfg = _config("openvino", model=model, depth=depth, weights=weights, num_classes=num_classes, out=out,
                  input_size=input_size, data=data, preset=preset, count=count, atol=atol, rtol=rtol,
                  min_agreement=min_agreement, overwrite=overwrite,
                  opset=opset, dynamic_batch=not static_batch, inference_precision=hints[precision.lower()])
    _export(cfg, threads=threads, as_json=as_json)


@export_app.command("pt2")
@handle_errors
def export_pt2_cmd(
    *,
    depth: DepthOpt = None,
    weights: WeightsOpt = None,
    model: ModelDirOpt = None,
    num_classes: NumClassesOpt = None,
    out: OutOpt,
    input_size: InputSizeOpt = None,
    data: DataOpt = None,
    preset: PresetOpt = None,
    count: CountOpt = 16,
    atol: AtolOpt = None,
    rtol: RtolOpt = None,
    min_agreement: AgreeOpt = None,
    threads: ThreadsOpt = None,
    overwrite: OverwriteOpt = False,
    as_json: JsonOpt = False,
    device: Pt2Device = choice_option(Pt2Device.cpu, "--device", help="Compile the package for cpu or cuda (cuda needs a "
                                                                     "GPU here)."),
    no_freeze: bool = typer.Option(False, "--no-freeze", help="Skip Inductor freezing (no oneDNN weight prepacking; "
                                   "slower, for comparison)."),
    max_autotune: bool = typer.Option(False, "--max-autotune", help="Let Inductor benchmark kernel choices while "
                                      "compiling (much longer compile; see docs/pt2.md)."),
    batch: Optional[str] = typer.Option(None, "--batch", metavar="SIZES", help="The static batch sizes to compile "
                                        "into the package (e.g. 1 or 1,8; one model each, any other batch runs as "
                                        "chunks of them), or 'dynamic' (one model for every batch size; slow on the "
                                        "CPU: docs/pt2.md). Default: 1,8 on cpu, dynamic on cuda."),
) -> None:
    """Export with torch.export and compile an AOTInductor package (model.pt2, a model per batch size); validate the
    loaded package against PyTorch and write the folder. Compilation takes a while; loading takes milliseconds."""
    from resnet_opt.export.pt2_export import Pt2Settings, parse_batches

    batches, dynamic = parse_batches(batch)
    settings = Pt2Settings(device=device.value, freezing=not no_freeze, max_autotune=max_autotune, batches=batches,
                           dynamic=dynamic)
    cfg = _config("pt2", model=model, depth=depth, weights=weights, num_classes=num_classes, out=out,
                  input_size=input_size, data=data, preset=preset, count=count, atol=atol, rtol=rtol,
                  min_agreement=min_agreement, overwrite=overwrite, pt2=settings)
    res = _export(cfg, threads=threads, as_json=as_json)
    c = res.manifest.section("compile")
    if not as_json and c:
        sizes = c.get("batch_sizes")
        console.print(f"compiled for {c['device']} "
                      f"({'batch sizes ' + ', '.join(map(str, sizes)) if sizes else 'dynamic batch'}) "
                      f"in {c['compile_seconds']:.1f}s "
                      f"(inductor {', '.join(f'{k}={v}' for k, v in c['inductor_configs'].items())})")
