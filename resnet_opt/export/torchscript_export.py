"""TorchScript export: ``torch.jit.trace`` + ``torch.jit.freeze`` (+ ``optimize_for_inference`` where it helps).

TorchScript is deprecated upstream but works on the pinned torch (<2.15); tracing these ResNets is exact (no
data-dependent control flow) and the traced graph accepts any batch size.

The saved file is always the traced + frozen module: portable (CPU or CUDA, ``torch.jit.load``).

``optimize_for_inference`` (conv-BN folding, conv-add/ReLU fusion, oneDNN prepacked weights) cannot be saved: a module
optimized at 224 px holds oneDNN constants that ``torch.jit.load`` then rejects ("required keyword attribute 'value'
is undefined", torch 2.14.1). It is therefore applied *when the artifact is loaded on the CPU*, and the manifest
records whether to. Its benefit depends on the input size; measured on this
project's 2-core AVX2 EPYC, batch 1, torch 2.14.1: ResNet-50 224 px 68.2 ms frozen -> 58.7 ms optimized; ResNet-18
32 px 4.1 ms frozen -> 7.4 ms optimized (slower). So ``optimize="auto"`` (the default) times both on the example
input and records the faster in the manifest as ``export.optimize_for_inference_on_load``; ``True`` / ``False``
force it. Validation checks the module the runtime will run (the
loaded file, optimized when recorded so) and the plain loaded file.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import torch
from torch import nn

from resnet_opt.core.errors import ConfigError, ExportError
from resnet_opt.export import validate as V
from resnet_opt.export.common import (
    Exporter, ExportResult, ExportSettings, export_target, load_ts, num_classes_of, optimize_loaded, prepared,
    tmp_beside,
)


def _median_ms(fn: Any, x: torch.Tensor, runs: int = 5) -> float:
    """Median batch latency (ms) of a TorchScript module on ``x`` (engine's one timer, two warm-up calls)."""
    from resnet_opt.engine.timing import median_ms

    def call() -> None:
        with torch.no_grad():
            fn(x)

    return median_ms(call, runs, warmup=2)


def to_torchscript(model: nn.Module, path: str | os.PathLike, *, frozen: bool = True, optimize: bool | str = "auto",
                   input_size: int = 224, validate: bool = True, inputs: Any = None,
                   tolerance: Any = None) -> ExportResult:
    """Trace ``model`` (CPU, float32, eval), freeze it, save it with ``torch.jit.save`` at ``path``, load it back
    with ``torch.jit.load`` and validate it against the model. ``optimize`` decides whether the runtime applies
    ``optimize_for_inference`` when loading on the CPU (``details["optimize_for_inference_on_load"]``).

    Written under a temporary name and renamed only after validation passed; a failure leaves nothing at ``path``."""
    if optimize not in (True, False, "auto"):
        raise ConfigError(f"optimize must be True, False or 'auto', got {optimize!r}")
    path = export_target(path, input_size, ".ts")
    m = prepared(model)
    example = torch.randn(1, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))
    details: dict[str, Any] = {"format": "torchscript", "method": "torch.jit.trace", "frozen": frozen,
                               "optimize_for_inference_on_load": False,
                               "saved": "traced + frozen module (portable: CPU or CUDA)" if frozen else "traced module"}
    tmp = tmp_beside(path, ".ts")
    try:
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                ts = torch.jit.trace(m, example, check_trace=False)
                if frozen:
                    ts = torch.jit.freeze(ts)
                torch.jit.save(ts, str(tmp))
                if frozen and optimize:
                    use = True
                    if optimize == "auto":
                        opt = optimize_loaded(load_ts(tmp))
                        t_frozen, t_opt = _median_ms(ts, example), _median_ms(opt, example)
                        details["auto_timing_ms"] = {"frozen": round(t_frozen, 3), "optimized": round(t_opt, 3),
                                                     "input": [1, 3, input_size, input_size]}
                        use = t_opt < t_frozen
                    details["optimize_for_inference_on_load"] = use
        except (RuntimeError, TypeError, ValueError, torch.jit.Error) as e:  # type: ignore[misc]
            raise ExportError(f"TorchScript export failed: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}") from e
        report = None
        if validate:
            vin = V.inputs_for(inputs, input_size)
            report = V.validate_torchscript(tmp, m, vin, tolerance=tolerance, name=path.name,
                                            optimize=bool(details["optimize_for_inference_on_load"]))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    n_cls = num_classes_of(m, input_size)
    return ExportResult(path=path, format="torchscript", precision="fp32", input_shape=[-1, 3, input_size, input_size],
                        output_shape=[-1, n_cls], validation=report, details=details)


def _export(model: nn.Module, path: os.PathLike, s: ExportSettings, *, input_size: int, inputs: Any, tolerance: Any,
            log: Any = None) -> ExportResult:
    return to_torchscript(model, path, frozen=s.frozen, optimize=s.optimize, input_size=input_size, inputs=inputs,
                          tolerance=tolerance)


# kind "torchscript" registers this (resnet_opt.core.kinds.torchscript)
KIND_EXPORTER = Exporter(title="TorchScript", export=_export)
