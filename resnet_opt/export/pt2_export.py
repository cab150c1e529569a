"""PyTorch 2 export: ``torch.export`` -> AOTInductor package (``model.pt2``), validated.

The successor of the TorchScript artifact (``torch.jit.trace/freeze`` are deprecated upstream):

1. ``torch.export.export`` of the eval-mode model, once per compiled batch size (:attr:`Pt2Settings.batches`):
   on the CPU by default a static batch of 1 and one of 8 (:data:`DEFAULT_CPU_BATCHES`); ``dynamic`` exports one
   graph with a dynamic batch dimension ``batch`` (1..MAX_BATCH; example batch :data:`EXAMPLE_BATCH` = 2, as a
   batch-1 example specializes the dimension to 1), the CUDA default.
2. ``torch._inductor.aot_compile`` under ``torch.no_grad()`` (Inductor's freezing pass only runs with grad disabled)
   with the settings of :class:`Pt2Settings`, each compiled model packaged into ONE ``.pt2`` file
   (``torch._inductor.package.package_aoti``) under the name ``batch<N>`` (a dynamic graph: ``model``), for one
   device (``cpu`` or ``cuda``). No static model is named ``model``: AOTInductor's default loader
   (``aoti_load_package``) would silently answer 1 row for a batch of 8 fed to a batch-1 model, so a loader that
   ignores the manifest fails instead of answering wrongly.
3. :class:`Pt2Package` (the one loader: runtime, stages, validation) loads every model of the package and runs any
   batch as chunks of the compiled sizes (:func:`plan_chunks`), checking each answer's shape. The package is
   compared with the PyTorch model at every compiled size and at batch N through that dispatch
   (:func:`resnet_opt.export.validate.validate_pt2`, the FP32 tolerances of every export).

Why several static models and not one dynamic one (measured, benchmarks/results/pt2_batches.md): with a dynamic batch,
Inductor pre-packs the INT8 (and FP32) oneDNN weights for a layout the batch-1 kernel does not use, so on an
AVX-512 VNNI CPU oneDNN re-lays 32 of ResNet-50's INT8 weights on every call (62 ms at batch 1 against 7.3 ms for a
static batch-1 package).

Compilation (a C++ compiler, tens of seconds to minutes) is paid here, once; loading a package takes milliseconds.
The CPU package is compiled with ``-march=native``: it runs on CPUs with the instruction sets of the exporting one
(the manifest records them and the runtime refuses a CPU that lacks one). Why these settings: docs/pt2.md.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from resnet_opt.core.errors import BackendUnavailableError, ConfigError, ExportError, first_line
from resnet_opt.export.common import Exporter, ExportSettings

PT2_FILE = "model.pt2"
DEVICES = ("cpu", "cuda")
EXAMPLE_BATCH = 2  # a batch-1 example would specialize the batch dimension to 1
MAX_BATCH = 4096
# the static batch sizes a CPU package holds by default: 1 (latency) and 8 (throughput; larger batches run as chunks
# of 8). Measured: benchmarks/results/pt2_batches.md
DEFAULT_CPU_BATCHES = (1, 8)
DYNAMIC_MODEL = "model"  # the name of the one model of a dynamic-batch package (AOTInductor's default name)
MAX_PACKAGE_BATCHES = 8

__all__ = ["package_info", "PT2_FILE", "DEVICES", "EXAMPLE_BATCH", "MAX_BATCH", "DEFAULT_CPU_BATCHES", "Pt2Settings",
           "export_program", "compile_package", "build_package", "Pt2Package", "plan_chunks", "package_models",
           "model_name_for", "to_pt2", "quiet_inductor", "check_device", "vec_isa", "parse_batches"]


@dataclass
class Pt2Settings:
    """How the package is compiled (recorded in the manifest's ``compile`` section).

    ``freezing``: Inductor folds the weights into constants and (CPU) pre-packs the convolution weights into oneDNN's
    blocked layout once, at compile time, fusing bias/add/ReLU into the convolutions; without it every convolution
    is an ATen call on plain weights. ``max_autotune``: benchmark kernel choices at compile time (much longer compile;
    see docs/pt2.md). ``batches``: the static batch sizes compiled into the package (one model each; any other
    batch runs as chunks of them); ``None``: the device's default (CPU :data:`DEFAULT_CPU_BATCHES`, CUDA dynamic).
    ``dynamic``: one model with a dynamic batch 1..MAX_BATCH instead. ``extra``: further ``inductor_configs``
    entries, passed through unchanged. After :meth:`validate`, ``batches`` is the sorted tuple of sizes, or None for dynamic."""

    device: str = "cpu"
    freezing: bool = True
    max_autotune: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    batches: tuple[int, ...] | None = None
    dynamic: bool = False

    def validate(self) -> "Pt2Settings":
        from resnet_opt.core.checks import check_int

        d = str(self.device).strip().lower()
        if d not in DEVICES:
            raise ConfigError(f"unknown device {self.device!r} for a .pt2 package; valid: {', '.join(DEVICES)}")
        self.device = d
        if self.dynamic and self.batches is not None:
            raise ConfigError("a package is either dynamic-batch or compiled for static batch sizes, not both")
        if not self.dynamic:
            if self.batches is None:
                self.batches = DEFAULT_CPU_BATCHES if d == "cpu" else None
                self.dynamic = self.batches is None
            else:
                sizes = tuple(sorted({check_int("batch size", b, 1, MAX_BATCH) for b in self.batches}))
                if not sizes:
                    raise ConfigError("give at least one batch size for the package")
                if len(sizes) > MAX_PACKAGE_BATCHES:
                    raise ConfigError(f"at most {MAX_PACKAGE_BATCHES} batch sizes per package (each is compiled "
                                      f"separately), got {len(sizes)}")
                self.batches = sizes
        if not isinstance(self.extra, dict):
            raise ConfigError("extra inductor settings must be a dict")
        return self

    def describe(self) -> str:
        """``dynamic batch 1..4096`` or ``static batches 1, 8``."""
        if self.batches is None:
            return f"dynamic batch 1..{MAX_BATCH}"
        return f"static batch{'es' if len(self.batches) > 1 else ''} {', '.join(map(str, self.batches))}"

    def inductor_configs(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"freezing": bool(self.freezing), "max_autotune": bool(self.max_autotune)}
        cfg.update(self.extra)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["batches"] = list(self.batches) if self.batches is not None else None
        return d


def parse_batches(text: str | None) -> tuple[tuple[int, ...] | None, bool]:
    """The CLI's ``--batch``: ``None`` (the device default), ``dynamic``, or sizes ``1,8`` -> (batches, dynamic)."""
    if text is None:
        return None, False
    t = str(text).strip().lower()
    if t == "dynamic":
        return None, True
    try:
        sizes = tuple(int(p) for p in t.replace(" ", "").split(",") if p)
    except ValueError:
        raise ConfigError(f"--batch takes batch sizes (e.g. 1 or 1,8) or 'dynamic', got {text!r}") from None
    if not sizes:
        raise ConfigError(f"--batch takes batch sizes (e.g. 1 or 1,8) or 'dynamic', got {text!r}")
    for b in sizes:
        if not 1 <= b <= MAX_BATCH:
            raise ConfigError(f"--batch sizes must be 1..{MAX_BATCH}, got {b}")
    return sizes, False


def model_name_for(batch: int | None) -> str:
    """The name of the package's model compiled for ``batch`` (``batch8``); None: the dynamic model."""
    return DYNAMIC_MODEL if batch is None else f"batch{int(batch)}"


def package_models(path: str | os.PathLike) -> dict[str, int | None]:
    """The models inside a ``.pt2`` package, ``{name: static batch or None}``, read from the archive's listing
    (``<root>/data/aotinductor/<name>/``). Raises ExportError for a file that is not such an archive."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (OSError, zipfile.BadZipFile) as e:
        raise ExportError(f"{Path(path).name} is not a .pt2 package (a zip archive): {first_line(e)}") from e
    found: dict[str, int | None] = {}
    for n in names:
        parts = n.split("/")
        if len(parts) >= 4 and parts[1:3] == ["data", "aotinductor"] and parts[3]:
            name = parts[3]
            if name.startswith("batch") and name[5:].isdigit():
                found[name] = int(name[5:])
            else:
                found[name] = None
    if not found:
        raise ExportError(f"{Path(path).name} holds no AOTInductor model")
    return found


def plan_chunks(n: int, sizes: tuple[int, ...] | list[int]) -> list[tuple[int, int, int]]:
    """How a batch of ``n`` runs on models compiled for static ``sizes``: ``[(start, count, size), ...]`` covering
    ``0..n`` in order, each chunk of ``count`` <= ``size`` images run by the ``size`` model (padded when
    ``count < size``). The largest size that fits is used; a remainder runs padded on the next larger size when it
    fills more than half of it (one padded call is then cheaper than several smaller ones), else on smaller ones."""
    if n < 1:
        raise ConfigError(f"a batch needs at least one image, got {n}")
    ss = sorted({int(s) for s in sizes})
    if not ss or ss[0] < 1:
        raise ConfigError(f"static batch sizes must be positive, got {list(sizes)}")
    out: list[tuple[int, int, int]] = []
    i = 0
    while i < n:
        r = n - i
        fit = [s for s in ss if s <= r]
        up = [s for s in ss if s >= r]
        if up and (up[0] == r or not fit or 2 * r > up[0]):
            out.append((i, r, up[0]))
            i = n
        else:
            s = fit[-1]
            out.append((i, s, s))
            i += s
    return out


class Pt2Package:
    """A loaded ``.pt2`` package, callable on a batch of any size: a dynamic model runs it as it is; static models
    (one per compiled batch size) run it as the chunks :func:`plan_chunks` gives, the last one padded by repeating
    its final image. Every answer is checked to have one row per image (an AOTInductor model fed a batch it was not
    compiled for may answer with the wrong number of rows instead of failing). ``models``: ``{batch or None: fn}``;
    ``batch_sizes``: the static sizes (None: dynamic)."""

    def __init__(self, models: dict[int | None, Callable[[torch.Tensor], Any]], name: str = "model.pt2") -> None:
        if not models:
            raise ExportError(f"{name} holds no model")
        if None in models and len(models) > 1:
            raise ExportError(f"{name} mixes a dynamic-batch model with static ones")
        self.models = dict(models)
        self.name = name
        self.batch_sizes: tuple[int, ...] | None = (None if None in models
                                                   else tuple(sorted(int(b) for b in models)))  # type: ignore[arg-type]

    @property
    def dynamic(self) -> bool:
        return self.batch_sizes is None

    def _run(self, fn: Callable[[torch.Tensor], Any], x: torch.Tensor) -> torch.Tensor:
        out = fn(x.contiguous())
        if isinstance(out, (list, tuple)):
            out = out[0]
        if not isinstance(out, torch.Tensor) or out.dim() < 1 or out.shape[0] != x.shape[0]:
            rows = getattr(out, "shape", [None])[0] if isinstance(out, torch.Tensor) else type(out).__name__
            raise ExportError(f"{self.name} answered {rows} rows for a batch of {x.shape[0]}")
        return out

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.batch_sizes is None:
            return self._run(self.models[None], x)
        n = int(x.shape[0])
        if n in self.models:
            return self._run(self.models[n], x)
        outs = []
        for start, count, size in plan_chunks(n, self.batch_sizes):
            chunk = x[start:start + count]
            if count < size:
                chunk = torch.cat([chunk, chunk[-1:].expand(size - count, *chunk.shape[1:])])
            outs.append(self._run(self.models[size], chunk)[:count])
        return torch.cat(outs)


def check_device(device: str) -> str:
    """``device`` normalised; BackendUnavailableError for ``cuda`` when torch sees no GPU (before any work)."""
    d = str(device).strip().lower()
    if d not in DEVICES:
        raise ConfigError(f"unknown device {device!r} for a .pt2 package; valid: {', '.join(DEVICES)}")
    if d == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailableError("a CUDA .pt2 package needs a GPU visible to torch at export time "
                                      "(torch.cuda.is_available() is False here); use --device cpu")
    return d


def vec_isa() -> str:
    """The SIMD level Inductor generates CPU kernels for here (e.g. ``avx2``, ``avx512``)."""
    try:
        from torch._inductor.cpu_vec_isa import pick_vec_isa

        return str(pick_vec_isa()) or "none"
    except Exception:  # noqa: BLE001 - informational only
        return "unknown"


@contextlib.contextmanager
def quiet_inductor() -> Iterator[None]:
    """Silence torch's informational log lines during a compile or load (e.g. cpp_extension's "No CUDA runtime is
    found" on a CPU-only machine), so the CLI prints only its own output."""
    names = ("torch.utils.cpp_extension", "torch.utils._pytree", "torch._inductor", "torch._export", "torch.export",
             "torch._dynamo", "torchao")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)



