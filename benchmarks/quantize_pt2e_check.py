#!/usr/bin/env python
"""Why the PyTorch INT8 target uses torch.ao FX + TorchScript and not PT2E: the check behind that choice.

torch 2.14 no longer ships PT2E (``torch.ao.quantization.quantize_pt2e`` is gone); it lives in torchao, which is NOT a
resnet-opt dependency. This script needs torchao importable (e.g. ``pip install --target /tmp/torchao_pkg --no-deps
torchao==0.18.0`` and ``PYTHONPATH=/tmp/torchao_pkg``) and records, on ResNet-50 at 224 px, batch 1, 2 threads:

* whether PT2E annotation (``X86InductorQuantizer``) works on torchvision's resnet50 and on resnet-opt's ResNet-50;
* PT2E latency without and with ``torch.compile`` (Inductor, ``freezing=True``) and the compile time, against torch
  eager FP32 and resnet-opt's FX -> traced + frozen TorchScript INT8, in the same process.

    PYTHONPATH=/tmp/torchao_pkg flock /tmp/resnet-opt-cpu.lock .venv/bin/python benchmarks/quantize_pt2e_check.py
"""

from __future__ import annotations

import shlex
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from resnet_opt.core.artifact import atomic_write_text, to_json  # noqa: E402
from resnet_opt.bench.timing import timed_runs  # noqa: E402
from resnet_opt.core.env import cpu_info, library_versions  # noqa: E402

warnings.filterwarnings("ignore")
OUT = ROOT / "benchmarks" / "results" / "quantize_pt2e_check"


def med_ms(fn, runs=20, warmup=3) -> float:
    with torch.no_grad():
        for _ in range(warmup):
            fn()
        return statistics.median(timed_runs(fn, runs)[0]) * 1e3


def pt2e(model, calib):
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq

    x = calib[0]
    gm = torch.export.export(model, (x,)).module()
    q = xiq.X86InductorQuantizer()
    q.set_global(xiq.get_default_x86_inductor_quantization_config())
    p = prepare_pt2e(gm, q)
    with torch.no_grad():
        for c in calib:
            p(c)
    return convert_pt2e(p)


def main() -> None:
    import importlib.metadata as md

    torch.set_num_threads(2)
    try:
        torchao_version = md.version("torchao")
    except md.PackageNotFoundError:
        raise SystemExit("torchao is not importable: see the docstring")
    import torchvision

    from resnet_opt.optimize import fuse_bn
    from resnet_opt.optimize.quantize_torch import quantize_torch, to_torchscript
    from resnet_opt.resnet import ResNet

    torch.manual_seed(0)
    ours = ResNet(50).eval()
    tv = torchvision.models.resnet50(weights=None).eval()
    g = torch.Generator().manual_seed(0)
    calib = [torch.randn(1, 3, 224, 224, generator=g) for _ in range(8)]
    x = torch.randn(1, 3, 224, 224, generator=g)
    res: dict = {"torchao": torchao_version, "annotation": {}, "latency_ms": {}}
    for name, m in (("torchvision resnet50", tv), ("resnet-opt ResNet-50", ours)):
        try:
            pt2e(m, calib[:1])
            res["annotation"][name] = "ok"
        except Exception as e:  # noqa: BLE001
            res["annotation"][name] = f"failed: {type(e).__name__}: {str(e).strip().splitlines()[0]}"
    q = pt2e(ours, calib)
    res["latency_ms"]["torch eager FP32"] = med_ms(lambda: ours(x))
    res["latency_ms"]["PT2E converted, no compile"] = med_ms(lambda: q(x), runs=5)
    import torch._inductor.config as ic

    ic.freezing = True
    t0 = time.perf_counter()
    qc = torch.compile(q)
    with torch.no_grad():
        qc(x)
    res["compile_s_inductor_freezing"] = time.perf_counter() - t0
    res["latency_ms"]["PT2E + torch.compile (Inductor, freezing)"] = med_ms(lambda: qc(x))
    fx = to_torchscript(quantize_torch(fuse_bn(ours), [torch.cat(calib)], method="histogram"))
    res["latency_ms"]["resnet-opt FX INT8, traced + frozen TorchScript"] = med_ms(lambda: fx(x))
    res.update(cpu=cpu_info(), versions=library_versions(),
               command="PYTHONPATH=/tmp/torchao_pkg flock /tmp/resnet-opt-cpu.lock .venv/bin/python "
                       "benchmarks/quantize_pt2e_check.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    lines = ["# PT2E vs FX for the PyTorch INT8 target", "", "Command:", "", "```", res["command"], "```", "",
             f"CPU: {res['cpu']['model']}, VNNI {'yes' if res['cpu']['vnni'] else 'no'}, AMX "
             f"{'yes' if res['cpu']['amx'] else 'no'}; torch {res['versions']['torch']}, torchao {torchao_version}; "
             "2 threads; ResNet-50 224 px batch 1, random weights; median of 20 runs (5 for the uncompiled PT2E row).", "",
             "## PT2E annotation (X86InductorQuantizer)", ""]
    lines += [f"- {k}: {v}" for k, v in res["annotation"].items()]
    lines += ["", "## Latency", "", "| path | ms |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in res["latency_ms"].items()]
    lines += ["", f"torch.compile time (Inductor, freezing): {res['compile_s_inductor_freezing']:.1f} s, paid in every "
              "new process; the compiled module cannot be saved as TorchScript.", ""]
    atomic_write_text(OUT.with_suffix(".json"), to_json(res) + "\n")
    atomic_write_text(OUT.with_suffix(".md"), "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
