"""Benchmark harness, reports and the bench CLI (tiny models, tiny iteration counts; no timing assertions)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from conftest import requires_cuda
from resnet_opt.bench import (
    BenchConfig, LatencyStats, TimingConfig, parse_backends, run_benchmark, variant_from_model, variant_from_path,
    write_report,
)
from resnet_opt.bench.harness import result_from_dict
from resnet_opt.cli import app
from resnet_opt.core.manifest import MANIFEST_FORMAT, Manifest, write_manifest
from resnet_opt.core.errors import ArtifactError, ConfigError
from resnet_opt.resnet import ResNet
from helpers import one_line_error
from resnet_opt.pipeline.evaluate import EvalConfig

SIZE = 32
FAST = TimingConfig(warmup=1, iterations=3, min_iterations=1, time_budget_s=2.0, settle_s=0.0)


def _tiny() -> ResNet:
    torch.manual_seed(0)
    return ResNet(18, num_classes=10).eval()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> dict[str, Path]:
    """A random ResNet-18 (32 px) as a model folder, a raw ONNX artifact and a TorchScript artifact."""
    from resnet_opt.export import export_onnx
    from resnet_opt.resnet import save_model

    root = tmp_path_factory.mktemp("bench-art")
    m = _tiny()
    save_model(m, root / "model", preprocessing=f"digits:{SIZE}")
    onnx_dir = root / "onnx"
    onnx_dir.mkdir()
    export_onnx(m, onnx_dir / "model.onnx", input_size=SIZE)
    write_manifest(onnx_dir, Manifest.from_dict({"format": MANIFEST_FORMAT, "kind": "onnx", "file": "model.onnx", "precision": "fp32", "stage": "export",
                              "input": {"name": "input", "shape": [-1, 3, SIZE, SIZE]},
                              "architecture": {"depth": 18, "num_classes": 10}}))
    ts_dir = root / "ts"
    ts_dir.mkdir()
    with torch.no_grad():
        ts = torch.jit.freeze(torch.jit.trace(m, torch.randn(1, 3, SIZE, SIZE)))
    ts.save(str(ts_dir / "model.ts"))
    write_manifest(ts_dir, Manifest.from_dict({"format": MANIFEST_FORMAT, "kind": "torchscript", "file": "model.ts", "precision": "fp32", "stage": "export",
                            "input": {"name": "input", "shape": [-1, 3, SIZE, SIZE]},
                            "architecture": {"depth": 18, "num_classes": 10}}))
    return {"root": root, "model": root / "model", "onnx": onnx_dir, "ts": ts_dir}


# ------------------------------------------------------------------ units
def test_parse_backends_groups_and_names():
    assert [b.name for b in parse_backends("cpu")] == ["torch-cpu", "torchscript-cpu", "pt2-cpu", "ort-cpu"]
    assert [b.name for b in parse_backends("ort-cpu,cpu")] == ["ort-cpu", "torch-cpu", "torchscript-cpu", "pt2-cpu"]
    assert "ort-tensorrt" in [b.name for b in parse_backends("cuda,tensorrt")]
    with pytest.raises(ConfigError, match="unknown backend 'tpu'"):
        parse_backends("cpu,tpu")
    with pytest.raises(ConfigError):
        parse_backends("")


def test_latency_stats_percentiles():
    s = LatencyStats.from_samples([0.001 * i for i in range(1, 101)], batch_size=4)  # 1..100 ms
    assert s.iterations == 100
    assert s.min_ms == pytest.approx(1.0) and s.max_ms == pytest.approx(100.0)
    assert s.p50_ms == pytest.approx(50.5) and s.p90_ms == pytest.approx(90.1) and s.p99_ms == pytest.approx(99.01)
    assert s.mean_ms == pytest.approx(50.5)
    assert s.throughput_ips == pytest.approx(4 / 0.0505)


def test_bench_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="batch sizes"):
        BenchConfig(batch_sizes=[0]).validate()
    with pytest.raises(ConfigError, match="threads"):
        BenchConfig(threads=0).validate()
    with pytest.raises(ConfigError, match="iterations"):
        BenchConfig(timing=TimingConfig(iterations=0)).validate()


def test_variant_from_path_errors(tmp_path, artifacts):
    with pytest.raises(ArtifactError, match="does not exist"):
        variant_from_path(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtifactError, match="neither manifest.json"):
        variant_from_path(tmp_path / "empty")
    broken = tmp_path / "broken"
    broken.mkdir()
    write_manifest(broken, Manifest.from_dict({"format": MANIFEST_FORMAT, "kind": "onnx", "file": "model.onnx", "precision": "fp32"}))
    with pytest.raises(ArtifactError, match="missing its file model.onnx"):
        variant_from_path(broken)
    half = tmp_path / "half"
    half.mkdir()
    (half / "config.json").write_text((artifacts["model"] / "config.json").read_text())
    with pytest.raises(ArtifactError, match="missing its file model.safetensors"):
        variant_from_path(half)
    v = variant_from_path(artifacts["onnx"])
    assert (v.kind, v.precision, v.input_size, v.num_classes, v.static_batch) == ("onnx", "fp32", SIZE, 10, None)


# ------------------------------------------------------------------ the harness on CPU
def test_paired_verdict_says_tie_when_the_rounds_fall_on_both_sides():
    from resnet_opt.bench.timing import paired_verdict, sign_test_p

    assert sign_test_p(6, 6) == pytest.approx(1 / 64) and sign_test_p(0, 6) == 1.0
    assert sign_test_p(8, 9) == pytest.approx(10 / 512)
    assert paired_verdict([0.98, 1.03, 0.99, 1.01, 0.97]) is True  # median at or under the limit
    assert paired_verdict([1.01, 1.02, 1.03, 1.01, 1.04, 1.02]) is False  # slower in every round of 6: p = 1/64
    assert paired_verdict([1.05, 0.97, 1.02, 1.01, 0.99, 1.03]) is None  # a tie within the noise, neither yes nor no
    assert paired_verdict([1.05]) is False and paired_verdict([]) is None
    assert paired_verdict([0.049, 0.051, 0.048], limit=0.05) is True  # a >= 20x target as pruned / eager <= 1/20
    band = dict(limit=1.05, low=0.95)  # "within 5 %": out of the band below counts the rounds below it
    assert paired_verdict([0.99, 1.02, 1.04], **band) is True
    assert paired_verdict([0.90, 0.91, 0.93, 0.92, 0.89, 0.94], **band) is False
    assert paired_verdict([0.60, 0.91, 1.10, 0.92, 1.20, 0.85, 0.97, 0.88, 1.02], **band) is None


def test_rounds_keep_each_rounds_median_for_paired_comparisons(artifacts, tmp_path):
    from dataclasses import replace

    vs = [variant_from_path(artifacts["onnx"])]
    res = run_benchmark(vs, BenchConfig(backends=["ort-cpu"], batch_sizes=[1], threads=2, agreement_images=2,
                                        timing=replace(FAST, iterations=6, rounds=3)))
    st = res.rows[0].timing(1)
    assert st.round_p50_ms is not None and len(st.round_p50_ms) == 3
    assert all(st.min_ms <= v <= st.max_ms for v in st.round_p50_ms)
    again = result_from_dict(json.loads((write_report(res, tmp_path / "r")["json"]).read_text()))
    assert again.rows[0].timing(1).round_p50_ms == st.round_p50_ms
    one = run_benchmark(vs, BenchConfig(backends=["ort-cpu"], batch_sizes=[1], threads=2, agreement_images=2,
                                        timing=FAST))
    assert one.rows[0].timing(1).round_p50_ms is None  # one round: nothing to pair


def test_harness_cpu_all_families_with_agreement(artifacts, tmp_path):
    from resnet_opt.bench import variants_from_paths

    vs = variants_from_paths([artifacts["model"], artifacts["onnx"], artifacts["ts"]])
    cfg = BenchConfig(backends=["cpu"], batch_sizes=[1, 2], threads=2, timing=FAST, agreement_images=6)
    res = run_benchmark(vs, cfg)
    rows = {(r.variant, r.backend): r for r in res.rows}
    assert set(rows) == {("model", "torch-cpu"), ("onnx", "ort-cpu"), ("ts", "torchscript-cpu")}
    assert res.reference == "model" and not res.labelled
    for r in rows.values():
        assert r.status == "ok", (r.variant, r.reason)
        assert r.first_ms is not None and r.first_ms > 0 and r.load_ms is not None
        assert [t.batch_size for t in r.timings] == [1, 2]
        for t in r.timings:
            st = t.stats
            assert t.status == "ok" and st is not None and 1 <= st.iterations <= 3
            assert st.min_ms <= st.p50_ms <= st.p90_ms <= st.p99_ms <= st.max_ms
            assert st.throughput_ips > 0
        # same weights in three formats: identical top-1 on the synthetic agreement inputs
        assert r.agreement == pytest.approx(100.0) and r.agreement_count == 6
        assert r.max_abs_diff < 1e-3
    assert rows[("onnx", "ort-cpu")].provider == "CPUExecutionProvider"

    # the report round-trips through JSON and renders again
    again = result_from_dict(json.loads((write_report(res, tmp_path / "r")["json"]).read_text()))
    assert [r.variant for r in again.rows] == [r.variant for r in res.rows]
    assert again.rows[0].timing(1).p50_ms == res.rows[0].timing(1).p50_ms


def test_harness_accuracy_on_labelled_digits(trained_digits_dir, tmp_path):
    from resnet_opt.export import export_onnx
    from resnet_opt.resnet import load_model
    from resnet_opt.pipeline.evaluate import evaluate_path

    onnx_dir = tmp_path / "onnx"
    onnx_dir.mkdir()
    export_onnx(load_model(trained_digits_dir), onnx_dir / "model.onnx", input_size=32)
    write_manifest(onnx_dir, Manifest.from_dict({"format": MANIFEST_FORMAT, "kind": "onnx", "file": "model.onnx", "precision": "fp32",
                              "input": {"name": "input", "shape": [-1, 3, 32, 32]},
                              "architecture": {"depth": 18, "num_classes": 10}}))
    vs = [variant_from_path(trained_digits_dir, name="fp32"), variant_from_path(onnx_dir, name="onnx")]
    res = run_benchmark(vs, BenchConfig(backends=["torch-cpu", "ort-cpu"], batch_sizes=[1], data="digits",
                                        eval_limit=120, timing=FAST))
    assert res.labelled
    by = {r.variant: r for r in res.rows}
    ref = evaluate_path(EvalConfig(trained_digits_dir, "digits", limit=120))
    assert by["fp32"].top1 == pytest.approx(ref.top1) and by["fp32"].eval_count == 120
    assert by["fp32"].top1 > 85.0
    assert abs(by["onnx"].top1 - by["fp32"].top1) <= 100.0 / 120 + 1e-9  # at most one image apart
    assert by["onnx"].top5 >= by["onnx"].top1
    assert by["onnx"].agreement >= 99.0


class _FailsAbove(nn.Module):
    """Runs like a model for small batches, raises for big ones (a crash mid-run)."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit, self.fc = limit, nn.Linear(3, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > self.limit:
            raise RuntimeError("simulated out-of-memory")
        return self.fc(x.mean(dim=(2, 3)))