def export_program(model: nn.Module, *, input_size: int, device: str = "cpu", dynamic_batch: bool = True,
                   example_batch: int = EXAMPLE_BATCH) -> Any:
    """``torch.export.export`` of ``model`` (already in eval mode, float32, on ``device``) with input
    [batch, 3, input_size, input_size]; the batch dimension is dynamic (1..MAX_BATCH) unless ``dynamic_batch`` is
    False (then fixed at ``example_batch``)."""
    if dynamic_batch and example_batch < 2:
        raise ConfigError("a dynamic batch dimension needs an example batch of at least 2 (batch 1 specializes it)")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(example_batch, 3, input_size, input_size, generator=g).to(device)
    shapes = ({0: torch.export.Dim("batch", min=1, max=MAX_BATCH)},) if dynamic_batch else None
    try:
        with quiet_inductor(), torch.no_grad():
            return torch.export.export(model, (x,), dynamic_shapes=shapes)
    except Exception as e:  # noqa: BLE001 - torch.export raises many types (UserError, GuardOnDataDependent, ...)
        raise ExportError(f"torch.export failed: {first_line(e)}") from e


def compile_package(program: Any, path: str | os.PathLike, settings: Pt2Settings) -> dict[str, Any]:
    """AOTInductor-compile an exported program into the package ``path``. Returns the compile details for the
    manifest (seconds, inductor settings, device, target ISA)."""
    settings.validate()
    cfg = settings.inductor_configs()
    t0 = time.perf_counter()
    try:
        with quiet_inductor(), torch.no_grad(), warnings.catch_warnings():  # freezing needs grad disabled
            # torch-internal UserWarnings of the lowering (e.g. mkldnn_lowerings' tensor copy) are not the user's
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\._inductor")
            out = torch._inductor.aoti_compile_and_package(program, package_path=str(path),
                                                           inductor_configs=dict(cfg))  # (it adds its own keys)
    except Exception as e:  # noqa: BLE001 - compiler errors, missing C++ toolchain, lowering failures
        raise ExportError(f"AOTInductor compilation failed: {first_line(e)}") from e
    secs = time.perf_counter() - t0
    if Path(out) != Path(path) or not Path(path).is_file():
        raise ExportError(f"AOTInductor did not write the package {path}")
    return _compile_details(settings, secs)


