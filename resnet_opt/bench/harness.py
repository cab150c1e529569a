"""The benchmark harness: every variant on every backend that can run it — load time, first inference, accuracy
(or top-1 agreement with the FP32 reference) and latency percentiles per batch size.

Two phases: (1) load each (variant, backend) pair, time its first inference and measure its quality; (2) time every
live pair per batch size, optionally in interleaved rounds. A pair that is not available is recorded as skipped
with the reason; one that crashes is recorded as an error and the others go on.
"""

from __future__ import annotations

import datetime as _dt
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch

from resnet_opt.bench.backends import (
    BACKENDS, BackendSpec, Runner, check_compatible, make_runner, parse_backends, set_threads, unavailable_reason,
)
from resnet_opt.bench.timing import LatencyStats, TimingConfig, timed_runs
from resnet_opt.bench.variants import Variant
from resnet_opt.core.errors import BackendUnavailableError, ConfigError, ResNetOptError

OK, SKIPPED, ERROR = "ok", "skipped", "error"


@dataclass
class BenchConfig:
    backends: list[str] = field(default_factory=lambda: ["cpu"])
    batch_sizes: list[int] = field(default_factory=lambda: [1])
    threads: int | None = None
    timing: TimingConfig = field(default_factory=TimingConfig)
    data: str | None = None  # labelled spec -> top-1/top-5; unlabelled or None -> agreement on synthetic inputs
    eval_limit: int | None = None  # images of the data's report split (test where it has one, else val) for accuracy
    eval_batch_size: int = 64
    agreement_images: int = 32  # synthetic inputs for agreement when there is no labelled data
    reference: str | None = None  # variant name of the reference (default: the first trained FP32 eager model, else
    # the first trained FP32 one, else the first trained one; random-init models only when nothing is trained)
    measure_quality: bool = True
    seed: int = 0
    roofline: bool = True  # GEMM peaks of this CPU (cached) and per-row achieved GMAC/s (bench/roofline.py)
    roofline_quick: bool = False  # small GEMMs (tests)
    roofline_refresh: bool = False  # measure the peaks in every timing round, beside the rows (benchmark scripts)

    def validate(self) -> list[BackendSpec]:
        specs = parse_backends(self.backends)
        if not self.batch_sizes:
            raise ConfigError("no batch size given")
        for b in self.batch_sizes:
            if not isinstance(b, int) or b < 1:
                raise ConfigError(f"batch sizes must be positive integers, got {b}")
        from resnet_opt.core.checks import check_threads

        check_threads(self.threads)
        if self.eval_limit is not None and self.eval_limit < 1:
            raise ConfigError(f"evaluation limit must be at least 1 image, got {self.eval_limit}")
        if self.eval_batch_size < 1:
            raise ConfigError(f"evaluation batch size must be at least 1, got {self.eval_batch_size}")
        if self.agreement_images < 1:
            raise ConfigError(f"agreement images must be at least 1, got {self.agreement_images}")
        self.timing.validate()
        return specs


@dataclass
class BatchTiming:
    batch_size: int
    status: str  # ok | skipped | error
    reason: str | None = None
    stats: LatencyStats | None = None


@dataclass
class BenchRow:
    """One variant on one backend."""

    variant: str
    backend: str
    status: str = OK  # ok | skipped | error (of the pair as a whole)
    reason: str | None = None
    provider: str | None = None  # what really ran it (onnxruntime provider / torch device)
    precision: str | None = None
    kind: str | None = None
    load_ms: float | None = None
    first_ms: float | None = None  # first inference on a fresh session (lazy init, autotuning, engine build)
    first_batch: int | None = None
    top1: float | None = None  # percent, labelled data
    top5: float | None = None
    eval_count: int | None = None
    agreement: float | None = None  # top-1 agreement with the reference, percent
    max_abs_diff: float | None = None  # max |logit difference| vs the reference
    max_rel_diff: float | None = None  # max_abs_diff / max |reference logit|
    agreement_count: int | None = None
    quality_note: str | None = None
    timings: list[BatchTiming] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def timing(self, batch_size: int) -> LatencyStats | None:
        for t in self.timings:
            if t.batch_size == batch_size and t.stats is not None:
                return t.stats
        return None


