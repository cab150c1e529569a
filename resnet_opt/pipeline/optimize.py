"""Optimize stage: search for the fastest artifact for this machine within an accuracy budget.

Candidates are pruning levels (a channel ratio, hardware-aware rounding, each level pruned and fine-tuned with
distillation ONCE) × precision (INT8 with the quantize stage's accuracy-gated fallback, FP32, BF16 where OpenVINO and
the CPU run it) × runtime (onnxruntime CPU, OpenVINO, PyTorch eager, AOTInductor ``.pt2``). Every piece is an existing
stage: :func:`~resnet_opt.pipeline.prune.prune_model`, :func:`~resnet_opt.pipeline.quantize.quantize_model`,
:func:`~resnet_opt.pipeline.export.export_artifact`, and the bench harness's runners and
:func:`~resnet_opt.bench.run_benchmark` for latency.

The search:

* level 0 (the source itself) first, then the coarse ratios in increasing order; a level whose fine-tuned FP32 model
  already loses more than ``max_drop`` on the validation split is rejected with every candidate it would have made,
  and no larger ratio is tried; then bisection between the largest passing and the smallest failing ratio
  (``refine_steps`` times);
* each level's artifacts are reused by every runtime that runs them (one INT8 ONNX file on onnxruntime and OpenVINO);
* each candidate's top-1 is measured on the VALIDATION split on the runtime itself; a candidate over the budget is
  rejected before it is timed; the others are timed with the bench harness at ``batch``;
* ``budget_minutes`` bounds the search: no new level starts once the time spent plus the mean cost of a level so far
  would pass it (level 0 always runs);
* resumable: every artifact is written atomically into ``out/levels/...`` and every candidate's figures into
  ``out/candidates.json`` as soon as they are measured; the same search run again (same settings that change the
  figures, see :meth:`OptimizeConfig.fingerprint`) reuses them.

The chosen candidate (the fastest within the budget and the latency target) is copied to ``out/best`` with an
``optimize`` section in its manifest; its top-1 is then reported on the data's report split (the test split where the
data has one; digits has none, so its val split, which the choice was made on, and the result says so)."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from resnet_opt.core.artifact import (
    OPTIMIZE_FILE, OPTIMIZE_FORMAT, atomic_dir, atomic_write_text, check_output_dir, check_writable, pid_alive,
    sha256_path, to_json,
)
from resnet_opt.core.env import cpu_info, library_versions
from resnet_opt.core.errors import (
    AccuracyBudgetError, BackendUnavailableError, ConfigError, NoCandidateError, OutputPathError, ReportBudgetError,
    ResNetOptError,
)
from resnet_opt.core.manifest import Architecture, Manifest, open_artifact, write_manifest
from resnet_opt.core.results import StageResult
from resnet_opt.resnet import ModelSpec

__all__ = [
    "RUNTIMES", "PRECISIONS", "DEFAULT_RATIOS", "OptimizeConfig", "Candidate", "OptimizeResult", "optimize_model",
    "pareto_front", "resolve_runtimes", "resolve_precisions",
]

RUNTIMES = ("onnxruntime", "openvino", "torch", "pt2", "onnxruntime-cuda", "tensorrt", "torch-cuda")
CUDA_RUNTIMES = ("onnxruntime-cuda", "tensorrt", "torch-cuda")
PRECISIONS = ("int8", "fp32", "bf16")
DEFAULT_RATIOS = (0.25, 0.5, 0.75)
# runtime -> the bench backend that times it
BACKEND_OF = {"onnxruntime": "ort-cpu", "openvino": "openvino-cpu", "torch": "torch-cpu", "pt2": "pt2-cpu",
              "onnxruntime-cuda": "ort-cuda", "tensorrt": "ort-tensorrt", "torch-cuda": "torch-cuda"}
# artifact name (a sub-folder of a level) -> (precision, the runtimes that run it). The INT8 QDQ graph runs INT8
# kernels on TensorRT, not on onnxruntime's CUDA provider (which dequantizes), so only TensorRT gets it on a GPU.
ARTIFACTS = {
    "model": ("fp32", ("torch", "torch-cuda")),
    "onnx-fp32": ("fp32", ("onnxruntime", "openvino", "onnxruntime-cuda", "tensorrt")),
    "onnx-int8": ("int8", ("onnxruntime", "openvino", "tensorrt")),
    "openvino-bf16": ("bf16", ("openvino",)),
    "pt2-fp32": ("fp32", ("pt2",)),
    "pt2-int8": ("int8", ("pt2",)),
}
CANDIDATES_FILE = "candidates.json"
TABLE_FILE = "candidates.md"
PLOT_FILE = "pareto.png"
BEST = "best"
LEVELS = "levels"
# what an optimize work folder holds that this stage wrote (the only entries --overwrite removes)
OWN_ENTRIES = (OPTIMIZE_FILE, CANDIDATES_FILE, TABLE_FILE, PLOT_FILE, BEST, LEVELS)


def _split_list(value: str | Sequence[str] | None, what: str) -> list[str]:
    if value is None:
        return ["auto"]
    items = value.split(",") if isinstance(value, str) else list(value)
    out = [str(x).strip().lower() for x in items if str(x).strip()]
    if not out:
        raise ConfigError(f"{what} is empty")
    return out


def resolve_runtimes(value: str | Sequence[str] | None) -> tuple[list[str], dict[str, str]]:
    """``auto`` = onnxruntime, OpenVINO when it is installed, PyTorch eager, and where a CUDA GPU really runs here
    onnxruntime's CUDA and TensorRT providers and PyTorch eager on CUDA; ``pt2`` only when named (its AOTInductor
    compile costs about a minute per artifact on 2 cores). ``all`` = every runtime that is usable here.
    Returns (runtimes, runtime -> why it was left out)."""
    from resnet_opt.bench.backends import unavailable_reason

    names = _split_list(value, "--runtimes")
    aliases = {"ort": "onnxruntime", "ov": "openvino", "eager": "torch", "aoti": "pt2", "ort-cuda": "onnxruntime-cuda",
               "trt": "tensorrt", "ort-tensorrt": "tensorrt", "cuda": "onnxruntime-cuda"}
    # each backend's own probe: onnxruntime's CUDA/TensorRT providers are tried in a tiny session, whatever torch's
    # wheel sees (a CPU-only torch beside a working onnxruntime-gpu)
    skipped: dict[str, str] = {}
    want: list[str] = []
    for n in names:
        n = aliases.get(n, n)
        if n in ("auto", "all"):
            for r in RUNTIMES:
                if r == "pt2" and n == "auto":
                    skipped.setdefault("pt2", "not in auto (an AOTInductor compile per artifact); name it in --runtimes")
                    continue
                why = unavailable_reason(BACKEND_OF[r])
                if why:
                    skipped[r] = why
                elif r not in want:
                    want.append(r)
        elif n in RUNTIMES:
            why = unavailable_reason(BACKEND_OF[n])
            if why:
                raise BackendUnavailableError(f"--runtimes {n}: {why}")
            if n not in want:
                want.append(n)
        else:
            raise ConfigError(f"unknown runtime {n!r} in --runtimes; valid: auto, all, {', '.join(RUNTIMES)}")
    for r in want:
        skipped.pop(r, None)
    return want, skipped


def resolve_precisions(value: str | Sequence[str] | None, runtimes: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """``auto`` = INT8 and FP32, plus BF16 when OpenVINO is among the runtimes and this CPU runs BF16 natively."""
    from resnet_opt.engine.openvino_session import bf16_unavailable_reason

    names = _split_list(value, "--precisions")
    skipped: dict[str, str] = {}
    want: list[str] = []
    for n in names:
        if n == "auto":
            want += [p for p in ("int8", "fp32") if p not in want]
            if "openvino" not in runtimes:
                skipped["bf16"] = "BF16 runs through OpenVINO, which is not among the runtimes"
            else:
                why = bf16_unavailable_reason()
                if why:
                    skipped["bf16"] = why
                elif "bf16" not in want:
                    want.append("bf16")
        elif n in PRECISIONS:
            if n == "bf16":
                if "openvino" not in runtimes:
                    raise ConfigError("--precisions bf16 runs through OpenVINO: add openvino to --runtimes")
                why = bf16_unavailable_reason()
                if why:
                    raise BackendUnavailableError(f"--precisions bf16: {why}")
            if n not in want:
                want.append(n)
        else:
            raise ConfigError(f"unknown precision {n!r} in --precisions; valid: auto, {', '.join(PRECISIONS)}")
    return want, skipped


@dataclass
class OptimizeConfig:
    """The optimize stage's settings, each checked once in :meth:`validate` before any work."""

    out: str | os.PathLike
    source: ModelSpec = field(default_factory=ModelSpec)
    data: str | None = None  # labelled data spec; default: the one the model folder records
    preset: str | None = None
    max_drop: float = 0.5  # top-1 points below the FP32 source on the validation split
    target_latency_ms: float | None = None  # also require this latency at ``batch``
    batch: int = 1
    runtimes: str | Sequence[str] = "auto"
    precisions: str | Sequence[str] = "auto"
    budget_minutes: float = 30.0
    ratios: Sequence[float] = DEFAULT_RATIOS  # coarse pruning levels (channel ratio), tried in increasing order
    refine_steps: int = 2  # bisection steps between the largest passing and the smallest failing ratio
    max_ratio: float = 0.9  # the upper end of the refinement when every coarse level passes
    importance: str = "taylor"
    round_to: int | str | None = "auto"  # hardware-aware channel multiple (measured on the first runtime's kernels)
    finetune_epochs: int = 5  # distilled fine-tune of every pruned level
    lr: float | None = None
    train_limit: int | None = None  # fine-tune on a seeded subset of the training split
    eval_limit: int | None = None  # validation images per candidate (default: all)
    calib_size: int = 128
    iterations: int = 50  # timed runs per candidate (the harness stops a cell early after ``time_budget_s``)
    time_budget_s: float = 5.0
    threads: int | None = None
    seed: int = 0
    overwrite: bool = False  # start afresh in an optimize work folder (only its own entries are removed)

    # filled by validate()
    runtimes_used: list[str] = field(default_factory=list, init=False, repr=False)
    precisions_used: list[str] = field(default_factory=list, init=False, repr=False)
    skipped: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def validate(self) -> None:
        from resnet_opt.core.checks import MAX_COUNT, MAX_EPOCHS, check_float, check_int, check_threads
        from resnet_opt.data import parse_data_spec, require_labelled
        from resnet_opt.optimize.prune import IMPORTANCES

        check_float("--max-drop", self.max_drop, 0.0, 100.0)
        check_float("--target-latency-ms", self.target_latency_ms, 0.0, 1e6, lo_open=True, optional=True)
        check_int("--batch", self.batch, 1, 4096)
        check_float("--budget-minutes", self.budget_minutes, 0.0, 7 * 24 * 60.0, lo_open=True)
        check_int("--refine-steps", self.refine_steps, 0, 10)
        check_float("--max-ratio", self.max_ratio, 0.0, 1.0, lo_open=True, hi_open=True)
        ratios = [self.ratios] if isinstance(self.ratios, (int, float)) else list(self.ratios)
        for r in ratios:
            check_float("--ratios", r, 0.0, 1.0, lo_open=True, hi_open=True)
        if len(set(ratios)) != len(ratios):
            raise ConfigError(f"--ratios has duplicates: {ratios}")
        if any(r > self.max_ratio for r in ratios):
            raise ConfigError(f"--ratios {ratios} goes above --max-ratio {self.max_ratio:g}")
        self.ratios = tuple(sorted(float(r) for r in ratios))
        if str(self.importance).strip().lower() not in IMPORTANCES:
            raise ConfigError(f"unknown importance {self.importance!r}; valid: {', '.join(IMPORTANCES)}")
        self.importance = str(self.importance).strip().lower()
        if isinstance(self.round_to, str):
            t = self.round_to.strip().lower()
            if t == "auto":
                self.round_to = "auto"
            else:
                try:
                    self.round_to = int(t)
                except ValueError:
                    raise ConfigError(f"--round-to must be a positive integer or auto, got {self.round_to!r}") from None
        if self.round_to != "auto":
            check_int("--round-to", self.round_to, 1, 4096, optional=True)
        check_int("--finetune-epochs", self.finetune_epochs, 1, MAX_EPOCHS)
        check_float("--lr", self.lr, 0.0, 10.0, lo_open=True, optional=True)
        check_int("--limit", self.train_limit, 1, MAX_COUNT, optional=True)
        check_int("--eval-limit", self.eval_limit, 1, MAX_COUNT, optional=True)
        check_int("--calib-size", self.calib_size, 1, MAX_COUNT)
        check_int("--iterations", self.iterations, 1, 100_000)
        check_float("--time-budget", self.time_budget_s, 0.0, 3600.0, lo_open=True)
        check_threads(self.threads)
        check_int("--seed", self.seed, 0, 2**32 - 1)
        self.source.validate()
        if self.source.model_dir is None and self.source.weights is None:
            raise ConfigError("optimize needs a trained model (--model DIR or --weights FILE): an accuracy budget "
                              "means nothing for a random-init model")
        if self.data is None:
            recorded = None
            if self.source.model_dir is not None:
                recorded = (self.source.model_config() or {}).get("data")
            if not recorded:
                raise ConfigError("give --data (digits, fashion-mnist or imagefolder:PATH): the accuracy budget is "
                                  "measured on its validation split" + (" and the model folder records none"
                                                                        if self.source.model_dir else ""))
            self.data = str(recorded)
        spec = parse_data_spec(self.data, preset=self.preset)
        require_labelled(spec, "the accuracy budget of optimize")
        if self.source.model_dir is not None:
            from resnet_opt.data import fit_data_to_model

            fit_data_to_model(spec, int((self.source.model_config() or {}).get("input_size") or 224),
                              f"the model {self.source.model_dir}")
        self.runtimes_used, rskip = resolve_runtimes(self.runtimes)
        if not self.runtimes_used:
            raise BackendUnavailableError("no runtime of --runtimes is usable here: " + "; ".join(
                f"{k}: {v}" for k, v in rskip.items()))
        self.precisions_used, pskip = resolve_precisions(self.precisions, self.runtimes_used)
        self.skipped = {**rskip, **pskip}
        if not self.artifact_names():
            raise ConfigError(f"no candidate: precisions {', '.join(self.precisions_used)} do not run on runtimes "
                              f"{', '.join(self.runtimes_used)} (e.g. the torch runtime is FP32 only)")
        self._check_out()

    def artifact_names(self) -> list[str]:
        """The artifacts every level makes for the chosen runtimes and precisions."""
        return [a for a, (p, rts) in ARTIFACTS.items()
                if p in self.precisions_used and any(r in self.runtimes_used for r in rts)]

    def fingerprint(self) -> dict[str, Any]:
        """What changes the candidates' figures: a work folder is resumed only by a search with the same one (the
        budget, the latency target, the runtimes, precisions and ratios may change between runs)."""
        src = self.source
        path = src.model_dir or src.weights
        return {"source": {"model_dir": str(Path(src.model_dir).resolve()) if src.model_dir else None,
                           "weights": str(Path(src.weights).resolve()) if src.weights else None,
                           "depth": str(src.depth) if src.depth is not None else None,
                           "num_classes": src.num_classes,
                           "sha256": sha256_path(Path(path) / "model.safetensors") if src.model_dir
                           else sha256_path(path)},
                "data": str(self.data), "preset": self.preset, "max_drop": float(self.max_drop),
                "batch": int(self.batch), "importance": self.importance, "round_to": self.round_to,
                "finetune_epochs": self.finetune_epochs, "lr": self.lr, "train_limit": self.train_limit,
                "eval_limit": self.eval_limit, "calib_size": self.calib_size, "seed": self.seed,
                "threads": self.threads}

    def _check_out(self) -> None:
        out = Path(self.out)
        record = read_record(out)
        if record is None:
            if out.is_dir() and not out.is_symlink() and any(out.iterdir()):
                raise OutputPathError(f"--out {out} already exists, is not empty and is not an optimize work folder "
                                      "(optimize resumes or, with --overwrite, restarts only its own work folders; "
                                      "it replaces no other folder): choose another --out")
            check_output_dir(out, overwrite=False, what="--out folder")
            return
        check_writable(out, what="--out folder")
        if self.overwrite:
            return
        pid = record.get("pid")
        if record.get("status") == "running" and isinstance(pid, int) and pid != os.getpid() and pid_alive(pid):
            raise OutputPathError(f"--out {out} is being searched by process {pid}; wait for it or choose another "
                                  "--out")
        old = record.get("fingerprint") or {}
        new = self.fingerprint()
        diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if diff:
            raise OutputPathError(f"--out {out} holds an optimize search with other settings (differs in: "
                                  f"{', '.join(diff)}); pass --overwrite to start afresh or choose another --out")


