"""PyTorch 2 export: ``torch.export`` (dynamic batch) -> AOTInductor package (``model.pt2``), validated.

The successor of the TorchScript artifact (``torch.jit.trace/freeze`` are deprecated upstream):

1. ``torch.export.export`` of the eval-mode model with a dynamic batch dimension ``batch`` (1..MAX_BATCH). The
   example input has batch :data:`EXAMPLE_BATCH` (= 2): a batch-1 example specializes the dimension to 1.
2. ``torch._inductor.aoti_compile_and_package`` under ``torch.no_grad()`` (Inductor's freezing pass only runs with
   grad disabled) with the settings of :class:`Pt2Settings`, into one ``.pt2`` file that holds the compiled model
   (a shared library with the weights embedded) for one device (``cpu`` or ``cuda``).
3. The package is loaded back with ``torch._inductor.aoti_load_package`` and compared with the PyTorch model at batch
   1 and N (:func:`resnet_opt.export.validate.validate_pt2`, the FP32 tolerances of every export).

Compilation (a C++ compiler, tens of seconds to minutes) is paid here, once; loading a package takes milliseconds.
The CPU package is compiled with ``-march=native``: it runs on CPUs with the instruction sets of the exporting one
(the manifest records them and the runtime refuses a CPU that lacks one). Why these settings: docs/pt2.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from resnet_opt.core.errors import BackendUnavailableError, ConfigError, ExportError

PT2_FILE = "model.pt2"
DEVICES = ("cpu", "cuda")
EXAMPLE_BATCH = 2  # a batch-1 example would specialize the batch dimension to 1
MAX_BATCH = 4096

__all__ = ["PT2_FILE", "DEVICES", "EXAMPLE_BATCH", "MAX_BATCH", "Pt2Settings", "export_program", "compile_package",
           "to_pt2", "quiet_inductor", "check_device", "vec_isa"]


@dataclass
class Pt2Settings:
    """How the package is compiled (recorded in the manifest's ``compile`` section).

    ``freezing``: Inductor folds the weights into constants and (CPU) pre-packs the convolution weights into oneDNN's
    blocked layout once, at compile time, fusing bias/add/ReLU into the convolutions; without it every convolution
    is an ATen call on plain weights. ``max_autotune``: benchmark kernel choices at compile time (much longer compile;
    see docs/pt2.md). ``batch``: compile for this one batch size (a static batch: on the CPU, FP32 oneDNN weights are
    pre-packed at compile time, which a dynamic batch defers to run time; the runtime runs other batch sizes in
    chunks of it); ``None``: a dynamic batch 1..MAX_BATCH. ``extra``: further ``inductor_configs`` entries, passed
    through unchanged."""

    device: str = "cpu"
    freezing: bool = True
    max_autotune: bool = False
    batch: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> "Pt2Settings":
        d = str(self.device).strip().lower()
        if d not in DEVICES:
            raise ConfigError(f"unknown device {self.device!r} for a .pt2 package; valid: {', '.join(DEVICES)}")
        self.device = d
        if self.batch is not None:
            from resnet_opt.core.checks import check_int

            check_int("--batch", self.batch, 1, MAX_BATCH)
        if not isinstance(self.extra, dict):
            raise ConfigError("extra inductor settings must be a dict")
        return self

    def inductor_configs(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"freezing": bool(self.freezing), "max_autotune": bool(self.max_autotune)}
        cfg.update(self.extra)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


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
        raise ExportError(f"torch.export failed: {_first_line(e)}") from e


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
        raise ExportError(f"AOTInductor compilation failed: {_first_line(e)}") from e
    secs = time.perf_counter() - t0
    if Path(out) != Path(path) or not Path(path).is_file():
        raise ExportError(f"AOTInductor did not write the package {path}")
    from torch._inductor import config as ic

    details: dict[str, Any] = {
        "compile_seconds": secs,
        "device": settings.device,
        "inductor_configs": cfg,
        "settings": settings.to_dict(),
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


def load_package(path: str | os.PathLike, device: str = "cpu") -> Callable[[torch.Tensor], torch.Tensor]:
    """``torch._inductor.aoti_load_package`` with torch's log lines silenced; raises ExportError when it fails."""
    try:
        with quiet_inductor():
            return torch._inductor.aoti_load_package(str(path))
    except Exception as e:  # noqa: BLE001
        raise ExportError(f"the package {Path(path).name} does not load: {_first_line(e)}") from e


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
        t0 = time.perf_counter()
        static = settings.batch
        say(f"torch.export (dynamic batch 1..{MAX_BATCH}, example batch {EXAMPLE_BATCH}) ..." if static is None else
            f"torch.export (static batch {static}) ...")
        program = export_program(m, input_size=input_size, device=device, dynamic_batch=static is None,
                                 example_batch=EXAMPLE_BATCH if static is None else static)
        export_s = time.perf_counter() - t0
        say(f"AOTInductor compile for {device} (freezing={settings.freezing}, max_autotune={settings.max_autotune}); "
            "this takes a while ...")
        details = compile_package(program, tmp, settings)
        details["export_seconds"] = export_s
        report = None
        if validate:
            vin = V.inputs_for(inputs, input_size)
            ref_model = (reference if reference is not None else model)
            report = V.validate_pt2(tmp, ref_model, vin, precision=precision, tolerance=tolerance, device=device,
                                    load=load_package, name=path.name, static_batch=static)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    n_cls = _classes(m, input_size)
    info = {"format": "pt2", "method": "torch.export.export -> torch._inductor.aoti_compile_and_package",
            "dynamic_batch": static is None, "batch_range": [1, MAX_BATCH] if static is None else [static, static],
            "example_batch": EXAMPLE_BATCH if static is None else static,
            "input_name": "input", "output_name": "logits",
            "package_model_name": "model",
            "loader": "torch._inductor.aoti_load_package (Python) / torch::inductor::AOTIModelPackageLoader (C++)"}
    b = -1 if static is None else static
    return ExportResult(path=path, format="pt2", precision=precision, input_shape=[b, 3, input_size, input_size],
                        output_shape=[b, n_cls], validation=report, details={**info, "compile": details})