@dataclass
class BenchResult:
    environment: dict[str, Any]
    config: dict[str, Any]
    variants: list[dict[str, Any]]
    rows: list[BenchRow]
    backends: dict[str, str | None]  # backend -> None (available) or why not
    reference: str | None
    data: str | None
    labelled: bool
    created: str
    seconds: float
    command: str | None = None
    title: str = "resnet-opt benchmark"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def ok_rows(self) -> list[BenchRow]:
        return [r for r in self.rows if r.status == OK]


def _short(e: BaseException) -> str:
    s = str(e).strip()
    first = s.splitlines()[0] if s else ""
    return f"{type(e).__name__}: {first}" if not isinstance(e, ResNetOptError) else first or type(e).__name__


# ------------------------------------------------------------------ quality inputs
@dataclass
class _EvalSet:
    batches: Any  # re-iterable: a DataLoader (streamed, not held in memory) or a list of (x, y)
    labelled: bool
    input_size: int
    description: str


def _labelled_set(spec_text: str, limit: int | None, batch_size: int, seed: int) -> _EvalSet:
    from resnet_opt.data import build_loader, input_size_for, parse_data_spec, report_split

    spec = parse_data_spec(spec_text)
    split = report_split(spec)  # the official test images where the data has them (fashion-mnist), else val
    loader = build_loader(spec, split, batch_size=batch_size, limit=limit, seed=seed)
    n = len(loader.dataset)  # type: ignore[arg-type]
    return _EvalSet(loader, spec.labelled, input_size_for(spec), f"{spec} ({split} split, {n} images)")


def _synthetic_set(size: int, n: int, batch_size: int, seed: int) -> _EvalSet:
    g = torch.Generator().manual_seed(seed + 1234)
    x = torch.randn(n, 3, size, size, generator=g)
    batches = [(x[i:i + batch_size], torch.full((min(batch_size, n - i),), -1)) for i in range(0, n, batch_size)]
    return _EvalSet(batches, False, size, f"{n} synthetic N(0,1) images at {size}×{size}")