def test_crashes_are_reported_and_others_continue(artifacts, tmp_path):
    bad = tmp_path / "corrupt"
    bad.mkdir()
    (bad / "model.onnx").write_bytes(b"this is not an onnx file")
    write_manifest(bad, Manifest.from_dict({"format": MANIFEST_FORMAT, "kind": "onnx", "file": "model.onnx", "precision": "fp32",
                         "input": {"name": "input", "shape": [-1, 3, SIZE, SIZE]}}))
    vs = [variant_from_model(_tiny(), "good", input_size=SIZE),
          variant_from_model(_FailsAbove(1), "flaky", input_size=SIZE, trained=False),
          variant_from_path(bad)]
    res = run_benchmark(vs, BenchConfig(backends=["torch-cpu", "ort-cpu"], batch_sizes=[1, 2], timing=FAST,
                                        agreement_images=2, eval_batch_size=1))
    by = {r.variant: r for r in res.rows}
    assert by["good"].status == "ok" and all(t.status == "ok" for t in by["good"].timings)
    flaky = {t.batch_size: t for t in by["flaky"].timings}
    assert flaky[1].status == "ok" and flaky[2].status == "error" and "simulated out-of-memory" in flaky[2].reason
    assert by["corrupt"].status == "error" and "load failed" in by["corrupt"].reason
    md = (write_report(res, tmp_path / "r")["markdown"]).read_text()
    assert "simulated out-of-memory" in md and "corrupt on ort-cpu" in md