def _compile_details(settings: Pt2Settings, secs: float) -> dict[str, Any]:
    from torch._inductor import config as ic

    cfg = settings.inductor_configs()
    details: dict[str, Any] = {
        "compile_seconds": secs,
        "device": settings.device,
        "inductor_configs": cfg,
        "settings": {k: v for k, v in settings.to_dict().items() if k not in ("batches", "dynamic")},
        "api": "torch._inductor.aoti_compile_and_package",
        "grad": "disabled (torch.no_grad), so freezing applies",
        "compile_threads": torch.get_num_threads(),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    if settings.device == "cpu":
        details.update(vec_isa=vec_isa(), march="native", cxx=str(ic.cpp.cxx[-1]),
                       note="CPU kernels are compiled with -march=native: the package needs a CPU with the "
                            "instruction sets listed in cpu.flags")
    return details


def build_package(model: nn.Module, path: str | os.PathLike, *, input_size: int, settings: Pt2Settings,
                  log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``torch.export`` + AOTInductor of ``model`` (eval mode, float32, on the settings' device) into the package
    ``path``: one dynamic-batch model, or one static model per size of ``settings.batches`` packaged together under
    :func:`model_name_for` names. Returns the compile details for the manifest (:func:`compile_package`'s, plus
    ``export_seconds``, ``batch_sizes`` and ``models``)."""
    settings.validate()
    say = log or (lambda _m: None)
    if settings.batches is None:
        t0 = time.perf_counter()
        say(f"torch.export (dynamic batch 1..{MAX_BATCH}, example batch {EXAMPLE_BATCH}) ...")
        program = export_program(model, input_size=input_size, device=settings.device)
        export_s = time.perf_counter() - t0
        say(f"AOTInductor compile for {settings.device} (freezing={settings.freezing}, "
            f"max_autotune={settings.max_autotune}); this takes a while ...")
        details = compile_package(program, path, settings)
        details.update(export_seconds=export_s, batch_sizes=None, models={DYNAMIC_MODEL: None})
        return details
    from torch._inductor.package import package_aoti

    cfg = {**settings.inductor_configs(), "aot_inductor.package": True}
    files: dict[str, Any] = {}
    export_s = compile_s = 0.0
    for b in settings.batches:
        t0 = time.perf_counter()
        say(f"torch.export (static batch {b}) ...")
        program = export_program(model, input_size=input_size, device=settings.device, dynamic_batch=False,
                                 example_batch=b)
        export_s += time.perf_counter() - t0
        say(f"AOTInductor compile of batch {b} for {settings.device} (freezing={settings.freezing}, "
            f"max_autotune={settings.max_autotune}); this takes a while ...")
        t0 = time.perf_counter()
        try:
            with quiet_inductor(), torch.no_grad(), warnings.catch_warnings():  # freezing needs grad disabled
                warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\._inductor")
                files[model_name_for(b)] = torch._inductor.aot_compile(program.module(), program.example_inputs[0],
                                                                       options=dict(cfg))
        except Exception as e:  # noqa: BLE001 - compiler errors, missing C++ toolchain, lowering failures
            raise ExportError(f"AOTInductor compilation (batch {b}) failed: {first_line(e)}") from e
        compile_s += time.perf_counter() - t0
    try:
        package_aoti(str(path), files)
    except Exception as e:  # noqa: BLE001
        raise ExportError(f"packaging the compiled models failed: {first_line(e)}") from e
    if not Path(path).is_file():
        raise ExportError(f"AOTInductor did not write the package {path}")
    details = _compile_details(settings, compile_s)
    details.update(api="torch._inductor.aot_compile (one per batch size) -> torch._inductor.package.package_aoti",
                   export_seconds=export_s, batch_sizes=list(settings.batches),
                   models={model_name_for(b): b for b in settings.batches})
    return details


def import_package_loader() -> None:
    """Import torch's package loader (``torch._inductor.package``) with its log lines silenced, and the first time
    in a process collect the Python objects that torch's imports (and any compile before) left (:func:`_collect_once`)."""
    import importlib

    with quiet_inductor():
        importlib.import_module("torch._inductor.package")
    _collect_once()


@functools.cache
def _collect_once() -> None:
    """One full garbage collection per process: ~150k objects are left after the loader's import alone; left alone,
    Python's first full collection of them (190 ms on the Zen 5 VM) lands inside a model call ~45 calls after the
    load, in a timed loop or a served request."""
    import gc

    gc.collect()


def load_package(path: str | os.PathLike, device: str = "cpu", *, static_batch: int | None = None) -> Pt2Package:
    """Every model of the package as one :class:`Pt2Package` (torch's log lines silenced); raises ExportError when it
    fails. The archive is read once (``torch.export.pt2_archive``'s ``load_pt2``, which is what
    ``torch._inductor.package.load_package`` runs and then keeps one model of: called per model it would load every
    model each time, 2x the load time of a two-model package); an archive it cannot read goes through
    ``load_package`` by name. ``static_batch``: for a package of one model named ``model`` compiled for a static batch
    (what ``export pt2 --batch N`` wrote before packages named their models by batch size; its manifest's input shape
    says N)."""
    import_package_loader()
    from torch._inductor.package import load_package as load_one

    models = package_models(path)
    if static_batch is not None and list(models.values()) == [None]:
        models = {n: int(static_batch) for n in models}
    try:
        with quiet_inductor():
            try:
                from torch.export.pt2_archive._package import load_pt2

                runners = load_pt2(str(path)).aoti_runners
            except Exception:  # noqa: BLE001 - an archive layout load_pt2 does not know: torch's own fallback
                runners = {}
            out = {b: runners[name] if name in runners else load_one(str(path), name) for name, b in models.items()}
    except Exception as e:  # noqa: BLE001
        raise ExportError(f"the package {Path(path).name} does not load: {first_line(e)}") from e
    return Pt2Package(out, name=Path(path).name)


def package_latency_fn(pkg: Callable[[torch.Tensor], Any]) -> Callable[[torch.Tensor], Callable[[], Any]]:
    """``xb -> (() -> None)``: one timed call of a loaded package on ``xb`` (the quantize stages' latency hook)."""

    def latency_fn(xb: torch.Tensor) -> Callable[[], Any]:
        xc = xb.contiguous()

        def run() -> None:
            with torch.no_grad():
                pkg(xc)
        return run

    return latency_fn


def _classes(model: nn.Module, input_size: int) -> int:
    n = getattr(getattr(model, "arch", None), "num_classes", None)
    if n:
        return int(n)
    dev = next(model.parameters()).device
    with torch.no_grad():
        return int(model(torch.zeros(1, 3, input_size, input_size, device=dev)).shape[1])


def to_pt2(model: nn.Module, path: str | os.PathLike, *, input_size: int = 224, settings: Pt2Settings | None = None,
           validate: bool = True, inputs: Any = None, tolerance: Any = None, precision: str = "fp32",
           reference: nn.Module | None = None, log: Callable[[str], None] | None = None) -> Any:
    """Export ``model`` to an AOTInductor package at ``path`` and validate it against ``reference`` (default: the
    model itself) before keeping it.

    The package is written beside ``path`` under a temporary name and renamed only after validation passed; a
    failure raises (ExportError / ValidationError / AtolError) and leaves nothing at ``path``. Returns an
    :class:`~resnet_opt.export.onnx_export.ExportResult` whose ``details`` hold the export and compile facts."""
    import copy

    from resnet_opt.export import validate as V
    from resnet_opt.export.common import ExportResult

    settings = (settings or Pt2Settings()).validate()
    device = check_device(settings.device)
    say = log or (lambda _m: None)
    if input_size < 8:
        raise ConfigError(f"input size must be at least 8 px, got {input_size}")
    path = Path(path)
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give the .pt2 file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not isinstance(model, nn.Module):
        raise ExportError(f"expected a torch nn.Module, got {type(model).__name__}")
    m = copy.deepcopy(model).eval().float().to(device)
    tmp = path.parent / f".{path.stem}.tmp-{os.getpid()}.pt2"
    try:
        details = build_package(m, tmp, input_size=input_size, settings=settings, log=say)
        report = None
        if validate:
            vin = V.inputs_for(inputs, input_size)
            ref_model = (reference if reference is not None else model)
            report = V.validate_pt2(tmp, ref_model, vin, precision=precision, tolerance=tolerance, device=device,
                                    load=load_package, name=path.name)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    n_cls = _classes(m, input_size)
    return ExportResult(path=path, format="pt2", precision=precision, input_shape=[-1, 3, input_size, input_size],
                        output_shape=[-1, n_cls], validation=report,
                        details={**package_info(settings), "compile": details})


def package_info(settings: Pt2Settings) -> dict[str, Any]:
    """The manifest's ``export`` facts of a package compiled with ``settings`` (validated): which batch sizes its
    models serve and how a loader picks one."""
    b = settings.batches
    info: dict[str, Any] = {
        "format": "pt2", "input_name": "input", "output_name": "logits",
        "dynamic_batch": b is None, "batch_sizes": None if b is None else list(b),
        "batch_range": [1, MAX_BATCH],
        "package_models": {model_name_for(None): None} if b is None else {model_name_for(x): x for x in b},
    }
    if b is None:
        info.update(method="torch.export.export (dynamic batch) -> torch._inductor.aoti_compile_and_package",
                    example_batch=EXAMPLE_BATCH,
                    loader="torch._inductor.aoti_load_package (Python) / "
                           "torch::inductor::AOTIModelPackageLoader(path, \"model\") (C++)")
    else:
        info.update(method="torch.export.export (one static batch per size) -> torch._inductor.aot_compile -> "
                           "torch._inductor.package.package_aoti (one package, a model per batch size)",
                    loader="one model per batch size: torch._inductor.package.load_package(path, \"batch<N>\") "
                           "(Python) / torch::inductor::AOTIModelPackageLoader(path, \"batch<N>\") (C++); any "
                           "other batch runs as chunks of these sizes (resnet_opt.export.pt2_export.plan_chunks), "
                           "the last padded")
    return info


def _export(model: nn.Module, path: Path, s: ExportSettings, *, input_size: int, inputs: Any, tolerance: Any,
            log: Callable[[str], None] | None = None) -> Any:
    return to_pt2(model, path, input_size=input_size, settings=s.pt2, inputs=inputs, tolerance=tolerance, log=log)


def _check(s: ExportSettings) -> ExportSettings:
    from dataclasses import replace

    pt2 = (s.pt2 or Pt2Settings()).validate()
    check_device(pt2.device)  # a CUDA package without a GPU: refused before any work
    return replace(s, pt2=pt2)


# kind "pt2" registers this (resnet_opt.core.kinds.pt2)
KIND_EXPORTER = Exporter(title="PT2", export=_export, check=_check, options=frozenset({"pt2"}))
