#!/usr/bin/env python
"""OpenVINO: a dynamic-batch model against the same model reshaped to a static batch, batch 1 and 8.

ResNet-50 INT8 ONNX (``quantize --depth 50``) and pruned 0.5 + INT8 (``prune --depth 50 --ratio 0.5`` ->
``quantize``), random weights (latency only), compiled by OpenVINO's CPU plugin with 2 threads, the latency hint and
the f32 precision hint; interleaved rounds, median of each cell per round. Decides ``STATIC_SHAPES`` in
``resnet_opt/engine/openvino_session.py``.

    python benchmarks/openvino_static.py --work DIR    # DIR/int8-onnx and DIR/pruned50-int8-onnx, as
                                                       # benchmarks/harness_overhead.py builds them
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import command, cpu_line, median_ms, write_results  # noqa: E402


def main() -> None:
    import numpy as np
    import openvino as ov

    from resnet_opt.core.env import cpu_info
    from resnet_opt.core.manifest import open_artifact

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/resnet-opt-harness"))
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    core = ov.Core()
    cfg = {"INFERENCE_NUM_THREADS": 2, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    cells = {}
    for name in ("int8-onnx", "pruned50-int8-onnx"):
        f = str(open_artifact(a.work / name).model_file)
        for b in (1, 8):
            x = np.random.default_rng(0).standard_normal((b, 3, 224, 224)).astype(np.float32)
            for shape in ("dynamic", "static"):
                m = core.read_model(f)
                if shape == "static":
                    m.reshape([b, 3, 224, 224])
                r = core.compile_model(m, "CPU", cfg).create_infer_request()
                cells[(name, b, shape)] = lambda r=r, x=x: r.infer({0: x})

    got: dict = {k: [] for k in cells}
    for _ in range(a.rounds):
        for k, fn in cells.items():
            got[k].append(median_ms(fn, 60 if k[1] == 1 else 15, warmup=5))
    lines = ["# OpenVINO: dynamic-batch vs static-shape compile (ResNet-50 INT8, 2 threads)", "",
             f"Command: `{command()}`", "", f"CPU: {cpu_line(cpu_info())}; {a.rounds} interleaved rounds.", "",
             "| artifact | batch | dynamic ms (per round) | static ms (per round) | static / dynamic (median) |",
             "|---|---|---|---|---|"]
    rows = []
    for name in ("int8-onnx", "pruned50-int8-onnx"):
        for b in (1, 8):
            d, s = got[(name, b, "dynamic")], got[(name, b, "static")]
            r = statistics.median(s) / statistics.median(d)
            rows.append({"artifact": name, "batch": b, "dynamic_ms": d, "static_ms": s, "ratio": r})
            lines.append(f"| {name} | {b} | {', '.join(f'{v:.2f}' for v in d)} | {', '.join(f'{v:.2f}' for v in s)} "
                         f"| {r:.3f} |")
    write_results("openvino_static", {"rows": rows}, "\n".join(lines))


if __name__ == "__main__":
    main()