def test_static_batch_artifact_only_runs_its_batch(tmp_path):
    from resnet_opt.export import export_onnx

    d = tmp_path / "static"
    d.mkdir()
    export_onnx(_tiny(), d / "model.onnx", input_size=SIZE, dynamic_batch=False, batch=2)
    write_manifest(d, Manifest.from_dict({"format": MANIFEST_FORMAT, "kind": "onnx", "file": "model.onnx", "precision": "fp32",
                       "input": {"name": "input", "shape": [2, 3, SIZE, SIZE]}}))
    v = variant_from_path(d)
    assert v.static_batch == 2
    res = run_benchmark([variant_from_model(_tiny(), "eager", input_size=SIZE), v],
                        BenchConfig(backends=["torch-cpu", "ort-cpu"], batch_sizes=[1, 2], timing=FAST,
                                    agreement_images=5), progress=True)  # progress bars must not clash
    row = next(r for r in res.rows if r.variant == "static")
    cells = {t.batch_size: t for t in row.timings}
    assert cells[1].status == "skipped" and "fixed batch size 2" in cells[1].reason
    assert cells[2].status == "ok"
    assert row.agreement == pytest.approx(100.0) and row.agreement_count == 5  # odd count: padded chunks


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU path")
def test_unavailable_gpu_backends_are_skipped_with_reason(artifacts):
    vs = [variant_from_path(artifacts["model"]), variant_from_path(artifacts["onnx"])]
    res = run_benchmark(vs, BenchConfig(backends=["cpu", "cuda", "tensorrt"], batch_sizes=[1], timing=FAST,
                                        agreement_images=2))
    assert res.backends["torch-cpu"] is None and res.backends["ort-cpu"] is None
    for b in ("torch-cuda", "ort-cuda", "ort-tensorrt"):
        assert res.backends[b], b  # a reason, not None
    # onnxruntime-gpu lists the providers, but a real session falls back: that must be detected
    assert "fell back" in res.backends["ort-cuda"] or "not in this onnxruntime build" in res.backends["ort-cuda"]
    skipped = [r for r in res.rows if r.status == "skipped"]
    assert {r.backend for r in skipped} == {"torch-cuda", "ort-cuda", "ort-tensorrt"}
    assert all(r.reason for r in skipped)
    assert [r.status for r in res.rows if r.backend in ("torch-cpu", "ort-cpu")] == ["ok", "ok"]