def _collect(runner: Runner, ev: _EvalSet, progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    from resnet_opt.engine import progress_iter

    outs, labels = [], []
    desc = f"{'accuracy' if ev.labelled else 'agreement'}: {runner.variant.name} on {runner.backend.name}"
    for x, y in progress_iter(ev.batches, description=desc, enabled=progress):
        outs.append(runner.logits(x).float().cpu())
        labels.append(y)
    return torch.cat(outs), torch.cat(labels)


# ------------------------------------------------------------------ the harness
def choose_reference(variants: list[Variant], name: str | None = None) -> Variant | None:
    if name is not None:
        for v in variants:
            if v.name == name:
                return v
        raise ConfigError(f"reference variant {name!r} is not among the variants ({', '.join(v.name for v in variants)})")
    # a random-init model never becomes the reference of trained ones: agreement with it is noise and speed-ups
    # against it compare with an unpruned, unoptimised model the user did not ask about
    trained = [v for v in variants if v.trained]
    pool = trained or variants
    for pred in (lambda v: v.kind == "torch" and v.precision == "fp32",
                 lambda v: v.precision == "fp32",
                 lambda v: bool(trained)):
        for v in pool:
            if pred(v):
                return v
    return None


def run_benchmark(
    variants: list[Variant],
    config: BenchConfig | None = None,
    *,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    command: str | None = None,
    title: str = "resnet-opt benchmark",
) -> BenchResult:
    """Measure every variant on every selected backend that can run it. Never raises for a single pair.

    Phase 1 loads each (variant, backend) pair, times its first inference and measures its quality; phase 2 times
    every live pair at every batch size in interleaved rounds; the result records both with the environment."""
    from resnet_opt.core.env import environment

    cfg = config or BenchConfig()
    specs = cfg.validate()
    _check_variant_names(variants)
    set_threads(cfg.threads)
    t_start = time.perf_counter()
    say = log or (lambda _m: None)
    avail = {b.name: unavailable_reason(b.name) for b in specs}  # the reasons are reported once, with the results
    eval_sets = _EvalSets(cfg)
    reference = choose_reference(variants, cfg.reference) if cfg.measure_quality else None

    rows, live = _load_and_check(variants, specs, avail, cfg, eval_sets, reference, say, progress)
    probe = _time_live(live, cfg, say, progress)

    env = environment()
    env["threads"] = {"torch": torch.get_num_threads(), "onnxruntime_intra_op": cfg.threads}
    conf = asdict(cfg)
    conf["backends"] = [b.name for b in specs]
    result = BenchResult(
        environment=env, config=conf, variants=[v.describe() for v in variants], rows=rows, backends=avail,
        reference=reference.name if reference is not None else None, data=cfg.data, labelled=eval_sets.labelled,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        seconds=time.perf_counter() - t_start, command=command or _command_line(), title=title,
    )
    if cfg.roofline:
        from resnet_opt.bench.roofline import attach_roofline

        attach_roofline(result, variants, cfg.threads, quick=cfg.roofline_quick, refresh=cfg.roofline_refresh,
                        measured=(probe.measured or None) if probe else None)
    return result


def _check_variant_names(variants: list[Variant]) -> None:
    if not variants:
        raise ConfigError("nothing to benchmark: give artifact/model folders or --depth")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ConfigError(f"variant names must be unique, got {names}")


class _EvalSets:
    """The quality inputs of a run: the labelled data (when ``--data`` is labelled and its size fits the variant),
    else seeded synthetic images of the variant's input size (made once per size)."""

    def __init__(self, cfg: BenchConfig) -> None:
        from resnet_opt.data import parse_data_spec

        self.cfg = cfg
        self.labelled_set: _EvalSet | None = None
        self.labelled = False
        if cfg.data is not None and cfg.measure_quality and parse_data_spec(cfg.data).labelled:
            self.labelled_set = _labelled_set(cfg.data, cfg.eval_limit, cfg.eval_batch_size, cfg.seed)
            self.labelled = True
        self.synthetic: dict[int, _EvalSet] = {}

    def for_variant(self, v: Variant) -> _EvalSet:
        cfg = self.cfg
        if self.labelled_set is not None and self.labelled_set.input_size == v.input_size:
            return self.labelled_set
        if v.input_size not in self.synthetic:
            n = (cfg.eval_limit or cfg.agreement_images) if cfg.data is not None else cfg.agreement_images
            self.synthetic[v.input_size] = _synthetic_set(v.input_size, n, min(cfg.eval_batch_size, n), cfg.seed)
        return self.synthetic[v.input_size]


def _load_and_check(variants: list[Variant], specs: list[BackendSpec], avail: dict[str, str | None],
                    cfg: BenchConfig, eval_sets: _EvalSets, reference: Variant | None, say: Callable[[str], None],
                    progress: bool) -> tuple[list[BenchRow], list[tuple[BenchRow, Runner]]]:
    """Phase 1: a row per (variant, backend) pair (a skipped row for a variant no selected backend runs), each
    pair loaded, run once and (``measure_quality``) compared; returns every row and the pairs that work."""
    rows: list[BenchRow] = []
    live: list[tuple[BenchRow, Runner]] = []
    ref_logits: dict[int, torch.Tensor] = {}  # input size -> reference logits on that size's eval set
    plan = [(v, b) for v in variants for b in specs if _selected(v, b)]
    # the reference goes first so its logits exist before the others are compared with it
    if reference is not None:
        plan.sort(key=lambda vb: 0 if vb[0] is reference else 1)
    for v in variants:
        if not any(_selected(v, b) for b in specs):
            rows.append(BenchRow(variant=v.name, backend="-", status=SKIPPED, precision=v.precision, kind=v.kind,
                                 reason=f"no selected backend runs {v.kind} variants "
                                        f"(selected: {', '.join(b.name for b in specs)})"))
    for v, b in plan:  # (a progress bar per evaluation; rich shows one live bar at a time)
        row = BenchRow(variant=v.name, backend=b.name, precision=v.precision, kind=v.kind)
        rows.append(row)
        why = avail.get(b.name) or check_compatible(b, v)
        if why:
            row.status, row.reason = SKIPPED, why
            continue
        runner = _first_run(row, v, b, cfg, say)
        if runner is None:
            continue
        if cfg.measure_quality:
            try:
                _quality(row, runner, v, eval_sets.for_variant(v), reference, ref_logits, eval_sets.labelled,
                         progress)
            except Exception as e:  # noqa: BLE001
                row.quality_note = f"quality measurement failed: {_short(e)}"
                say(f"{v.name} on {b.name}: {row.quality_note}")
        live.append((row, runner))
    return rows, live


def _first_run(row: BenchRow, v: Variant, b: BackendSpec, cfg: BenchConfig,
               say: Callable[[str], None]) -> Runner | None:
    """Load ``v`` on ``b`` and time its first inference into ``row``; None (the row says why) when either fails."""
    try:
        t0 = time.perf_counter()
        runner = make_runner(b, v, cfg.threads)
        row.load_ms = (time.perf_counter() - t0) * 1e3
    except BackendUnavailableError as e:
        row.status, row.reason = SKIPPED, str(e)
        return None
    except Exception as e:  # noqa: BLE001 - one broken pair must not stop the others
        row.status, row.reason = ERROR, f"load failed: {_short(e)}"
        say(f"{v.name} on {b.name}: {row.reason}")
        return None
    row.provider = runner.provider_used
    row.notes += runner.notes
    if getattr(runner, "ran_precision", None):  # what really ran (OpenVINO may run an FP32 model in BF16)
        row.precision = runner.ran_precision
    first_bs = min(cfg.batch_sizes)
    try:
        bs0 = first_bs if (v.static_batch is None or v.static_batch == first_bs) else v.static_batch
        x0 = runner.prepare(bs0, cfg.seed)
        time.sleep(cfg.timing.settle_s)
        t0 = time.perf_counter()
        runner.run(x0)
        runner.sync()
        row.first_ms, row.first_batch = (time.perf_counter() - t0) * 1e3, bs0
        if getattr(runner, "own_first_ms", None) is not None:  # out of process: its own load/first-run times
            row.load_ms, row.first_ms, row.first_batch = runner.own_load_ms, runner.own_first_ms, 1
    except Exception as e:  # noqa: BLE001
        row.status, row.reason = ERROR, f"first inference failed: {_short(e)}"
        say(f"{v.name} on {b.name}: {row.reason}")
        runner.close()
        return None
    return runner


class _Cells:
    """Phase 2's measurements: samples per (row, batch size), CUDA-event samples, the cells that failed or do not
    apply (``STATUS:reason``), and each cell's prepared input."""

    def __init__(self) -> None:
        self.samples: dict[tuple[int, int], list[float]] = {}
        self.device: dict[tuple[int, int], list[float]] = {}
        self.round_p50: dict[tuple[int, int], list[float]] = {}  # each round's median (ms), in order
        self.failed: dict[tuple[int, int], str] = {}
        self.inputs: dict[tuple[int, int], Any] = {}

    def add_round(self, key: tuple[int, int], samples_s: list[float], device_ms: list[float] | None = None) -> None:
        """One round's timed runs of a cell: its samples, CUDA-event samples and the round's median."""
        self.samples.setdefault(key, []).extend(samples_s)
        self.device.setdefault(key, []).extend(device_ms or [])
        if samples_s:
            self.round_p50.setdefault(key, []).append(statistics.median(samples_s) * 1e3)


def _time_live(live: list[tuple[BenchRow, Runner]], cfg: BenchConfig, say: Callable[[str], None],
               progress: bool) -> Any:
    """Phase 2: time every live pair at every batch size in ``cfg.timing.rounds`` interleaved rounds (the order
    rotates each round; a pause lets the last runner's thread pools go idle), then record each row's timings and
    close the runners. Returns the roofline's per-round peak probe, if one ran."""
    from resnet_opt.engine import progress_iter

    t = cfg.timing
    cells = [(bs, r) for bs in cfg.batch_sizes for r in range(t.rounds)]
    m = _Cells()
    previous: Runner | None = None
    probe = None  # roofline_refresh: the GEMM peaks measured at the start of every round
    if cfg.roofline and cfg.roofline_refresh and live:
        from resnet_opt.bench.roofline import PeakProbe

        probe = PeakProbe(cfg.threads, quick=cfg.roofline_quick)
    for bs, rnd in progress_iter(cells, description="latency", enabled=progress and bool(live)):
        if probe is not None:
            time.sleep(t.settle_s)  # the last runner's thread pools go idle before the GEMMs are timed
            try:
                probe()
            except Exception as e:  # noqa: BLE001 - the roofline is an addition; attach_roofline records a failure
                say(f"GEMM peaks (round {rnd + 1}): {_short(e)}")
            previous = None
        order = live[rnd % len(live):] + live[:rnd % len(live)] if live else []
        for row, runner in order:
            if _time_cell(row, runner, bs, rnd, cfg, m, previous, say):
                previous = runner
    for row, runner in live:
        _record_timings(row, cfg.batch_sizes, m)
        runner.close()
    return probe


def _time_cell(row: BenchRow, runner: Runner, bs: int, rnd: int, cfg: BenchConfig, m: _Cells,
               previous: Runner | None, say: Callable[[str], None]) -> bool:
    """One round of one (pair, batch size) cell into ``m``; True once the runner has the cores (it is then the
    ``previous`` runner of the next cell)."""
    t = cfg.timing
    took_cores = False
    key = (id(row), bs)
    if key in m.failed:
        return False
    v = runner.variant
    if v.static_batch is not None and v.static_batch != bs:
        m.failed[key] = f"{SKIPPED}:fixed batch size {v.static_batch}"
        return False
    try:
        if key not in m.inputs:
            m.inputs[key] = runner.prepare(bs, cfg.seed)
        x = m.inputs[key]

        def call(runner=runner, x=x):
            runner.run(x)
            runner.sync()

        if previous is not runner:
            time.sleep(t.settle_s)
        took_cores = True
        external = getattr(runner, "bench_external", None)
        if external is not None:  # a runner in another process times itself (warm-up included)
            m.add_round(key, external(bs, t.warmup if rnd == 0 else min(1, t.warmup), t.per_round()))
            return True
        if rnd == 0 and t.warmup:
            budget = None if t.time_budget_s is None else t.time_budget_s / 2
            timed_runs(call, t.warmup, budget_s=budget, min_runs=1)
        elif rnd > 0 and t.warmup:
            call()  # one untimed run: caches and thread pools after another runner had the cores
        budget = None if t.time_budget_s is None else t.time_budget_s / t.rounds
        s, d = timed_runs(call, t.per_round(), budget_s=budget, min_runs=max(1, -(-t.min_iterations // t.rounds)),
                          cuda_events=runner.backend.uses_cuda and runner.backend.family == "torch")
        m.add_round(key, s, d)
    except Exception as e:  # noqa: BLE001
        m.failed[key] = f"{ERROR}:{_short(e)}"
        say(f"{row.variant} on {row.backend} at batch {bs}: {_short(e)}")
        if runner.backend.uses_cuda and torch.cuda.is_available():
            torch.cuda.empty_cache()
    return took_cores


def _record_timings(row: BenchRow, batch_sizes: list[int], m: _Cells) -> None:
    for bs in batch_sizes:
        key = (id(row), bs)
        if key in m.failed:
            status, _, why = m.failed[key].partition(":")
            row.timings.append(BatchTiming(bs, status, why))
        elif m.samples.get(key):
            row.timings.append(BatchTiming(bs, OK, None, LatencyStats.from_samples(
                m.samples[key], bs, m.device.get(key) or None, m.round_p50.get(key))))
    if row.timings and all(tm.status == ERROR for tm in row.timings):
        row.status, row.reason = ERROR, row.timings[0].reason


def _selected(v: Variant, b: BackendSpec) -> bool:
    """``b`` runs ``v``'s kind and ``v`` does not restrict itself to other backends."""
    return b.runs(v.kind) and (v.backends is None or b.name in v.backends)


def _quality(row: BenchRow, runner: Runner, v: Variant, ev: _EvalSet, reference: Variant | None,
             ref_logits: dict[int, torch.Tensor], labelled: bool, progress: bool = False) -> None:
    from resnet_opt.engine import accuracy_from_logits, agreement

    logits, labels = _collect(runner, ev, progress)
    if ev.labelled:
        if v.num_classes is not None and logits.shape[1] != v.num_classes:
            row.quality_note = f"outputs {logits.shape[1]} classes, manifest says {v.num_classes}"
        acc = accuracy_from_logits(logits, labels)
        row.top1, row.top5, row.eval_count = acc.top1, acc.top5, acc.count
        if not v.trained:
            row.quality_note = "random initialisation: accuracy is not meaningful"
    elif labelled:
        row.quality_note = (f"data images are not {v.input_size}×{v.input_size}: no accuracy; agreement on "
                            f"synthetic inputs instead")
    if reference is None:
        return
    if v is reference:
        if v.input_size not in ref_logits:
            ref_logits[v.input_size] = logits
            row.agreement, row.max_abs_diff, row.agreement_count = 100.0, 0.0, int(logits.shape[0])
            row.max_rel_diff = 0.0
        else:  # the reference on a second backend: compare with its first backend
            _set_agreement(row, agreement(ref_logits[v.input_size], logits))
        return
    ref = ref_logits.get(v.input_size)
    if ref is None or (reference.input_size != v.input_size):
        return
    if ref.shape != logits.shape:
        row.quality_note = (row.quality_note + "; " if row.quality_note else "") + \
            f"cannot compare with reference {reference.name}: logits {tuple(logits.shape)} vs {tuple(ref.shape)}"
        return
    _set_agreement(row, agreement(ref, logits))


def _set_agreement(row: BenchRow, a: dict[str, Any]) -> None:
    row.agreement, row.max_abs_diff, row.agreement_count = a["top1_agreement"], a["max_abs_diff"], a["count"]
    row.max_rel_diff = a.get("max_rel_diff")


def _command_line() -> str:
    import os
    import shlex

    argv = list(sys.argv)
    if argv:
        argv[0] = os.path.basename(argv[0])
    return " ".join(shlex.quote(a) for a in argv)


def available_backends() -> dict[str, str | None]:
    """Every known backend -> None when it runs here, else the reason it does not."""
    return {name: unavailable_reason(name) for name in BACKENDS}


def result_from_dict(d: dict[str, Any]) -> BenchResult:
    """Rebuild a BenchResult from its JSON form (results.json), e.g. to re-render a report."""
    rows = []
    for r in d.get("rows", []):
        r = dict(r)
        timings = [BatchTiming(t["batch_size"], t["status"], t.get("reason"),
                               LatencyStats(**t["stats"]) if t.get("stats") else None) for t in r.pop("timings", [])]
        rows.append(BenchRow(**r, timings=timings))
    keys = {k: d[k] for k in ("environment", "config", "variants", "backends", "reference", "data", "labelled",
                              "created", "seconds") }
    return BenchResult(rows=rows, command=d.get("command"), title=d.get("title", "resnet-opt benchmark"),
                       extra=d.get("extra") or {}, **keys)
