"""export commands: ``resnet-opt export onnx|torchscript|openvino|pt2|triton ...``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape

from resnet_opt.cli.app import app
from resnet_opt.cli.common import (
    JsonOpt, OverwriteOpt, ThreadsOpt, console, err_console, handle_errors, model_source, option_param, options_into,
    print_result, set_threads, show_progress,
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

OutOpt = typer.Option(..., "--out", help="Artifact folder to write (model file + manifest.json); replaced atomically.")
InputSizeOpt = typer.Option(None, "--input-size", help="Square input size (default: the model folder's, the data spec's, else 224).")
DataOpt = typer.Option(None, "--data", help="Validate on real images: digits[:SIZE], fashion-mnist[:SIZE] or imagefolder:PATH (default: random inputs).")
PresetOpt = typer.Option(None, "--preset", help="ImageNet preprocessing preset for imagefolder: v1 or v2.")
CountOpt = typer.Option(16, "--count", help="Number of validation inputs.")
AtolOpt = typer.Option(None, "--atol", help="Absolute logit tolerance (default: 1e-3 fp32, 1e-2 fp16).")
RtolOpt = typer.Option(None, "--rtol", help="Tolerance relative to the largest logit (default: 1e-4 fp32, 1e-2 fp16).")
OpsetOpt = typer.Option(17, "--opset", help="ONNX opset, 13..21 (openvino: of the intermediate ONNX export).")
StaticBatchOpt = typer.Option(False, "--static-batch", help="Fix the batch axis at 1 (default: a dynamic 'batch' axis).")
AgreeOpt = typer.Option(None, "--min-agreement", help="Minimum top-1 agreement with PyTorch, percent (default: 99 fp32, 90 fp16).")


# what every `export FORMAT` command takes besides the model source: output, input size, validation, threads, JSON
export_options = options_into("common", [
    option_param("out", Path, OutOpt), option_param("input_size", Optional[int], InputSizeOpt),
    option_param("data", Optional[str], DataOpt), option_param("preset", Optional[str], PresetOpt),
    option_param("count", int, CountOpt), option_param("atol", Optional[float], AtolOpt),
    option_param("rtol", Optional[float], RtolOpt), option_param("min_agreement", Optional[float], AgreeOpt),
    option_param("threads", Optional[int], ThreadsOpt), option_param("overwrite", bool, OverwriteOpt),
    option_param("as_json", bool, JsonOpt),
], dict)


def _export(fmt: str, source: Any, common: dict[str, Any], **settings: Any) -> Any:
    """Run the export stage (it checks every setting, ExportConfig.validate, before any work) and print its result
    (or JSON)."""
    from resnet_opt.pipeline.export import ExportConfig, export_artifact

    c = dict(common)
    as_json, threads = c.pop("as_json"), c.pop("threads")
    c["min_top1_agreement"] = c.pop("min_agreement")
    cfg = ExportConfig(fmt=fmt, source=source, **c, **settings)
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


@export_app.command("onnx")
@handle_errors
@model_source()
@export_options
def export_onnx_cmd(
    opset: int = OpsetOpt,
    static_batch: bool = StaticBatchOpt,
    fp16: bool = typer.Option(False, "--fp16", help="FP16 weights and compute, float32 input/output (for GPUs)."),
    provider: str = typer.Option("cpu", "--provider", help="onnxruntime provider used for validation: cpu, cuda, tensorrt."),
    *, source: Any = None, common: Any = None,
) -> None:
    """Export to ONNX (input 'input', output 'logits'), validate with onnxruntime against PyTorch, write the folder."""
    _export("onnx", source, common, opset=opset, dynamic_batch=not static_batch, fp16=fp16, provider=provider)


@export_app.command("torchscript")
@handle_errors
@model_source()
@export_options
def export_torchscript_cmd(
    no_freeze: bool = typer.Option(False, "--no-freeze", help="Keep the traced module unfrozen."),
    optimize: str = typer.Option("auto", "--optimize", help="optimize_for_inference: auto (keep it when faster here), on, off."),
    fp16: bool = typer.Option(False, "--fp16", help="Not available for TorchScript (ONNX only)."),
    *, source: Any = None, common: Any = None,
) -> None:
    """Export to TorchScript (trace + freeze), validate the saved file with torch.jit.load, write the folder."""
    from resnet_opt.core.errors import ConfigError

    opt_map = {"auto": "auto", "on": True, "off": False, "true": True, "false": False}
    if optimize.lower() not in opt_map:
        raise ConfigError(f"--optimize must be auto, on or off, got {optimize!r}")
    _export("torchscript", source, common, fp16=fp16, frozen=not no_freeze, optimize=opt_map[optimize.lower()])


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
    backend: str = typer.Option("platform", "--backend", help="platform: onnxruntime_onnx / pytorch_libtorch (for "
                                "production Triton containers; ONNX and TorchScript artifacts); python: Triton's "
                                "Python backend running resnet-opt's runtime (any artifact kind; NAME and "
                                "NAME-images; what `resnet-opt serve` runs)."),
    provider: str = typer.Option("cpu", "--provider", help="--backend python: runtime provider inside Triton."),
    threads: Optional[int] = typer.Option(None, "--threads", help="--backend python: intra-op threads per instance."),
    top_k: int = typer.Option(5, "--top-k", help="--backend python: labels and scores NAME-images returns."),
    no_batching: bool = typer.Option(False, "--no-dynamic-batching", help="--backend python: no dynamic batcher."),
    as_json: bool = JsonOpt,
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
                       backend=backend.strip().lower(), provider=provider, threads=threads, top_k=top_k,
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
@model_source()
@export_options
def export_openvino_cmd(
    opset: int = OpsetOpt,
    static_batch: bool = StaticBatchOpt,
    precision: str = typer.Option("fp32", "--precision", help="fp32, or bf16 (CPUs with AVX512_BF16 or AMX only)."),
    *, source: Any = None, common: Any = None,
) -> None:
    """Export to an OpenVINO IR (model.xml + model.bin; needs the openvino extra), validate it with OpenVINO's CPU
    plugin against PyTorch, write the folder."""
    from resnet_opt.core.errors import ConfigError

    hints = {"fp32": "f32", "f32": "f32", "bf16": "bf16"}
    if precision.lower() not in hints:
        raise ConfigError(f"--precision must be fp32 or bf16, got {precision!r}")
    _export("openvino", source, common, opset=opset, dynamic_batch=not static_batch,
            inference_precision=hints[precision.lower()])


@export_app.command("pt2")
@handle_errors
@model_source()
@export_options
def export_pt2_cmd(
    device: str = typer.Option("cpu", "--device", help="Compile the package for cpu or cuda (cuda needs a GPU here)."),
    no_freeze: bool = typer.Option(False, "--no-freeze", help="Skip Inductor freezing (no oneDNN weight prepacking; "
                                   "slower, for comparison)."),
    max_autotune: bool = typer.Option(False, "--max-autotune", help="Let Inductor benchmark kernel choices while "
                                      "compiling (much longer compile; see docs/pt2.md)."),
    batch: Optional[str] = typer.Option(None, "--batch", metavar="SIZES", help="The static batch sizes to compile "
                                        "into the package (e.g. 1 or 1,8; one model each, any other batch runs as "
                                        "chunks of them), or 'dynamic' (one model for every batch size; slow on the "
                                        "CPU: docs/pt2.md). Default: 1,8 on cpu, dynamic on cuda."),
    *, source: Any = None, common: Any = None,
) -> None:
    """Export with torch.export and compile an AOTInductor package (model.pt2, a model per batch size); validate the
    loaded package against PyTorch and write the folder. Compilation takes a while; loading takes milliseconds."""
    from resnet_opt.export.pt2_export import Pt2Settings, parse_batches

    batches, dynamic = parse_batches(batch)
    settings = Pt2Settings(device=device, freezing=not no_freeze, max_autotune=max_autotune, batches=batches,
                           dynamic=dynamic)
    res = _export("pt2", source, common, pt2=settings)
    c = res.manifest.details.get("compile")
    if not common["as_json"] and c:
        sizes = c.get("batch_sizes")
        console.print(f"compiled for {c['device']} "
                      f"({'batch sizes ' + ', '.join(map(str, sizes)) if sizes else 'dynamic batch'}) "
                      f"in {c['compile_seconds']:.1f}s "
                      f"(inductor {', '.join(f'{k}={v}' for k, v in c['inductor_configs'].items())})")