@requires_cuda
def test_cuda_backends_time_with_synchronisation(artifacts):
    vs = [variant_from_path(artifacts["model"]), variant_from_path(artifacts["onnx"])]
    res = run_benchmark(vs, BenchConfig(backends=["torch-cuda", "ort-cuda"], batch_sizes=[1, 4], timing=FAST,
                                        agreement_images=4))
    by = {r.backend: r for r in res.rows}
    t = by["torch-cuda"]
    assert t.status == "ok", t.reason
    assert t.timing(4) is not None and t.timing(4).device_p50_ms is not None  # CUDA events recorded
    assert t.agreement == pytest.approx(100.0)
    o = by["ort-cuda"]
    assert o.status in ("ok", "skipped"), o.reason
    if o.status == "ok":
        assert o.provider == "CUDAExecutionProvider" and o.timing(1) is not None


# ------------------------------------------------------------------ reports
def test_report_files_are_written_and_parse(artifacts, tmp_path):
    vs = [variant_from_path(artifacts["model"]), variant_from_path(artifacts["onnx"])]
    res = run_benchmark(vs, BenchConfig(backends=["cpu", "cuda"], batch_sizes=[1, 2], timing=FAST,
                                        agreement_images=2))
    paths = write_report(res, tmp_path / "report")
    data = json.loads(paths["json"].read_text())
    assert data["reference"] == "model" and data["environment"]["cpu"]["model"]
    assert "vnni" in data["environment"]["cpu"] and "versions" in data["environment"]
    with paths["csv"].open() as f:
        rows = list(csv.DictReader(f))
    ok = [r for r in rows if r["status"] == "ok"]
    assert {(r["variant"], r["backend"], r["batch_size"]) for r in ok} == {
        ("model", "torch-cpu", "1"), ("model", "torch-cpu", "2"), ("onnx", "ort-cpu", "1"), ("onnx", "ort-cpu", "2")}
    for r in ok:
        assert float(r["p50_ms"]) > 0 and float(r["throughput_ips"]) > 0
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = paths["markdown"].read_text()
    assert "| model | torch-cpu |" in md and "## Environment" in md and "accuracy_vs_latency.png" in md
    if not torch.cuda.is_available():
        assert "torch-cuda** skipped" in md