def read_record(out: str | os.PathLike) -> dict[str, Any] | None:
    """The ``optimize.json`` of a work folder, or None when ``out`` is not one."""
    p = Path(out) / OPTIMIZE_FILE
    if Path(out).is_symlink() or not p.is_file():
        return None
    try:
        d = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) and d.get("format") == OPTIMIZE_FORMAT else None


@dataclass
class Candidate:
    """One (pruning level, artifact, runtime): figures on the validation split and at ``batch`` on this CPU."""

    id: str
    ratio: float
    artifact: str  # the artifact's name within its level (onnx-int8, ...)
    path: str | None  # the artifact folder, relative to the work folder (None when it could not be built)
    runtime: str
    backend: str
    precision: str
    kind: str | None = None
    macs: int | None = None
    parameters: int | None = None
    val_top1: float | None = None
    val_count: int | None = None
    drop: float | None = None  # top-1 points below the FP32 source on the same images
    latency_ms: float | None = None  # p50 at ``batch``
    p90_ms: float | None = None
    unstable: bool = False
    status: str = "pending"  # timed | rejected (accuracy) | error | pending
    reason: str | None = None
    excluded_layers: list[str] = field(default_factory=list)  # INT8 layers the accuracy gate kept in FP32
    seconds: float = 0.0  # to build the artifact (its share) and measure it
    within_budget: bool | None = None
    within_target: bool | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Candidate":
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class OptimizeResult(StageResult):
    """The search: every candidate's figures, the Pareto front (ids), the choice and why, the reference figures, and
    what was written. ``best`` is None when no candidate met the budget (then :func:`optimize_model` raised
    :class:`NoCandidateError` unless ``raise_on_none=False``); ``report["within_budget"]`` is False when the choice
    broke the budget on the test split (then it raised :class:`ReportBudgetError`, carrying this result, unless
    ``raise_on_none=False``)."""

    out: Path
    best: Path | None
    chosen: Candidate | None
    why: str
    candidates: list[Candidate]
    front: list[str]
    reference: dict[str, Any]
    report: dict[str, Any]  # the choice on the report split (test where the data has one) and its measured speed-up
    levels: list[dict[str, Any]]
    budget: dict[str, Any]
    files: dict[str, str]
    reused: int = 0
    seconds: float = 0.0


