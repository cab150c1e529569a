"""The one-command pipeline: train (or load) -> prune + fine-tune (optional) -> fuse -> quantize -> export ->
validate -> benchmark every variant -> one report.

It composes the stage functions (pipeline/train.py, prune.py, fuse.py, quantize.py, export.py) and the bench harness;
it re-implements none of them. Each stage writes its own folder under ``out`` atomically:

    out/model/            trained model folder (or the --weights file saved as a model folder; --model is used in place)
    out/pruned/           pruned + fine-tuned model folder (with --prune)
    out/fused/            BatchNorm folded into the convs (model folder)
    out/torchscript/      TorchScript FP32 artifact          (export stage, validated)
    out/onnx-fp32/        ONNX FP32 artifact                 (export stage, validated)
    out/pt2-fp32/         AOTInductor FP32 package model.pt2 (export stage, validated; with pt2)
    out/onnx-int8/        ONNX INT8 QDQ artifact             (quantize stage, validated against FP32)
    out/triton/           Triton model repository of the ONNX FP32 artifact (with --triton; export/triton.py)
    out/pt2-int8/         PT2E INT8 package model.pt2        (quantize stage, torch target)
    out/torchscript-int8/ legacy FX INT8 TorchScript         (quantize stage, torchscript-fx target, when asked)
    out/report/           report.md, results.json, results.csv, accuracy_vs_latency.png
    out/pipeline.json     what ran, how long, and where it went

A stage that fails after the model exists is recorded (and shown in the report) and the others go on; the result
says which failed, so the CLI can exit non-zero.

``overwrite`` rebuilds an existing pipeline folder (one with our ``pipeline.json``) in place: the stage manifests
record final paths, so the old folder is moved aside (``.NAME.old-PID``) rather than the new one built elsewhere, and
it is put back if the new run fails or is interrupted (``core.artifact.replaced_in_place``). Without
``overwrite``, an interrupted run keeps its finished stages' folders.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from resnet_opt.bench import BenchConfig, BenchResult, TimingConfig
from resnet_opt.bench.variants import Variant, variant_from_path
from resnet_opt.core.artifact import atomic_write_text, to_json
from resnet_opt.core.errors import ConfigError, DataError, ResNetOptError
from resnet_opt.core.results import StageResult
from resnet_opt.resnet import ModelSpec


@dataclass
class PipelineConfig:
    """Everything ``resnet-opt pipeline`` is asked, checked once in :meth:`validate` before any stage runs.
    ``source``: train a ``depth`` from scratch (the default), or start from ``model_dir`` or ``weights``."""

    out: str | os.PathLike
    source: ModelSpec = field(default_factory=lambda: ModelSpec(depth=18))
    data: str = "digits"
    overwrite: bool = False  # rebuild an existing pipeline folder; the old one survives until the new one is complete
    preset: str | None = None
    # training (when neither model_dir nor weights is given)
    epochs: int = 8
    batch_size: int = 64
    limit: int | None = None  # training images (seeded subset) for train and fine-tune
    # pruning
    prune: float | None = None  # channel ratio in (0, 1)
    finetune_epochs: int = 3
    distill: bool = False
    importance: str = "taylor"  # with --distill: the pruned + INT8 row within 0.5 pt of FP32 on digits
    # quantization
    calib_size: int = 128
    method: str | None = None  # ONNX calibration method (default: the quantize stage's)
    onnx_int8: bool = True
    torch_int8: bool = True
    # serving: end with a Triton model repository of the ONNX FP32 artifact
    triton: bool = False
    torch_int8_target: str = "torch"  # torch (PT2E .pt2) | torchscript-fx (legacy FX + TorchScript)
    pt2: bool = True  # also export the FP32 AOTInductor package (a compile: about a minute for R18 on 2 cores)
    # benchmark
    backends: list[str] = field(default_factory=lambda: ["cpu", "cuda"])
    batch_sizes: list[int] = field(default_factory=lambda: [1, 32])
    iterations: int = 30
    warmup: int = 5
    time_budget_s: float = 5.0
    eval_limit: int | None = None  # validation images for accuracy (default: all)
    threads: int | None = None
    seed: int = 0
    device: str = "auto"  # training device

    def validate(self) -> None:
        from resnet_opt.bench.backends import parse_backends
        from resnet_opt.data import parse_data_spec, require_labelled

        spec = parse_data_spec(self.data, preset=self.preset)
        require_labelled(spec, "the pipeline (training, fine-tuning and accuracy)")
        src = self.source
        if src.model_dir is not None and src.weights is not None:
            raise ConfigError("give either --model DIR or --weights FILE, not both")
        if src.num_classes is not None:
            raise ConfigError("the pipeline takes the class count from its data; leave --num-classes out")
        if src.model_dir is None and src.weights is None and self.epochs < 1:
            raise ConfigError(f"--epochs must be at least 1, got {self.epochs}")
        if self.prune is not None and not 0.0 < float(self.prune) < 1.0:
            raise ConfigError(f"--prune must be strictly between 0 and 1, got {self.prune}")
        if self.finetune_epochs < 0:
            raise ConfigError(f"--finetune-epochs must be 0 or more, got {self.finetune_epochs}")
        if self.distill and (self.prune is None or self.finetune_epochs == 0):
            raise ConfigError("--distill needs --prune R and --finetune-epochs N")
        from resnet_opt.optimize.prune import IMPORTANCES

        if str(self.importance).strip().lower() not in IMPORTANCES:
            raise ConfigError(f"unknown importance {self.importance!r}; valid: {', '.join(IMPORTANCES)}")
        if self.calib_size < 1:
            raise ConfigError(f"--calib-size must be at least 1, got {self.calib_size}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {self.limit}")
        from resnet_opt.core.artifact import check_output_dir, clean_stale
        from resnet_opt.core.checks import MAX_COUNT, MAX_EPOCHS, check_device, check_int, check_threads

        check_threads(self.threads)
        check_int("--epochs", self.epochs, 0, MAX_EPOCHS)
        check_int("--finetune-epochs", self.finetune_epochs, 0, MAX_EPOCHS)
        check_int("--limit", self.limit, 1, MAX_COUNT, optional=True)
        check_int("--calib-size", self.calib_size, 1, MAX_COUNT)
        check_int("--eval-limit", self.eval_limit, 1, MAX_COUNT, optional=True)
        check_int("--seed", self.seed, 0, 2**32 - 1)
        self.device = check_device(self.device)
        if self.overwrite:
            out_r = Path(self.out).resolve()
            for what, p in (("--model", src.model_dir), ("--weights", src.weights)):
                if p is not None and (Path(p).resolve() == out_r or out_r in Path(p).resolve().parents):
                    raise ConfigError(f"{what} {p} is inside --out {self.out}, which --overwrite replaces; copy it "
                                      "elsewhere first or choose another --out")
        if src.model_dir is not None or src.weights is not None:
            ModelSpec(depth=src.depth if src.weights is not None else None, weights=src.weights,
                      model_dir=src.model_dir).validate()
        clean_stale(self.out)  # puts back a folder that a killed --overwrite run had moved aside
        check_output_dir(self.out, overwrite=self.overwrite)
        self.bench_config().validate()
        parse_backends(self.backends)
        if self.torch_int8_target not in ("torch", "torchscript-fx"):
            raise ConfigError(f"the pipeline's PyTorch INT8 target must be torch or torchscript-fx, got "
                              f"{self.torch_int8_target!r}")
        if self.method is not None:
            from resnet_opt.optimize.quantize_onnx import check_method

            check_method(str(self.method).lower())

    def bench_config(self) -> BenchConfig:
        return BenchConfig(backends=list(self.backends), batch_sizes=list(self.batch_sizes), threads=self.threads,
                           data=self.data, eval_limit=self.eval_limit,
                           timing=TimingConfig(warmup=self.warmup, iterations=self.iterations,
                                               time_budget_s=self.time_budget_s),
                           reference=None, seed=self.seed)


@dataclass
class StageRecord:
    name: str
    status: str  # ok | failed | skipped
    seconds: float = 0.0
    out: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class PipelineResult(StageResult):
    out: str
    stages: list[StageRecord]
    bench: BenchResult
    report_paths: dict[str, Path]
    seconds: float

    @property
    def failed(self) -> list[StageRecord]:
        return [s for s in self.stages if s.status == "failed"]

    def summary(self) -> dict[str, Any]:
        from resnet_opt.bench.report import summary_rows

        return {"out": self.out, "seconds": self.seconds, "stages": [asdict(s) for s in self.stages],
                "report": {k: str(v) for k, v in self.report_paths.items()}, "comparison": summary_rows(self.bench)}

    def to_dict(self) -> dict[str, Any]:
        return self.summary()


def _short(e: BaseException) -> str:
    s = str(e).strip()
    first = s.splitlines()[0] if s else type(e).__name__
    return first if isinstance(e, ResNetOptError) else f"{type(e).__name__}: {first}"


class _Stages:
    """Runs stage callables, timing them; optional stages record failures instead of raising."""

    def __init__(self, say: Callable[[str], None]):
        self.records: list[StageRecord] = []
        self.say = say

    def run(self, name: str, fn: Callable[[], Any], *, out: Path | None, required: bool,
            keep: tuple[str, ...] | None = None) -> StageRecord:
        self.say(f"[bold]{name}[/bold] ..." if "[" not in name else name)
        t0 = time.perf_counter()
        try:
            res = fn() or {}
            if isinstance(res, StageResult):
                res = res.to_dict()
        except Exception as e:  # noqa: BLE001 - typed errors and an optional stage's bug alike must not lose the others' work
            rec = StageRecord(name, "failed", time.perf_counter() - t0, str(out) if out else None, error=_short(e))
            self.records.append(rec)
            if required:
                raise
            self.say(f"  {name} failed: {rec.error}")
            return rec
        summary = dict(res) if keep is None else {k: res[k] for k in keep if k in res}
        rec = StageRecord(name, "ok", time.perf_counter() - t0, str(out) if out else None, summary=summary)
        self.records.append(rec)
        self.say(f"  {name} done in {rec.seconds:.1f}s" + (f" -> {out}" if out else ""))
        return rec

    def skip(self, name: str, why: str) -> None:
        self.records.append(StageRecord(name, "skipped", error=why))


def run_pipeline(cfg: PipelineConfig, *, progress: bool = False,
                 log: Callable[[str], None] | None = None) -> PipelineResult:
    """Run every stage into ``cfg.out`` and write one report comparing every variant (see the module doc)."""
    from resnet_opt.core.artifact import check_output_path, replaced_in_place

    cfg.validate()
    out = check_output_path(cfg.out)
    if cfg.overwrite and out.is_dir() and any(out.iterdir()):
        with replaced_in_place(out):  # validate() checked it is a folder this tool wrote
            return _run_stages(cfg, out, progress=progress, log=log)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        from resnet_opt.core.errors import OutputPathError

        raise OutputPathError(f"cannot create the output folder {out}: {e.strerror or e}") from e
    try:
        return _run_stages(cfg, out, progress=progress, log=log)
    except BaseException:
        from resnet_opt.core.artifact import is_resnet_opt_folder

        # an early failure or interruption (before any stage completed) leaves nothing behind; a later one keeps
        # the finished stages' folders (hours of training are not thrown away)
        if created and not any(is_resnet_opt_folder(d) for d in out.iterdir() if d.is_dir()):
            import shutil

            shutil.rmtree(out, ignore_errors=True)
        raise


def _run_stages(cfg: PipelineConfig, out: Path, *, progress: bool,
                log: Callable[[str], None] | None) -> PipelineResult:
    import torch

    from resnet_opt.data import parse_data_spec

    t_start = time.perf_counter()
    say = log or (lambda _m: None)
    if cfg.threads is not None:
        torch.set_num_threads(int(cfg.threads))
    spec = parse_data_spec(cfg.data, preset=cfg.preset)
    st = _Stages(say)
    _write_record(out, cfg, {"status": "running"})  # marks the folder as ours from the start (for --overwrite)
    src_dir = _source_stage(cfg, out, spec, st, progress, say)
    variants: list[Variant] = [variant_from_path(src_dir, name="fp32-eager")]
    variants[0].stage = "trained" if cfg.source.model_dir is None and cfg.source.weights is None else "source"
    model_dir = _prune_stage(cfg, out, src_dir, st, variants, progress, say)
    _fuse_stage(out, model_dir, st, variants, say)
    _export_stages(cfg, out, model_dir, st, variants, say)
    _quantize_stages(cfg, out, model_dir, st, variants, progress, say)
    _triton_stage(cfg, out, st, say)
    return _bench_stage(cfg, out, str(spec), st, variants, t_start, progress, say)


def _source_stage(cfg: PipelineConfig, out: Path, spec: Any, st: "_Stages", progress: bool,
                  say: Callable[[str], None]) -> Path:
    """Stage 1, the source model: train, or take --model / --weights. Returns its model folder."""
    data = str(spec)
    source = cfg.source
    if source.model_dir is not None:
        src_dir = Path(source.model_dir)
        variant_from_path(src_dir)  # a clear error now if it is not a model folder
        st.skip("train", f"using the model folder {src_dir}")
    elif source.weights is not None:
        src_dir = out / "model"

        def load_weights() -> dict[str, Any]:
            from resnet_opt.data import class_names_for, preprocessing_for
            from resnet_opt.resnet import save_model

            src = ModelSpec(depth=source.depth, weights=source.weights).load()
            pre = preprocessing_for(spec)
            names = class_names_for(spec)
            if names and len(names) != src.model.arch.num_classes:
                raise DataError(f"the weights have {src.model.arch.num_classes} classes but {spec} has {len(names)}")
            save_model(src.model, src_dir, input_size=pre.crop, preprocessing=pre.to_dict(), class_names=names,
                       extra={"data": data, "source": src.describe()})
            return {"architecture": src.model.arch.name}

        st.run("load weights", load_weights, out=src_dir, required=True)
    else:
        src_dir = out / "model"

        def train() -> Any:
            from resnet_opt.engine import TrainConfig
            from resnet_opt.pipeline.train import TrainStageConfig, train_model

            tc = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, seed=cfg.seed, device=cfg.device)
            depth = source.depth if source.depth is not None else 18
            return train_model(TrainStageConfig(out=src_dir, source=ModelSpec(depth=depth), data=cfg.data,
                                                preset=cfg.preset, limit=cfg.limit, train=tc),
                               progress=progress, log=say)

        st.run("train", train, out=src_dir, required=True,
               keep=("best_top1", "best_epoch", "epochs_run", "architecture", "seconds"))
    return src_dir


def _prune_stage(cfg: PipelineConfig, out: Path, src_dir: Path, st: "_Stages", variants: list[Variant],
                 progress: bool, say: Callable[[str], None]) -> Path:
    """Stage 2, prune + fine-tune (with --prune): returns the folder the later stages start from."""
    model_dir = src_dir
    if cfg.prune is not None:
        pruned_dir = out / "pruned"

        def prune() -> dict[str, Any]:
            from resnet_opt.pipeline.prune import PruneConfig, prune_model

            res = prune_model(PruneConfig(out=pruned_dir, source=ModelSpec(model_dir=src_dir), ratio=float(cfg.prune),
                                          importance=cfg.importance, data=cfg.data, preset=cfg.preset,
                                          finetune_epochs=cfg.finetune_epochs, distill=cfg.distill,
                                          batch_size=cfg.batch_size, train_limit=cfg.limit, eval_limit=cfg.eval_limit,
                                          seed=cfg.seed, device=cfg.device, latency_runs=5),
                              progress=progress, log=say)
            return {"ratio": cfg.prune, "macs_before": res.before["macs"], "macs_after": res.after["macs"],
                    "params_before": res.before["parameters"], "params_after": res.after["parameters"],
                    "top1_before": res.before.get("top1"), "top1_after": res.after.get("top1"),
                    "top1_before_finetune": (res.finetune or {}).get("top1_before_finetune")}

        st.run(f"prune {cfg.prune:g}" + (f" + fine-tune {cfg.finetune_epochs} epoch" + ("s" if cfg.finetune_epochs != 1 else "") if cfg.finetune_epochs else ""),
               prune, out=pruned_dir, required=True)
        model_dir = pruned_dir
        variants.append(variant_from_path(pruned_dir, name="pruned-fp32-eager"))

    return model_dir


def _fuse_stage(out: Path, model_dir: Path, st: "_Stages", variants: list[Variant], say: Callable[[str], None]) -> None:
    """Stage 3, BatchNorm fusion."""
    fused_dir = out / "fused"

    def fuse() -> Any:
        from resnet_opt.pipeline.fuse import FuseConfig, fuse_model

        return fuse_model(FuseConfig(out=fused_dir, source=ModelSpec(model_dir=model_dir)), log=say)

    if st.run("fuse BatchNorm", fuse, out=fused_dir, required=False, keep=("folded", "max_rel_diff")).status == "ok":
        variants.append(variant_from_path(fused_dir, name="fused-fp32-eager"))


def _export_stages(cfg: PipelineConfig, out: Path, model_dir: Path, st: "_Stages", variants: list[Variant],
                   say: Callable[[str], None]) -> None:
    """Stage 4, exports (each validated against PyTorch on the data's val images)."""
    exports = [("torchscript", "torchscript"), ("onnx", "onnx-fp32")] + ([("pt2", "pt2-fp32")] if cfg.pt2 else [])
    for fmt, name in exports:
        folder = out / name

        def export(fmt: str = fmt, folder: Path = folder) -> dict[str, Any]:
            from resnet_opt.pipeline.export import ExportConfig, export_artifact

            m = export_artifact(ExportConfig(fmt, out=folder, source=ModelSpec(model_dir=model_dir), data=cfg.data,
                                             preset=cfg.preset), log=say)
            return {"validation": m.manifest.validation.to_dict() if m.manifest.validation else None}

        if st.run(f"export {fmt}", export, out=folder, required=False, keep=("validation",)).status == "ok":
            variants.append(variant_from_path(folder, name=f"{name}-fp32" if fmt == "torchscript" else name))
        elif fmt == "pt2":
            say("  (the pt2 export needs a C++ compiler; --no-pt2 skips it)")


def _quantize_stages(cfg: PipelineConfig, out: Path, model_dir: Path, st: "_Stages", variants: list[Variant],
                     progress: bool, say: Callable[[str], None]) -> None:
    """Stage 5, INT8 (calibration on the training split, validated on the val split)."""
    targets = [("onnx", "onnx-int8")] if cfg.onnx_int8 else []
    if cfg.torch_int8:
        targets.append((cfg.torch_int8_target, "pt2-int8" if cfg.torch_int8_target == "torch" else "torchscript-int8"))
    for target, name in targets:
        folder = out / name

        def quantize(target: str = target, folder: Path = folder) -> dict[str, Any]:
            from resnet_opt.pipeline.quantize import QuantizeConfig, quantize_model

            qc = QuantizeConfig(out=folder, source=ModelSpec(model_dir=model_dir), target=target, data=cfg.data,
                                preset=cfg.preset, calib_size=cfg.calib_size,
                                method=cfg.method if target == "onnx" else None, eval_size=cfg.eval_limit,
                                latency_runs=5, threads=cfg.threads, seed=cfg.seed)
            m = quantize_model(qc, progress=progress, log=say)
            return {"validation": m.manifest.validation.to_dict() if m.manifest.validation else None,
                    "quantization": {k: m.manifest.quantization.get(k) for k in
                                     ("method", "activation_type", "weight_type", "reduce_range", "per_channel",
                                      "format", "target")}}

        label = {"onnx": "quantize INT8 (onnxruntime QDQ)", "torch": "quantize INT8 (PyTorch PT2E, .pt2)"}.get(
            target, "quantize INT8 (PyTorch FX x86, TorchScript, legacy)")
        if st.run(label, quantize, out=folder, required=False, keep=("validation", "quantization")).status == "ok":
            variants.append(variant_from_path(folder, name=name))


def _triton_stage(cfg: PipelineConfig, out: Path, st: "_Stages", say: Callable[[str], None]) -> None:
    """Stage 6, the Triton model repository of the validated ONNX FP32 artifact (checked against Triton's schema)."""
    if cfg.triton:
        onnx_dir, repo = out / "onnx-fp32", out / "triton"
        if not (onnx_dir / "manifest.json").is_file():
            st.skip("triton repository", "needs the ONNX FP32 artifact, whose export failed")
        else:
            def triton() -> dict[str, Any]:
                from resnet_opt.export.triton import TritonConfig, export_triton

                r = export_triton(onnx_dir, TritonConfig(out=repo, overwrite=True), log=say)
                return {"triton": {"name": r.name, "platform": r.platform,
                                   "max_batch_size": r.config.max_batch_size, "schema": r.check.schema,
                                   "serve": r.serve_command}}

            st.run("triton repository", triton, out=repo, required=False, keep=("triton",))


def _bench_stage(cfg: PipelineConfig, out: Path, data: str, st: "_Stages", variants: list[Variant], t_start: float,
                 progress: bool, say: Callable[[str], None]) -> PipelineResult:
    """Stage 7: validate and benchmark every variant, one report; the pipeline record marked complete."""
    from resnet_opt.data import parse_data_spec, report_split

    split = report_split(parse_data_spec(cfg.data, preset=cfg.preset))
    say(f"[bold]benchmark[/bold] every variant (accuracy on the {split} split + latency) ...")
    t0 = time.perf_counter()
    bcfg = cfg.bench_config()
    bcfg.reference = variants[0].name
    arch = variants[0].architecture or "ResNet"
    title = f"resnet-opt pipeline: {arch} on {data}"

    from resnet_opt.bench import run_benchmark, write_report

    result = run_benchmark(variants, bcfg, progress=progress, log=say, title=title)
    st.records.append(StageRecord("benchmark", "ok", time.perf_counter() - t0, str(out / "report")))
    result.extra["stages"] = [asdict(s) for s in st.records]
    result.extra["preamble_md"] = "## Pipeline stages\n\n" + _stages_markdown(st.records)
    paths = write_report(result, out / "report")
    res = PipelineResult(out=str(out), stages=st.records, bench=result, report_paths=paths,
                         seconds=time.perf_counter() - t_start)
    _write_record(out, cfg, {"status": "complete", **res.summary()})
    return res


def _write_record(out: Path, cfg: PipelineConfig, body: dict[str, Any]) -> None:
    from resnet_opt.core.artifact import PIPELINE_FILE, PIPELINE_FORMAT

    atomic_write_text(out / PIPELINE_FILE, to_json({"format": PIPELINE_FORMAT, "config": asdict(cfg), **body}) + "\n")


def _stages_markdown(records: list[StageRecord]) -> str:
    lines = ["| stage | status | seconds | output | details |", "|---|---|---|---|---|"]
    for r in records:
        det = r.error or ""
        if r.status == "ok" and r.summary:
            bits = []
            s = r.summary
            if s.get("best_top1") is not None:
                bits.append(f"best val top-1 {s['best_top1']:.2f}% (epoch {s.get('best_epoch')})")
            v = s.get("validation") or {}
            if v.get("top1_agreement") is not None:
                bits.append(f"top-1 agreement with PyTorch FP32 {v['top1_agreement']:.1f}%")
            if v.get("max_abs_diff") is not None:
                bits.append(f"max abs logit Δ {v['max_abs_diff']:.2g}")
            if v.get("fp32_top1") is not None and v.get("int8_top1") is not None:
                bits.append(f"top-1 FP32 {v['fp32_top1']:.2f}% → INT8 {v['int8_top1']:.2f}%")
            q = s.get("quantization") or {}
            if q.get("method"):
                bits.append(", ".join(f"{k.replace('_', ' ')} {q[k]}" for k in ("method", "activation_type", "reduce_range")
                                      if q.get(k) is not None))
            if s.get("macs_before") and s.get("macs_after"):
                bits.append(f"MACs {s['macs_before'] / 1e6:.1f}M → {s['macs_after'] / 1e6:.1f}M, parameters "
                            f"{s['params_before'] / 1e6:.2f}M → {s['params_after'] / 1e6:.2f}M")
            if s.get("top1_after") is not None:
                mid = s.get("top1_before_finetune")
                bits.append(f"val top-1 {s['top1_before']:.2f}% → pruned"
                            + (f" {mid:.2f}% → fine-tuned" if mid is not None else "") + f" {s['top1_after']:.2f}%")
            t = s.get("triton") or {}
            if t.get("platform"):
                bits.append(f"model {t['name']} ({t['platform']}, max_batch_size {t['max_batch_size']}), "
                            f"config schema check {t['schema']}; serve: `{t['serve']}`")
            if s.get("folded") is not None:
                bits.append(f"{s['folded']} BN folded, max rel diff {s.get('max_rel_diff', 0):.1e}")
            det = "; ".join(bits)
        det = det.replace("|", "\\|")
        lines.append(f"| {r.name} | {r.status} | {r.seconds:.1f} | {r.out or ''} | {det} |")
    return "\n".join(lines)