# ------------------------------------------------------------------ CLI
runner = CliRunner()




@pytest.mark.parametrize("args, expected", [
    (["--backends", "cpu,tpu"], "unknown backend 'tpu'"),
    (["--batch-sizes", "1,0"], "batch sizes must be at least 1"),
    (["--batch-sizes", "one"], "bad batch size"),
    (["--threads", "0"], "threads must be at least 1"),
])
def test_cli_bad_options(tmp_path, args, expected):
    res = runner.invoke(app, ["bench", "--depth", "18", "--report", str(tmp_path / "r")] + args)
    assert expected in one_line_error(res, strict=False)
    assert not (tmp_path / "r").exists()


def test_cli_artifact_folder_missing_files(tmp_path, artifacts):
    broken = tmp_path / "broken"
    broken.mkdir()
    write_manifest(broken, Manifest.from_dict({"format": MANIFEST_FORMAT, "kind": "onnx", "file": "model.onnx", "precision": "fp32"}))
    res = runner.invoke(app, ["bench", str(broken), "--report", str(tmp_path / "r")])
    assert "missing its file model.onnx" in one_line_error(res, strict=False)
    res = runner.invoke(app, ["bench", str(tmp_path / "nothing-here"), "--report", str(tmp_path / "r")])
    assert "does not exist" in one_line_error(res, strict=False)
    res = runner.invoke(app, ["bench", "--report", str(tmp_path / "r")])
    assert "nothing to benchmark" in one_line_error(res, strict=False)


def test_cli_bench_json_and_report(tmp_path, artifacts):
    res = runner.invoke(app, ["bench", str(artifacts["onnx"]), "--depth", "18", "--input-size", "32",
                              "--num-classes", "10", "--backends", "cpu", "--batch-sizes", "1", "--iterations", "2",
                              "--warmup", "1", "--threads", "2", "--report", str(tmp_path / "r"), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert {r["variant"] for r in data["rows"]} == {"onnx", "resnet18-random"}
    assert all(r["status"] == "ok" for r in data["rows"])
    for name in ("report.md", "results.json", "results.csv", "accuracy_vs_latency.png"):
        assert (tmp_path / "r" / name).is_file()