def pareto_front(cands: Sequence[Candidate]) -> list[Candidate]:
    """The timed candidates no other timed one beats on both top-1 (higher) and latency (lower), fastest first."""
    pts = [c for c in cands if c.status == "timed" and c.latency_ms is not None and c.val_top1 is not None]
    front = []
    for c in pts:
        if not any((o.val_top1 >= c.val_top1 and o.latency_ms <= c.latency_ms)
                   and (o.val_top1 > c.val_top1 or o.latency_ms < c.latency_ms) for o in pts if o is not c):
            front.append(c)
    return sorted(front, key=lambda c: (c.latency_ms, -c.val_top1))


def _level_name(ratio: float) -> str:
    return f"r{ratio:.3f}".rstrip("0").rstrip(".") if ratio else "r0"


# ---------------------------------------------------------------------------------------------- the search
class _Search:
    def __init__(self, cfg: OptimizeConfig, say: Callable[[str], None], progress: bool):
        from resnet_opt.data import parse_data_spec

        self.cfg, self.say_raw, self.progress = cfg, say, progress
        self.out = Path(cfg.out)
        self.t0 = time.perf_counter()
        self.spec = parse_data_spec(cfg.data, preset=cfg.preset)
        self.threads = int(cfg.threads or torch.get_num_threads())
        self.cands: dict[str, Candidate] = {}
        self.reused = 0
        self.levels: dict[float, dict[str, Any]] = {}
        self.level_seconds: list[float] = []
        self.stopped: str | None = None

    def say(self, msg: str) -> None:
        self.say_raw(f"[{time.perf_counter() - self.t0:6.0f}s] {msg}")

    def elapsed_min(self) -> float:
        return (time.perf_counter() - self.t0) / 60.0

    # ---------------------------------------------------------------- records
    def load_previous(self) -> None:
        p = self.out / CANDIDATES_FILE
        if not p.is_file():
            return
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError):
            return
        self.prev_reference = d.get("reference") if isinstance(d.get("reference"), dict) else None
        for c in d.get("candidates", []):
            cand = Candidate.from_dict(c)
            if cand.status in ("timed", "rejected") or (cand.status == "error" and cand.path is None):
                self.cands[cand.id] = cand
        for lv in d.get("levels", []):
            if lv.get("status") in ("ok", "rejected"):
                self.levels[float(lv["ratio"])] = lv

    def write_record(self, status: str) -> None:
        rec = {"format": OPTIMIZE_FORMAT, "version": 1, "status": status, "pid": os.getpid(),
               "fingerprint": self.cfg.fingerprint(), "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        atomic_write_text(self.out / OPTIMIZE_FILE, to_json(rec) + "\n")

    def save_candidates(self, extra: dict[str, Any] | None = None) -> None:
        body = {"format": "resnet-opt-optimize-candidates", "reference": getattr(self, "reference", None),
                "levels": [self.levels[r] for r in sorted(self.levels)],
                "candidates": [asdict(c) for c in self.cands.values()], **(extra or {})}
        atomic_write_text(self.out / CANDIDATES_FILE, to_json(body) + "\n")

    # ---------------------------------------------------------------- measuring
    def val_set(self) -> tuple[torch.Tensor, torch.Tensor]:
        if not hasattr(self, "_val"):
            from resnet_opt.data import build_loader
            from resnet_opt.engine import materialize

            self._val = materialize(build_loader(self.spec, "val", batch_size=128, limit=self.cfg.eval_limit,
                                                 seed=self.cfg.seed))
        return self._val

    def top1(self, path: Path, runtime: str, split: str = "val") -> tuple[float, int]:
        """Top-1 of the artifact at ``path`` run by ``runtime``'s bench runner (what is timed is what is scored)."""
        from resnet_opt.bench.backends import BACKENDS, make_runner
        from resnet_opt.bench.variants import variant_from_path
        from resnet_opt.engine import accuracy_from_logits

        if split == "val":
            x, y = self.val_set()
        else:
            from resnet_opt.data import build_loader
            from resnet_opt.engine import materialize

            x, y = materialize(build_loader(self.spec, split, batch_size=128, seed=self.cfg.seed))
        runner = make_runner(BACKENDS[BACKEND_OF[runtime]], variant_from_path(path), self.threads)
        try:
            logits = torch.cat([runner.logits(x[i:i + 64]).float() for i in range(0, len(x), 64)])
        finally:
            runner.close()
        acc = accuracy_from_logits(logits, y)
        return acc.top1, acc.count

    def latency(self, items: list[tuple[str, Path, str]], *, rounds: int = 1,
                iterations: int | None = None) -> dict[str, Any]:
        """p50/p90 at ``batch`` of each (key, artifact folder, runtime), measured in one harness run."""
        from resnet_opt.bench import BenchConfig, run_benchmark
        from resnet_opt.bench.timing import TimingConfig
        from resnet_opt.bench.variants import variant_from_path

        if not items:
            return {}
        variants = []
        for key, path, runtime in items:
            v = variant_from_path(path, name=key)
            v.backends = [BACKEND_OF[runtime]]
            variants.append(v)
        backends = sorted({BACKEND_OF[r] for _, _, r in items})
        n = iterations or self.cfg.iterations
        bc = BenchConfig(backends=backends, batch_sizes=[self.cfg.batch], threads=self.cfg.threads,
                         measure_quality=False, roofline=False,
                         timing=TimingConfig(warmup=5, iterations=n, rounds=rounds,
                                             time_budget_s=self.cfg.time_budget_s * rounds))
        res = run_benchmark(variants, bc, title="resnet-opt optimize")
        out: dict[str, Any] = {}
        for row in res.rows:
            st = row.timing(self.cfg.batch)
            out[row.variant] = (st, row.reason)
        return out

    # ---------------------------------------------------------------- levels
    def source_level(self) -> dict[str, Any]:
        """Level 0: the source model folder (the given one, or the weights saved as one inside the work folder)."""
        cfg = self.cfg
        if cfg.source.model_dir is not None:
            model_dir = Path(cfg.source.model_dir)
        else:
            model_dir = self.out / LEVELS / "r0" / "model"
            if not (model_dir / "manifest.json").is_file():
                from resnet_opt.resnet import save_model

                from resnet_opt.data import preprocessing_for

                pre = preprocessing_for(self.spec)  # a weights file records no input: the data decides it
                src = cfg.source.load(input_size=int(pre.crop), preprocessing=pre)
                with atomic_dir(model_dir) as tmp:
                    save_model(src.model, tmp, input_size=src.input_size, preprocessing=src.preprocessing,
                               class_names=src.class_names, extra={"stage": "optimize-source",
                                                                   "source": src.describe(), "data": str(self.spec)},
                               in_place=True)
                    write_manifest(tmp, Manifest.for_model_folder(
                        stage="optimize-source", source=src.manifest_source(),
                        architecture=Architecture.of_model(src.model), input_size=src.input_size,
                        preprocessing=src.preprocessing, class_names=src.class_names))
        from resnet_opt.resnet import count_macs, count_params, load_model, read_config

        model = load_model(model_dir)
        size = int(read_config(model_dir).get("input_size") or 224)
        from resnet_opt.data import fit_data_to_model

        fit_data_to_model(self.spec, size, f"the model {model_dir}")
        return {"ratio": 0.0, "name": "r0", "model": str(model_dir), "input_size": size,
                "macs": count_macs(model, size), "parameters": count_params(model)}

    def make_level(self, ratio: float) -> dict[str, Any]:
        """Prune at ``ratio`` and fine-tune with distillation from the source (reused when already in the folder)."""
        from resnet_opt.pipeline.prune import PruneConfig, prune_model

        name = _level_name(ratio)
        folder = self.out / LEVELS / name / "model"
        if (folder / "manifest.json").is_file():
            man = open_artifact(folder).manifest
            after = man.measurements.after or {}
            self.say(f"{name}: reusing the pruned, fine-tuned model in {folder}")
            self.reused += 1
            return {"ratio": ratio, "name": name, "model": str(folder), "macs": after.get("macs"),
                    "parameters": after.get("parameters"), "reused": True}
        cfg = self.cfg
        round_to = cfg.round_to
        rt = "torch" if self.cfg.runtimes_used == ["torch"] else "onnxruntime"
        prec = "int8" if "int8" in cfg.precisions_used and rt == "onnxruntime" else "fp32"
        self.say(f"{name}: pruning {ratio:.0%} of the channels ({cfg.importance}, round_to {round_to}), then "
                 f"{cfg.finetune_epochs} fine-tune epoch(s) distilled from the source ...")
        res = prune_model(PruneConfig(out=folder, source=ModelSpec(model_dir=self.source["model"]), ratio=ratio,
                                      importance=cfg.importance, round_to=round_to, target_runtime=rt,
                                      target_precision=prec, data=str(self.spec), preset=cfg.preset,
                                      finetune_epochs=cfg.finetune_epochs, distill=True, lr=cfg.lr,
                                      train_limit=cfg.train_limit, eval_limit=cfg.eval_limit, seed=cfg.seed,
                                      latency_runs=3, overwrite=True), progress=self.progress)
        ft = res.finetune or {}
        self.say(f"{name}: {res.before['macs'] / 1e6:.1f}M -> {res.after['macs'] / 1e6:.1f}M MACs, fine-tuned "
                 f"{ft.get('epochs')} epoch(s) in {ft.get('seconds', 0.0):.0f}s")
        return {"ratio": ratio, "name": name, "model": str(folder), "macs": res.after["macs"],
                "parameters": res.after["parameters"], "reused": False}

    def build_artifact(self, level: dict[str, Any], art: str, budget_left: float) -> tuple[Path, dict[str, Any]]:
        """The level's artifact ``art`` (built by the existing stage, or reused). Returns (folder, info)."""
        from resnet_opt.pipeline.export import ExportConfig, export_artifact
        from resnet_opt.pipeline.quantize import QuantizeConfig, quantize_model

        cfg = self.cfg
        if art == "model":
            return Path(level["model"]), {}
        folder = self.out / LEVELS / level["name"] / art
        if (folder / "manifest.json").is_file():
            self.reused += 1
            return folder, {"reused": True}
        src = ModelSpec(model_dir=level["model"])
        t0 = time.perf_counter()
        self.say(f"{level['name']}: building {art} ...")
        if art == "onnx-int8":
            quantize_model(QuantizeConfig(out=folder, source=src, target="onnx", data=str(self.spec),
                                          preset=cfg.preset, calib_size=cfg.calib_size, eval_size=cfg.eval_limit,
                                          max_accuracy_drop=max(budget_left, 0.0), latency_runs=3,
                                          threads=cfg.threads, seed=cfg.seed))
        elif art == "pt2-int8":
            quantize_model(QuantizeConfig(out=folder, source=src, target="torch", data=str(self.spec),
                                          preset=cfg.preset, calib_size=cfg.calib_size, eval_size=cfg.eval_limit,
                                          latency_runs=3, threads=cfg.threads, seed=cfg.seed))
        else:
            fmt, prec = {"onnx-fp32": ("onnx", "f32"), "openvino-bf16": ("openvino", "bf16"),
                         "pt2-fp32": ("pt2", "f32")}[art]
            export_artifact(ExportConfig(fmt, out=folder, source=src, data=str(self.spec), preset=cfg.preset,
                                         inference_precision=prec, count=32))
        return folder, {"seconds": time.perf_counter() - t0}

    def reject_level(self, level: dict[str, Any], fp32_drop: float) -> None:
        """Early rejection: the level's FP32 model already breaks the budget, so none of its candidates is built;
        each is recorded as rejected with the reason."""
        cfg, name, ratio = self.cfg, level["name"], level["ratio"]
        level.update(status="rejected", reason=f"FP32 after fine-tune already loses {fp32_drop:.2f} pt "
                                               f"(> --max-drop {cfg.max_drop:g})")
        for art in cfg.artifact_names():
            prec, rts = ARTIFACTS[art]
            for rt in rts:
                if rt not in cfg.runtimes_used:
                    continue
                cid = f"{name}/{art}/{rt}"
                self.cands[cid] = Candidate(id=cid, ratio=ratio, artifact=art, path=None, runtime=rt,
                                            backend=BACKEND_OF[rt], precision=prec, macs=level.get("macs"),
                                            parameters=level.get("parameters"), status="rejected",
                                            drop=fp32_drop if prec == "fp32" else None,
                                            reason="early rejection: " + level["reason"], within_budget=False)
        self.say(f"{name}: rejected ({level['reason']}); no candidate of it is built")
        self.levels[ratio] = level
        self.save_candidates()

    def time_level(self, name: str, ratio: float, level: dict[str, Any],
                   to_time: list[tuple[str, Path, str]]) -> None:
        """Time a level's candidates that are within the budget (level 0 also times the source, the baseline)."""
        cfg = self.cfg
        if ratio == 0 and self.reference.get("latency_ms") is None and not any(k == "r0/model/torch"
                                                                                for k, _, _ in to_time):
            to_time.append(("source", Path(level["model"]), "torch"))  # the baseline, timed beside level 0
        if to_time:
            self.say(f"{name}: timing {len(to_time)} candidate(s) at batch {cfg.batch} ...")
            lat = self.latency(to_time)
            if ratio == 0 and self.reference.get("latency_ms") is None:
                st, why = lat.get("r0/model/torch" if "r0/model/torch" in lat else "source", (None, None))
                self.reference["latency_ms"] = st.p50_ms if st is not None else None
                to_time = [t for t in to_time if t[0] != "source"]
            for cid, _, _ in to_time:
                c = self.cands[cid]
                st, why = lat.get(cid, (None, "not measured"))
                if st is None:
                    c.status, c.reason = "error", f"latency: {why or 'not measured'}"
                    continue
                c.latency_ms, c.p90_ms, c.unstable, c.status = st.p50_ms, st.p90_ms, bool(st.unstable), "timed"
                c.within_target = cfg.target_latency_ms is None or c.latency_ms <= cfg.target_latency_ms
                self.say(f"{cid}: val top-1 {c.val_top1:.2f} % (drop {c.drop:+.2f}), {c.latency_ms:.3f} ms"
                         + (" (unstable timing)" if c.unstable else ""))

    def run_level(self, level: dict[str, Any]) -> bool:
        """Every candidate of a level. True when the level passes (its FP32 model is within the budget)."""
        cfg = self.cfg
        t_level = time.perf_counter()
        name, ratio = level["name"], level["ratio"]
        ref = self.reference["val_top1"]
        # early rejection: the level's FP32 model (the torch eager candidate, which every other one derives from)
        mkey = f"{name}/model/torch"
        if mkey in self.cands and self.cands[mkey].val_top1 is not None:
            fp32_top1 = self.cands[mkey].val_top1
        else:
            fp32_top1, _ = self.top1(Path(level["model"]), "torch")
        fp32_drop = ref - fp32_top1
        level.update(fp32_val_top1=fp32_top1, fp32_drop=fp32_drop)
        self.say(f"{name}: FP32 val top-1 {fp32_top1:.2f} % (drop {fp32_drop:+.2f} pt vs the source)")
        arts = cfg.artifact_names()
        if fp32_drop > cfg.max_drop + 1e-9:
            self.reject_level(level, fp32_drop)
            return False
        to_time: list[tuple[str, Path, str]] = []
        for art in arts:
            prec, rts = ARTIFACTS[art]
            rts = [r for r in rts if r in cfg.runtimes_used]
            todo = [f"{name}/{art}/{r}" for r in rts if f"{name}/{art}/{r}" not in self.cands]
            if not todo:
                continue
            t0 = time.perf_counter()
            try:
                folder, info = self.build_artifact(level, art, cfg.max_drop - fp32_drop)
            except ResNetOptError as e:
                why = " ".join(str(e).split())
                if isinstance(e, AccuracyBudgetError):
                    why = f"INT8 accuracy gate: {why}"
                self.say(f"{name}: {art} failed: {why}")
                for cid in todo:
                    rt = cid.rsplit("/", 1)[1]
                    self.cands[cid] = Candidate(id=cid, ratio=ratio, artifact=art, path=None, runtime=rt,
                                                backend=BACKEND_OF[rt], precision=prec, macs=level.get("macs"),
                                                parameters=level.get("parameters"),
                                                status="rejected" if isinstance(e, AccuracyBudgetError) else "error",
                                                reason=why, within_budget=False)
                self.save_candidates()
                continue
            built_s = time.perf_counter() - t0
            man = open_artifact(folder).manifest
            excluded = list(man.quantization.excluded_layers or [])
            rel = os.path.relpath(folder, self.out) if _inside(folder, self.out) else str(folder)
            for cid in todo:
                rt = cid.rsplit("/", 1)[1]
                t1 = time.perf_counter()
                c = Candidate(id=cid, ratio=ratio, artifact=art, path=rel, runtime=rt, backend=BACKEND_OF[rt],
                              precision=prec, kind=man.kind, macs=level.get("macs"),
                              parameters=level.get("parameters"), excluded_layers=excluded)
                try:
                    c.val_top1, c.val_count = self.top1(folder, rt)
                except ResNetOptError as e:
                    c.status, c.reason = "error", f"accuracy: {' '.join(str(e).split())}"
                    self.cands[cid] = c
                    continue
                c.drop = ref - c.val_top1
                c.within_budget = c.drop <= cfg.max_drop + 1e-9
                c.seconds = built_s / len(todo) + time.perf_counter() - t1
                if not c.within_budget:
                    c.status = "rejected"
                    c.reason = f"early rejection: loses {c.drop:.2f} pt (> --max-drop {cfg.max_drop:g}); not timed"
                    self.say(f"{cid}: val top-1 {c.val_top1:.2f} % (drop {c.drop:.2f}): rejected, not timed")
                else:
                    to_time.append((cid, folder, rt))
                self.cands[cid] = c
            self.save_candidates()
        self.time_level(name, ratio, level, to_time)
        level.update(status="ok", seconds=time.perf_counter() - t_level)
        self.levels[ratio] = level
        self.save_candidates()
        return True

    # ---------------------------------------------------------------- the whole search
    def within_budget(self, what: str) -> bool:
        spent = self.elapsed_min()
        est = (statistics.mean(self.level_seconds) / 60.0) if self.level_seconds else 0.0
        if spent + est > self.cfg.budget_minutes:
            self.stopped = (f"the budget of {self.cfg.budget_minutes:g} min was spent ({spent:.1f} min used, a level "
                            f"costs about {est:.1f} min) before {what}")
            self.say(f"stopping: {self.stopped}")
            return False
        return True

    def level(self, ratio: float) -> bool:
        """Run one pruning level (or reuse it). True when it passes."""
        prev = self.levels.get(ratio)
        if prev is not None and prev.get("status") == "rejected":
            self.say(f"{prev['name']}: rejected in an earlier run ({prev.get('reason')})")
            self.reused += 1
            return False
        t0 = time.perf_counter()
        lv = self.source if ratio == 0 else self.make_level(ratio)
        ok = self.run_level(dict(lv))
        if not lv.get("reused"):
            self.level_seconds.append(time.perf_counter() - t0)
        return ok

    def search(self) -> None:
        cfg = self.cfg
        passing, failing = 0.0, None
        self.level(0.0)
        for r in cfg.ratios:
            if not self.within_budget(f"level {_level_name(r)}"):
                return
            if self.level(r):
                passing = r
            else:
                failing = r
                break
        for _ in range(cfg.refine_steps):
            hi = failing if failing is not None else cfg.max_ratio
            if hi - passing < 0.02 or (failing is None and passing >= cfg.max_ratio):
                break
            mid = round((passing + hi) / 2, 3)
            if mid in self.levels and self.levels[mid].get("status") == "ok":
                passing = mid
                continue
            if not self.within_budget(f"refining at {_level_name(mid)}"):
                return
            if self.level(mid):
                passing = mid
            else:
                failing = mid


def _inside(p: Path, root: Path) -> bool:
    try:
        return p.resolve().is_relative_to(root.resolve())
    except (OSError, ValueError):
        return False


def _fmt_ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _table(cands: Sequence[Candidate], chosen: Candidate | None, front_ids: set[str]) -> str:
    lines = ["| candidate | ratio | MACs | precision | runtime | val top-1 % | drop (pt) | latency p50 ms | p90 ms | "
             "status |", "|---|---|---|---|---|---|---|---|---|---|"]
    for c in sorted(cands, key=lambda c: (c.ratio, c.artifact, c.runtime)):
        mark = (" **chosen**" if chosen is not None and c.id == chosen.id else "") + \
            (" (front)" if c.id in front_ids else "")
        status = c.status + (f": {c.reason}" if c.reason and c.status != "timed" else "")
        if c.status == "timed" and c.within_target is False:
            status += " (over --target-latency-ms)"
        lines.append(f"| {c.id}{mark} | {c.ratio:g} | {(c.macs or 0) / 1e6:.1f}M | {c.precision} | {c.runtime} | "
                     + ("-" if c.val_top1 is None else f"{c.val_top1:.2f}") + " | "
                     + ("-" if c.drop is None else f"{c.drop:+.2f}") + f" | {_fmt_ms(c.latency_ms)}"
                     + ("!" if c.unstable else "") + f" | {_fmt_ms(c.p90_ms)} | {status.replace('|', '/')} |")
    return "\n".join(lines)


def _plot(path: Path, cands: Sequence[Candidate], front: Sequence[Candidate], chosen: Candidate | None,
          reference: dict[str, Any], cfg: OptimizeConfig) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
    timed = [c for c in cands if c.status == "timed"]
    for prec, marker in (("int8", "o"), ("fp32", "s"), ("bf16", "^")):
        pts = [c for c in timed if c.precision == prec]
        if pts:
            ax.scatter([c.latency_ms for c in pts], [c.val_top1 for c in pts], marker=marker, alpha=0.7,
                       label=f"{prec} candidates")
    if front:
        ax.plot([c.latency_ms for c in front], [c.val_top1 for c in front], "k--", lw=1, label="Pareto front")
    if reference.get("latency_ms"):
        ax.scatter([reference["latency_ms"]], [reference["val_top1"]], marker="x", s=80, c="red",
                   label="FP32 eager source")
    ax.axhline(reference["val_top1"] - cfg.max_drop, color="grey", lw=0.8, ls=":",
               label=f"budget: -{cfg.max_drop:g} pt")
    if cfg.target_latency_ms:
        ax.axvline(cfg.target_latency_ms, color="grey", lw=0.8, ls="-.", label="--target-latency-ms")
    if chosen is not None and chosen.latency_ms is not None:
        ax.scatter([chosen.latency_ms], [chosen.val_top1], s=220, facecolors="none", edgecolors="green", lw=2,
                   label=f"chosen: {chosen.id}")
    ax.set_xscale("log")
    ax.set_xlabel(f"latency p50 at batch {cfg.batch} (ms, log scale)")
    ax.set_ylabel("val top-1 (%)")
    ax.set_title("resnet-opt optimize: accuracy vs latency")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def _remove_own(out: Path) -> None:
    """--overwrite of an optimize work folder: remove what this stage wrote there, nothing else."""
    for name in OWN_ENTRIES:
        p = out / name
        if p.is_symlink() or p.is_file():
            p.unlink()
        elif p.is_dir():
            shutil.rmtree(p)


def _why_none(cfg: OptimizeConfig, cands: list[Candidate], timed: list[Candidate], ref_top1: float) -> str:
    """Why no candidate qualifies, naming the closest ones (the fastest within the budget, else the least lossy)."""
    if [c for c in timed if c.within_budget]:
        near = sorted((c for c in timed if c.within_budget), key=lambda c: c.latency_ms)[:3]
        return (f"no candidate within {cfg.max_drop:g} pt runs under --target-latency-ms "
                f"{cfg.target_latency_ms:g}; the fastest: " + ", ".join(
                    f"{c.id} {c.latency_ms:.3f} ms (drop {c.drop:+.2f})" for c in near))
    scored = [c for c in cands if c.drop is not None]
    near = sorted(scored, key=lambda c: c.drop)[:3]
    return (f"no candidate stays within {cfg.max_drop:g} pt of the FP32 source "
            f"({ref_top1:.2f} %); the closest: " + (", ".join(
                f"{c.id} drop {c.drop:.2f}" for c in near) or "none was measured"))


def _write_table(path: Path, s: _Search, cands: list[Candidate], front: list[Candidate], chosen: Candidate | None,
                 why: str, report: dict[str, Any]) -> None:
    """The search's markdown report: the source, the choice and why, every candidate, the Pareto front."""
    cfg = s.cfg
    md = [f"# resnet-opt optimize: {Path(s.source['model']).name} on {s.spec}", "",
          f"FP32 eager source: val top-1 {s.reference['val_top1']:.2f} % ({s.reference['val_count']} images), "
          f"{s.reference['latency_ms']:.3f} ms at batch {cfg.batch}; budget {cfg.max_drop:g} pt"
          + (f", target {cfg.target_latency_ms:g} ms" if cfg.target_latency_ms else "")
          + f"; CPU {cpu_info()['model']}, {s.threads} thread(s).", "",
          f"**Choice:** {chosen.id if chosen else 'none'}: {why}.", "", "## Every candidate", "",
          _table(cands, chosen, {c.id for c in front}), "", "## Pareto front (val top-1 vs latency)", "",
          _table(front, chosen, {c.id for c in front}), ""]
    if report:
        md += ["## The choice on the report split", "", *([f"**Warning: {report['warning']}.**", ""]
                                                          if report.get("warning") else []),
               "```", to_json(report), "```", ""]
    if s.stopped:
        md += [f"Search stopped early: {s.stopped}.", ""]
    atomic_write_text(path, "\n".join(md))


def optimize_model(config: OptimizeConfig, *, progress: bool = False, log: Callable[[str], None] | None = None,
                   raise_on_none: bool = True) -> OptimizeResult:
    """Search for the fastest artifact within ``config.max_drop`` top-1 points of the FP32 source (and under
    ``config.target_latency_ms`` when given) on this machine, and write it to ``config.out/best``. Raises
    :class:`NoCandidateError` (after writing every candidate's figures) when none qualifies, and
    :class:`ReportBudgetError` (after writing everything, ``best/`` included and marked so; the error's ``result`` is
    this function's result) when the choice breaks the budget on the test split. ``raise_on_none=False`` returns
    the result in both cases instead."""
    cfg = config
    cfg.validate()
    out = Path(cfg.out)
    say = log or (lambda _m: None)
    if cfg.overwrite and read_record(out) is not None:
        _remove_own(out)
    out.mkdir(parents=True, exist_ok=True)
    s = _Search(cfg, say, progress)
    resumed = read_record(out) is not None
    if resumed:
        s.load_previous()
        if s.cands:
            s.say(f"resuming the search in {out}: {len(s.cands)} candidate(s) already measured")
    s.write_record("running")
    if cfg.skipped:
        s.say("left out: " + "; ".join(f"{k} ({v})" for k, v in cfg.skipped.items()))
    s.say(f"runtimes {', '.join(cfg.runtimes_used)}; precisions {', '.join(cfg.precisions_used)}; budget "
          f"{cfg.budget_minutes:g} min; max drop {cfg.max_drop:g} pt on the val split of {s.spec}")

    # ---- the reference: the FP32 source on torch eager
    s.source = s.source_level()
    ref_key = "r0/model/torch"
    prev_ref = s.cands.get(ref_key)
    if prev_ref is not None and prev_ref.val_top1 is not None:
        ref_top1, ref_n = prev_ref.val_top1, prev_ref.val_count
    else:
        ref_top1, ref_n = s.top1(Path(s.source["model"]), "torch")
    s.reference = {"model": s.source["model"], "val_top1": ref_top1, "val_count": ref_n,
                   "macs": s.source["macs"], "parameters": s.source["parameters"],
                   "latency_ms": prev_ref.latency_ms if prev_ref is not None else
                   (getattr(s, "prev_reference", None) or {}).get("latency_ms")}
    s.say(f"source: {Path(s.source['model']).name}, FP32 val top-1 {ref_top1:.2f} % on {ref_n} images")

    s.search()
    if s.reference.get("latency_ms") is None:  # every level-0 candidate was reused: time the source alone
        st, why = s.latency([("source", Path(s.source["model"]), "torch")])["source"]
        if st is None:
            raise ResNetOptError(f"the FP32 source could not be timed: {why}")
        s.reference["latency_ms"] = st.p50_ms
    s.say(f"source: FP32 torch eager {s.reference['latency_ms']:.3f} ms at batch {cfg.batch}")

    # ---- the choice
    cands = list(s.cands.values())
    front = pareto_front(cands)
    timed = [c for c in cands if c.status == "timed"]
    for c in timed:  # this run's budget and target (a resumed search may change the target)
        c.within_budget = c.drop is not None and c.drop <= cfg.max_drop + 1e-9
        c.within_target = cfg.target_latency_ms is None or c.latency_ms <= cfg.target_latency_ms
    ok = [c for c in timed if c.within_budget and c.within_target]
    chosen = min(ok, key=lambda c: (c.latency_ms, -c.val_top1)) if ok else None
    files = {"candidates": str(out / CANDIDATES_FILE), "table": str(out / TABLE_FILE), "plot": str(out / PLOT_FILE)}
    budget = {"minutes": cfg.budget_minutes, "spent_minutes": s.elapsed_min(), "stopped": s.stopped}
    report: dict[str, Any] = {}
    if chosen is not None:
        speed = s.reference["latency_ms"] / chosen.latency_ms
        why = (f"the fastest of {len(ok)} candidate(s) within {cfg.max_drop:g} pt of the FP32 source on the val "
               f"split" + (f" and under {cfg.target_latency_ms:g} ms" if cfg.target_latency_ms else "")
               + f" ({len(cands)} built or rejected, {len(front)} on the front)")
        report = _finish_best(s, chosen, why)
        why += f"; {report['speedup_vs_fp32_eager']:.2f}x faster than the FP32 eager source (measured together)" \
            if report.get("speedup_vs_fp32_eager") else f"; {speed:.2f}x the source's latency"
    else:
        why = _why_none(cfg, cands, timed, s.reference["val_top1"])
    extra = {"front": [c.id for c in front], "chosen": chosen.id if chosen else None, "why": why,
             "report": report, "budget": budget, "settings": {**cfg.fingerprint(),
                                                               "runtimes": cfg.runtimes_used,
                                                               "precisions": cfg.precisions_used,
                                                               "skipped": cfg.skipped,
                                                               "target_latency_ms": cfg.target_latency_ms,
                                                               "budget_minutes": cfg.budget_minutes},
             "cpu": cpu_info(), "versions": library_versions()}
    s.save_candidates(extra)
    _write_table(out / TABLE_FILE, s, cands, front, chosen, why, report)
    try:
        _plot(out / PLOT_FILE, cands, front, chosen, s.reference, cfg)
    except Exception as e:  # noqa: BLE001 - the plot is an addition to the tables
        say(f"warning: the plot could not be drawn: {type(e).__name__}: {e}")
        files.pop("plot")
    if chosen is None and (out / BEST).is_dir() and read_record(out) is not None:
        shutil.rmtree(out / BEST)  # an earlier run's choice (ours) would contradict this run's figures
    s.write_record("done" if chosen else "no-candidate")
    result = OptimizeResult(out=out, best=out / BEST if chosen else None, chosen=chosen, why=why, candidates=cands,
                            front=[c.id for c in front], reference=s.reference, report=report,
                            levels=[s.levels[r] for r in sorted(s.levels)], budget=budget, files=files,
                            reused=s.reused, seconds=time.perf_counter() - s.t0)
    if chosen is None and raise_on_none:
        raise NoCandidateError(why)
    if report.get("within_budget") is False and raise_on_none:
        raise ReportBudgetError(report["warning"] + "; best/ is kept, marked over budget in its manifest", result)
    return result


def _finish_best(s: _Search, chosen: Candidate, why: str) -> dict[str, Any]:
    """Copy the chosen artifact to ``out/best`` (its manifest gains an ``optimize`` section), report its top-1 on
    the data's report split beside the source's, and time it against the FP32 eager source in one run."""
    from resnet_opt.data import report_split

    cfg, out = s.cfg, s.out
    src = out / chosen.path if not Path(chosen.path).is_absolute() else Path(chosen.path)
    split = report_split(s.spec)
    s.say(f"chosen: {chosen.id}; measuring it on the {split} split and against the FP32 eager source ...")
    best_top1, n = s.top1(src, chosen.runtime, split)
    ref_top1, _ = s.top1(Path(s.source["model"]), "torch", split)
    lat = s.latency([("source", Path(s.source["model"]), "torch"), ("chosen", src, chosen.runtime)], rounds=3,
                    iterations=cfg.iterations)
    st_src, st_best = lat["source"][0], lat["chosen"][0]
    report = {"split": split, "images": n, "top1": best_top1, "fp32_source_top1": ref_top1,
              "drop": ref_top1 - best_top1,
              "note": None if split == "test" else (f"{s.spec} has no test split: reported on the val split, the same "
                                                    "images the choice was made on"),
              "latency_ms": st_best.p50_ms if st_best else None,
              "fp32_source_latency_ms": st_src.p50_ms if st_src else None,
              "speedup_vs_fp32_eager": (st_src.p50_ms / st_best.p50_ms) if st_src and st_best else None,
              "batch": cfg.batch, "threads": s.threads, "timing": "one harness run, 3 interleaved rounds",
              "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    # The choice was made on val figures, which carry sampling noise (and the fastest candidate near the budget is
    # the one most likely to have been flattered by it): a report split that shows the budget broken is said, never
    # left to a reader to notice.
    report["within_budget"] = split != "test" or report["drop"] <= cfg.max_drop + 1e-9
    if not report["within_budget"]:
        n_val = chosen.val_count or 0
        p = (chosen.val_top1 or 0.0) / 100.0
        se = 100.0 * (p * (1.0 - p) / n_val) ** 0.5 if n_val else float("nan")
        report["val_standard_error_pt"] = se
        report["warning"] = (f"on the {split} split the choice loses {report['drop']:.2f} pt, more than --max-drop "
                             f"{cfg.max_drop:g}: its val top-1 on {n_val} images is known to about +/-{se:.2f} pt (one "
                             "standard error) and the fastest candidate near the budget is the one that noise most "
                             "likely flattered; score on more val images (--eval-limit, default all) or give a tighter "
                             "--max-drop")
        s.say("warning: " + report["warning"])
    section = {"candidate": asdict(chosen), "why": why, "runtime": chosen.runtime, "backend": chosen.backend,
               "load_with": {"onnxruntime": "runtime.load(path) (onnxruntime CPU)",
                             "openvino": "runtime.load(path, provider='openvino')"}.get(chosen.runtime,
                                                                                      "runtime.load(path)"),
               "max_drop": cfg.max_drop, "target_latency_ms": cfg.target_latency_ms,
               "reference": s.reference, "report": report, "candidates": len(s.cands),
               "front": [c.id for c in pareto_front(list(s.cands.values()))],
               "search": {"ratios": list(cfg.ratios), "refine_steps": cfg.refine_steps,
                          "runtimes": cfg.runtimes_used, "precisions": cfg.precisions_used,
                          "budget_minutes": cfg.budget_minutes, "spent_minutes": s.elapsed_min(),
                          "finetune_epochs": cfg.finetune_epochs, "importance": cfg.importance,
                          "round_to": cfg.round_to, "data": str(s.spec)},
               "work_folder": str(out)}
    art = open_artifact(src)
    with atomic_dir(out / BEST) as tmp:
        for f in art.manifest.files:
            (tmp / f.path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / f.path, tmp / f.path)
        if art.kind == "model" and (src / "config.json").is_file() and not any(
                f.path == "config.json" for f in art.manifest.files):
            shutil.copyfile(src / "config.json", tmp / "config.json")
        write_manifest(tmp, art.manifest.derive(sections={"optimize": section}, created=art.manifest.created))
    open_artifact(out / BEST)  # checked as every consumer opens it
    if report["speedup_vs_fp32_eager"]:
        s.say(f"{chosen.id}: {report['latency_ms']:.3f} ms vs {report['fp32_source_latency_ms']:.3f} ms FP32 eager = "
              f"{report['speedup_vs_fp32_eager']:.2f}x; {split} top-1 {best_top1:.2f} % vs {ref_top1:.2f} %")
    return report

