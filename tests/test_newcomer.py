"""Issue 18, the newcomer's path: what the CLI, the reports and the README say at a glance is true and readable.

One test (or a few) per finding of the issue; CLI output is asserted through typer's CliRunner."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

from helpers import one_line_error
from resnet_opt.bench.harness import BatchTiming, BenchResult, BenchRow, choose_reference
from resnet_opt.bench.timing import LatencyStats
from resnet_opt.bench.variants import variant_from_depth, variant_from_path
from resnet_opt.cli import app
from resnet_opt.resnet import ModelSpec
from resnet_opt.pipeline.prune import PruneConfig
from resnet_opt.pipeline.train import TrainStageConfig

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
DEMO_NAMES = ["fp32-eager", "pruned-fp32-eager", "fused-fp32-eager", "torchscript-fp32", "onnx-fp32", "onnx-int8",
              "torchscript-int8"]


def fake_result(unstable: str | None = None, names: list[str] = DEMO_NAMES) -> BenchResult:
    """A BenchResult shaped like the demo's (no measurement): ``unstable`` names a variant whose batch-1 runs
    include slow outliers."""
    rows = []
    for i, n in enumerate(names):
        backend = "ort-cpu" if n.startswith("onnx") else ("torchscript-cpu" if n.startswith("torchscript") else "torch-cpu")
        s1 = [0.010 - 0.001 * i] * 20
        if n == unstable:
            s1 = s1[:12] + [0.050] * 8
        t = [BatchTiming(1, "ok", None, LatencyStats.from_samples(s1, 1)),
             BatchTiming(32, "ok", None, LatencyStats.from_samples([0.2] * 10, 32))]
        rows.append(BenchRow(variant=n, backend=backend, precision="int8" if "int8" in n else "fp32", top1=99.17,
                             top5=100.0, agreement=100.0, max_abs_diff=0.01, timings=t))
    return BenchResult(environment={}, config={"batch_sizes": [1, 32], "timing": {}},
                       variants=[{"name": n, "size_bytes": 44_000_000, "trained": True} for n in names], rows=rows,
                       backends={"torch-cuda": "no CUDA GPU here"}, reference=names[0], data="digits", labelled=True,
                       created="now", seconds=1.0, title="resnet-opt pipeline: resnet18 on digits")


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A ResNet-18 model folder at 16 px (random weights, saved like a trained one): fast CLI runs."""
    from resnet_opt.data import digits_preprocessing
    from resnet_opt.resnet import ResNet, save_model

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny") / "r18"
    save_model(ResNet(18, num_classes=10).eval(), out, input_size=16,
               preprocessing=digits_preprocessing(16).to_dict(), class_names=[str(i) for i in range(10)],
               extra={"data": "digits:16"})
    return out


@pytest.fixture(scope="module")
def fake_onnx_artifact(tmp_path_factory) -> Path:
    """An artifact folder whose manifest is real and whose model file is a placeholder (inspect does not load it)."""
    from resnet_opt.core.manifest import MANIFEST_FORMAT, Manifest, write_manifest
    from resnet_opt.data import digits_preprocessing

    out = tmp_path_factory.mktemp("art") / "r18-int8"
    out.mkdir()
    (out / "model_int8.onnx").write_bytes(b"\x08\x07placeholder" * 64)
    write_manifest(out, Manifest.from_dict({"format": MANIFEST_FORMAT, "kind": "onnx", "file": "model_int8.onnx", "precision": "int8", "stage": "quantize",
                         "source": {"kind": "model_dir", "path": "runs/digits-r18", "trained": True},
                         "architecture": {"depth": 18, "num_classes": 10},
                         "input": {"name": "input", "shape": [-1, 3, 32, 32], "dtype": "float32"},
                         "output": {"name": "logits", "shape": [-1, 10], "dtype": "float32"},
                         "preprocessing": digits_preprocessing(32).to_dict(),
                         "class_names": [str(i) for i in range(10)],
                         "validation": {"top1_agreement": 100.0, "fp32_top1": 98.61, "int8_top1": 98.61},
                         "measurements": {"latency_ms": {"int8": 0.29, "fp32_onnx": 0.5, "threads": 2}},
                         "quantization": {"method": "percentile", "reason": "x" * 200}}))
    return out


# ------------------------------------------------------------------ bench: the reference is the trained model
def test_random_model_never_becomes_the_reference_of_trained_artifacts(tiny_model_dir):
    trained = variant_from_path(tiny_model_dir)
    random = variant_from_depth(18, input_size=16, num_classes=10)
    assert choose_reference([random, trained]) is trained  # the README's old `bench artifacts/* --depth 18`
    int8 = variant_from_path(tiny_model_dir)
    int8.name, int8.precision, int8.kind = "int8", "int8", "onnx"
    assert choose_reference([random, int8]) is int8  # no trained FP32: still a trained one, not the random model
    assert choose_reference([random]) is random  # nothing trained: latency-only comparison


def test_reference_may_be_given_as_a_folder(tiny_model_dir):
    from resnet_opt.core.errors import ConfigError
    from resnet_opt.pipeline.bench import resolve_reference

    vs = [variant_from_depth(18, input_size=16, num_classes=10), variant_from_path(tiny_model_dir)]
    assert resolve_reference(vs, str(tiny_model_dir)) == tiny_model_dir.name
    assert resolve_reference(vs, "resnet18-random") == "resnet18-random"
    with pytest.raises(ConfigError, match="neither a variant name"):
        resolve_reference(vs, "/no/such/folder")


# ------------------------------------------------------------------ quantize: like for like first
def test_quantize_headline_compares_int8_with_fp32_on_the_same_runtime():
    from resnet_opt.cli.quantize import latency_headline
    from resnet_opt.core.manifest import Manifest
    from resnet_opt.pipeline.quantize import QuantizeResult

    def result(kind: str, lat: dict) -> QuantizeResult:
        return QuantizeResult(out=Path("q"), manifest=Manifest(kind=kind, precision="int8"), seconds=1.0,
                              latency_ms=lat, threads=2)

    line = latency_headline(result("onnx", {"fp32_torch_eager": 11.9, "fp32_onnx": 0.5, "int8": 0.294}))
    same, cross = line.index("1.70×"), line.index("40.48×")
    assert same < cross and "on onnxruntime" in line[:same] and "torch eager" in line[same:], line
    torch_line = latency_headline(result("torchscript", {"fp32_torch_eager": 20.0, "int8": 10.0}))
    assert "2.00× faster" in torch_line and "TorchScript" in torch_line
    assert "INT8 .pt2" in latency_headline(result("pt2", {"fp32_torch_eager": 20.0, "int8": 10.0}))


# ------------------------------------------------------------------ bench: median throughput, spread, warning
def test_throughput_from_the_median_and_outliers_flagged():
    s = LatencyStats.from_samples([0.00615] * 49 + [0.454], batch_size=1)  # the 6.15 ms + one 454 ms run
    assert s.throughput_ips == pytest.approx(1e3 / 6.15, rel=1e-6)  # was 1000 / mean = 66 img/s
    assert s.unstable and s.cv > 1
    steady = LatencyStats.from_samples([0.010, 0.0101, 0.0099] * 10, batch_size=8)
    assert not steady.unstable and steady.spread == pytest.approx(1.0, abs=0.02)


def test_unstable_cells_warned_in_report_and_console():
    from resnet_opt.bench.report import render_csv, render_markdown
    from resnet_opt.cli.bench import print_comparison

    res = fake_result(unstable="fused-fp32-eager")
    md = render_markdown(res, plot_name=None)
    assert "p90/p50 @1" in md and "> **Warning:** 1 timing cell(s) unstable: fused-fp32-eager" in md
    assert "--threads" in md and "CV %" in md
    assert "unstable" in render_csv(res).splitlines()[0]
    con = Console(width=100, record=True)
    print_comparison(res, out=con)
    text = con.export_text()
    assert "warning: 1 timing cell(s) unstable" in text and "--threads" in text
    steady = Console(width=100, record=True)
    print_comparison(fake_result(), out=steady)
    assert "unstable" not in steady.export_text() and "Warning" not in render_markdown(fake_result(), None)


# ------------------------------------------------------------------ tables fit 80 columns
@pytest.mark.parametrize("width", [80, 100])
def test_comparison_table_fits_and_names_stay_distinguishable(width):
    from resnet_opt.cli.bench import print_comparison

    names = DEMO_NAMES + ["r18-onnx-fp16-static", "r18-onnx-int8-minmax"]
    con = Console(width=width, record=True)
    print_comparison(fake_result(names=names), out=con)
    text = con.export_text()
    lines = text.splitlines()
    assert all(len(ln) <= width for ln in lines), "\n".join(ln for ln in lines if len(ln) > width)
    assert "…" not in text
    table = text.split("× ref:")[0]
    for n in names:  # each name whole on one line, or folded over consecutive lines of its row
        cells = [ln.split()[0] for ln in table.splitlines() if ln.strip()]
        assert n in cells or any("".join(cells[i:i + 2]) == n for i in range(len(cells))), (n, table)
    assert "img/s" in table and "@32" in table  # the last column is not cut off


def test_skip_reasons_printed_once(tiny_model_dir, tmp_path):
    r = runner.invoke(app, ["bench", str(tiny_model_dir), "--backends", "cpu,cuda", "--batch-sizes", "1",
                            "--iterations", "2", "--warmup", "1", "--time-budget", "1", "--report", str(tmp_path)])
    assert r.exit_code == 0, r.output
    if not torch.cuda.is_available():
        assert r.output.count("skipped torch-cuda") == 1, r.output
    assert "× ref: speed-up over r18" in r.output


# ------------------------------------------------------------------ models: instant and right
def test_models_macs_are_analytic_and_equal_flopcounter():
    from resnet_opt.resnet import ResNet, count_macs, count_params
    from resnet_opt.resnet.flops import analytic_macs, analytic_params

    for d in (18, 34, 50, 101, 152):
        with torch.device("meta"):  # FlopCounterMode counts from shapes: no weights needed, seconds instead of 30
            m = ResNet(d, num_classes=10)
        assert analytic_macs(d, 32, 10) == count_macs(m, 32), d
        assert analytic_params(d, 10) == count_params(m), d
    r = runner.invoke(app, ["models"])
    assert r.exit_code == 0 and "11.51" in r.output and "60,192,808" in r.output


# ------------------------------------------------------------------ --version, inspect
def test_version():
    import resnet_opt

    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.startswith(f"resnet-opt {resnet_opt.__version__} (torch ")


def test_inspect_artifact_table_json_and_hash_check(fake_onnx_artifact, tmp_path):
    import shutil

    r = runner.invoke(app, ["inspect", str(fake_onnx_artifact)])
    assert r.exit_code == 0, r.output
    for needle in ("onnx, INT8", "resnet18, 10 classes", "input [-1, 3, 32, 32]", "digits-32", "model_int8.onnx",
                   "sha256 ok", "top1_agreement", "latency_ms.int8", "quantization.method", "percentile"):
        assert needle in r.output, (needle, r.output)
    assert "x" * 60 not in r.output  # long explanations stay in --json
    d = json.loads(runner.invoke(app, ["inspect", str(fake_onnx_artifact), "--json"]).output)
    assert d["verified"] and d["files"][0]["status"] == "ok" and d["measurements"]["latency_ms.int8"] == 0.29
    bad = tmp_path / "bad"
    shutil.copytree(fake_onnx_artifact, bad)
    (bad / "model_int8.onnx").write_bytes(b"\x08\x07tampered!!!" * 64)
    r = runner.invoke(app, ["inspect", str(bad)])
    assert r.exit_code == 1 and "MISMATCH" in r.output and r.output.strip().splitlines()[-1].startswith("error: ")


def test_inspect_model_folder(tiny_model_dir):
    r = runner.invoke(app, ["inspect", str(tiny_model_dir), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["kind"] == "model" and d["num_classes"] == 10 and d["preprocessing"]["crop"] == 16
    assert {f["path"] for f in d["files"]} >= {"model.safetensors", "config.json"}
    one_line_error(runner.invoke(app, ["inspect", "/no/such/artifact"]), "does not exist")


# ------------------------------------------------------------------ predict: folders, globs, summary
def test_predict_folder_glob_summary_and_single_top1_column(tiny_model_dir, tmp_path):
    model = tiny_model_dir  # random weights: the output's shape is tested, not its accuracy
    imgs = tmp_path / "digits"
    r = runner.invoke(app, ["digits-images", "--out", str(imgs), "--count", "20"])
    assert r.exit_code == 0 and "light ink on a dark ground" in r.output, r.output
    assert sorted(p.name for p in imgs.iterdir()) == [str(i) for i in range(10)]
    r = runner.invoke(app, ["predict", str(model), str(imgs), "--top-k", "1"])
    assert r.exit_code == 0, r.output
    assert "does not exist" not in r.output and r.output.count("top-1") == 0  # one "class" column, not two top-1
    said = " ".join(r.output.split())
    assert "20 image(s); predicted classes:" in said and re.search(r"Folder names as labels: \d+/20 correct", said), said
    r = runner.invoke(app, ["predict", str(model), str(imgs / "*" / "*.png"), "--json", "--top-k", "3"])
    d = json.loads(r.output)
    assert d["summary"]["images"] == 20 and len(d["predictions"][0]["indices"]) == 3
    one_line_error(runner.invoke(app, ["predict", str(model), str(tmp_path / "*.jpg")]), "no image matches")
    one_line_error(runner.invoke(app, ["predict", str(model), str(tmp_path / "nope.png")]),
                   "does not exist")


def test_digits_images_are_what_eval_sees(tmp_path):
    """The PNGs give a model exactly the val tensors eval gives it."""
    from resnet_opt.data import build_dataset, digits_preprocessing, load_image
    from resnet_opt.data.digits_images import write_digits_images

    res = write_digits_images(tmp_path / "d", count=3)
    ds = build_dataset("digits", "val")
    x = torch.stack([load_image(f, digits_preprocessing(32)) for f in res.files])
    assert any(torch.allclose(x[0], ds[i][0]) for i in range(20))


# ------------------------------------------------------------------ noise
def test_fuse_prints_its_result_once(tiny_model_dir, tmp_path):
    r = runner.invoke(app, ["fuse", "--model", str(tiny_model_dir), "--out", str(tmp_path / "f")])
    assert r.exit_code == 0 and r.output.count("folded") == 1, r.output


def test_training_bar_shows_no_nan_before_the_first_step():
    from resnet_opt.engine.train import EpochRecord, _EpochBar

    bar = _EpochBar(True, "epoch 1/1", [], 4)
    try:
        con = Console(width=120, record=True)
        con.print(bar._prog.make_tasks_table(bar._prog.tasks))
        assert "nan" not in con.export_text()
        bar.update(0.5)
        con.print(bar._prog.make_tasks_table(bar._prog.tasks))
        assert "loss 0.5000" in con.export_text()
    finally:
        bar.close(EpochRecord(1, 0.5, None, None, 0.001, 0.1))


def test_torchscript_int8_predict_prints_no_deprecation_warning(tiny_model_dir, tmp_path):
    """The legacy FX INT8 TorchScript artifact loads without torch's deprecation chatter (the default torch target,
    PT2E .pt2, is checked deprecation-free in test_pt2.py)."""
    art = tmp_path / "ts8"
    r = runner.invoke(app, ["quantize", "--model", str(tiny_model_dir), "--target", "torchscript-fx", "--data",
                            "synthetic:16",
                            "--calib-size", "4", "--eval-size", "4", "--latency-runs", "1", "--out", str(art)])
    assert r.exit_code == 0, r.output
    said = " ".join(r.output.split())  # the console wraps at 80 columns
    assert "(option)" not in said and "model_dir" not in said and "from --data" in said, said
    assert "from model folder" in said and "vs FP32 torch eager" in said, said
    img = tmp_path / "x.png"
    from PIL import Image

    Image.new("L", (8, 8), 200).save(img)
    p = subprocess.run([sys.executable, "-m", "resnet_opt", "predict", str(art), str(img), "--top-k", "1"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "deprecated" not in p.stderr.lower() and "Warning" not in p.stderr, p.stderr
    assert "1 image(s)" in p.stdout


def test_drop_native_stderr_keeps_other_lines(capfd):
    import os

    from resnet_opt.core.quiet import drop_native_stderr

    with drop_native_stderr("known notice"):
        os.write(2, b"a known notice here\nsomething else\n")
    err = capfd.readouterr().err
    assert "something else" in err and "known notice" not in err


# ------------------------------------------------------------------ Python API progress; prune vs train
def test_train_and_prune_report_progress_through_a_callback(tmp_path):
    from resnet_opt.cli.prune import finetune_line
    from resnet_opt.engine import TrainConfig
    from resnet_opt.pipeline.prune import prune_model
    from resnet_opt.pipeline.train import train_model

    seen: list = []
    res = train_model(
        TrainStageConfig(
            data="digits:8", out=tmp_path / "t", train=TrainConfig(epochs=1), limit=64, source=ModelSpec(depth=18)
        ),
        on_epoch=seen.append,
    )
    assert [r.epoch for r in seen] == [1] and seen[0].val_top1 is not None
    seen.clear()
    lines: list[str] = []
    out = prune_model(PruneConfig(out=tmp_path / "p", ratio=0.5, data="digits:8", finetune_epochs=1, train_limit=64,
                      eval_limit=64, latency_runs=1, source=ModelSpec(model_dir=res.out)), on_epoch=seen.append,
                      log=lines.append)
    assert len(seen) == 1 and out.finetune["kept"] == "last epoch"
    said = " ".join(lines)
    assert "saved" not in said and "model_dir" not in said and "from model folder" in said, lines  # `prune` says saved
    assert "LAST epoch is kept" in finetune_line(out)


# ------------------------------------------------------------------ README
def test_readme_commands_tell_the_truth():
    text = (ROOT / "README.md").read_text()
    bench = [ln for ln in text.splitlines() if ln.startswith("resnet-opt bench")]
    assert bench and all("--depth" not in ln or "--reference" in ln for ln in bench), bench
    flat = " ".join(text.replace("**", "").split())
    assert "digits-images" in text and "light ink on a dark ground" in flat
    assert "resnet-opt inspect" in text and "--version" in text and "on_epoch" in text
    assert "AVX2 only" in text and "AVX-512 VNNI" in text and "AMX" in text and "--tag" in text


def test_benchmark_results_can_be_named_per_cpu(monkeypatch):
    from resnet_opt.core.env import cpu_isa_label, cpu_tag

    xeon = {"model": "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz", "cores": 2,
            "flags": {"avx2": True, "avx512f": True, "avx512_vnni": True, "amx_int8": True}}
    assert cpu_tag(xeon) == "intel-xeon-platinum-2c-avx512vnni-amx" and cpu_isa_label(xeon) == "AVX-512 VNNI + AMX"
    assert cpu_isa_label({"flags": {"avx2": True}}) == "AVX2 only"
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from common import results_name

    monkeypatch.setenv("RESNET_OPT_RESULTS_TAG", "auto")
    assert results_name("train_digits_r18") == f"train_digits_r18-{cpu_tag()}"
    monkeypatch.delenv("RESNET_OPT_RESULTS_TAG")
    assert results_name("train_digits_r18") == "train_digits_r18"


def test_headline_names_the_fastest_variant_against_the_reference():
    from resnet_opt.cli.bench import headline

    (line,) = headline(fake_result())
    assert line.startswith("fastest at batch 1: torchscript-int8") and "2.50× faster than fp32-eager" in line
    assert "top-1 99.17 % vs 99.17 % (no change in top-1)" in line


def test_predict_warns_when_a_colour_photo_is_given_to_a_grayscale_model(trained_digits_dir, tmp_path):
    """A colour, wide photo given to the digits model: predict still answers, and says on stderr (and in --json)
    that the image is nothing like the training images; real digits images raise no such warning."""
    import numpy as np
    from PIL import Image

    a = np.zeros((300, 500, 3), np.uint8)
    a[..., 0], a[:150, :, 2], a[150:, :, 1] = 200, 250, 90  # sky and grass
    photo = tmp_path / "building.jpg"
    Image.fromarray(a).save(photo)
    r = runner.invoke(app, ["predict", str(trained_digits_dir), str(photo)])
    assert r.exit_code == 0, r.output
    err = " ".join(r.stderr.split())
    assert "warning: 1 of 1 image(s) are in colour" in err and "trained on grayscale" in err and "squashed" in err
    r = runner.invoke(app, ["predict", str(trained_digits_dir), str(photo), "--json"])
    assert any("colour" in w for w in json.loads(r.stdout)["input_warnings"])
    r = runner.invoke(app, ["digits-images", "--out", str(tmp_path / "d"), "--count", "10"])
    r = runner.invoke(app, ["predict", str(trained_digits_dir), str(tmp_path / "d"), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["input_warnings"] == []


def test_bench_without_report_prints_the_table_and_writes_nothing(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["bench", str(tiny_model_dir), "--backends", "cpu", "--batch-sizes", "1",
                            "--iterations", "2", "--warmup", "1", "--time-budget", "1"])
    assert r.exit_code == 0, r.output
    assert "fastest at batch 1" in r.output or "(the reference)" in r.output
    assert "--report DIR also writes" in " ".join(r.output.split())
    assert list(tmp_path.iterdir()) == []  # no report folder, nothing written


def test_a_variant_no_selected_backend_runs_is_named_on_the_console():
    from resnet_opt.cli.bench import print_comparison

    res = fake_result()
    res.rows.append(BenchRow(variant="openvino-int8", backend="-", status="skipped", precision="int8",
                             kind="openvino", reason="no selected backend runs openvino variants (selected: ort-cpu)"))
    con = Console(width=80, record=True)
    print_comparison(res, out=con)
    text = " ".join(con.export_text().split())
    assert "skipped variant openvino-int8: no selected backend runs openvino variants" in text


def test_bench_table_fits_the_columns_the_user_set(monkeypatch):
    """COLUMNS=80 with output to a pipe (not a terminal): the table and the warning lines fit 80 columns."""
    import resnet_opt.cli.bench as B

    monkeypatch.setenv("COLUMNS", "80")
    con = Console(width=80, record=True, force_terminal=False)
    monkeypatch.setattr(B, "console", con)
    B.print_comparison(fake_result(unstable="fp32-eager"))
    lines = con.export_text().splitlines()
    assert lines and max(len(x) for x in lines) <= 80, max(lines, key=len)
    assert any("warning:" in x for x in lines)


def test_eval_on_an_image_folder_prepares_images_as_the_model_records(trained_digits_dir, tmp_path):
    """eval --data imagefolder:DIR on a 32 px digits model: ordinary PNGs prepared with the model's recorded
    preprocessing (not refused as '224 px images'), scored on the folder names."""
    r = runner.invoke(app, ["digits-images", "--out", str(tmp_path / "imgs"), "--count", "30"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["eval", "--model", str(trained_digits_dir), "--data", f"imagefolder:{tmp_path / 'imgs'}",
                            "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["count"] == 30 and res["top1"] > 80.0, res


def test_inspect_of_a_model_folder_says_what_it_is(tiny_model_dir, tmp_path):
    r = runner.invoke(app, ["inspect", str(tiny_model_dir)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "train or save_model (a model folder" in text and "sha256 computed now (none recorded)" in text
    assert "a model folder records no creation time" in text
    r = runner.invoke(app, ["inspect", str(tiny_model_dir.parent)])  # the folder above: names what it holds
    assert r.exit_code != 0 and f"it holds 1 artifact(s): {tiny_model_dir.name}" in " ".join(r.stderr.split())


def test_headline_gives_the_like_for_like_gain_first():
    """INT8 on a runtime is first compared with FP32 on the same runtime, then with the reference (runtime + INT8)."""
    from resnet_opt.cli.bench import headline

    (line,) = headline(fake_result(names=["fp32-eager", "onnx-fp32", "onnx-int8"]))
    assert line.startswith("fastest at batch 1: onnx-int8 on ort-cpu")
    assert "faster than onnx-fp32 (FP32, same runtime" in line and line.index("onnx-fp32") < line.index("fp32-eager (")


# ------------------------------------------------------------------ the bench plot: labels that never collide
def clustered_result() -> BenchResult:
    """Eleven points, most in the 2-4 ms cluster, near-equal top-1; FP32 and INT8 only (no FP16 point)."""
    pts = [("fp32-eager", "torch-cpu", "fp32", 5.65, 99.17), ("pruned-fp32-eager", "torch-cpu", "fp32", 3.9, 98.89),
           ("fused-fp32-eager", "torch-cpu", "fp32", 3.3, 99.17), ("torchscript-fp32", "torchscript-cpu", "fp32", 3.0,
                                                                    99.17),
           ("torchscript-int8", "torchscript-cpu", "int8", 2.6, 99.03), ("pt2-int8", "pt2-cpu", "int8", 2.4, 98.89),
           ("pt2-fp32", "pt2-cpu", "fp32", 2.1, 99.17), ("openvino-int8", "openvino-cpu", "int8", 2.2, 98.89),
           ("onnx-fp32", "ort-cpu", "fp32", 0.20, 99.17), ("onnx-int8", "ort-cpu", "int8", 0.14, 98.89),
           ("onnx-int8-pruned", "ort-cpu", "int8", 0.15, 98.75)]
    rows = [BenchRow(variant=n, backend=b, precision=p, top1=q, top5=100.0, agreement=99.0, max_abs_diff=0.01,
                     timings=[BatchTiming(1, "ok", None, LatencyStats.from_samples([ms / 1000] * 10, 1))])
            for n, b, p, ms, q in pts]
    return BenchResult(environment={"cpu": {"model": "AMD EPYC"}}, config={"batch_sizes": [1], "timing": {}},
                       variants=[{"name": p[0], "trained": True} for p in pts], rows=rows, backends={},
                       reference="fp32-eager", data="digits", labelled=True, created="now", seconds=1.0,
                       title="resnet-opt pipeline: resnet18 on digits")


def test_bench_plot_labels_do_not_overlap_and_the_legend_lists_only_what_has_points():
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    from resnet_opt.bench.report import POINT_LABEL_GID, plot_figure

    res = clustered_result()
    fig = plot_figure(res)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        (ax,) = fig.axes
        labels = [t for t in ax.texts if t.get_gid() == POINT_LABEL_GID]
        assert sorted(t.get_text() for t in labels) == sorted(f"{r.variant} ({r.backend})" for r in res.rows)
        boxes = [(t.get_text(), Text.get_window_extent(t, renderer)) for t in labels]  # the text, not its leader
        for i, (a, ba) in enumerate(boxes):
            assert fig.bbox.containsx(ba.x0) and fig.bbox.containsx(ba.x1), a  # not cut off by the figure's edge
            assert fig.bbox.containsy(ba.y0) and fig.bbox.containsy(ba.y1), a
            for b, bb in boxes[i + 1:]:
                assert not ba.overlaps(bb), (a, b)
        legend = ax.get_legend()
        entries = [t.get_text() for t in legend.get_texts()]
        assert entries == ["FP32", "INT8", "torch", "torchscript", "onnxruntime", "pt2", "openvino"], entries
        lb = legend.get_window_extent(renderer)
        assert not any(lb.overlaps(b) for _, b in boxes)
    finally:
        plt.close(fig)


# ------------------------------------------------------------------ result lines: a path is never broken
def test_result_line_puts_a_long_path_on_a_line_of_its_own():
    from resnet_opt.cli.common import print_result

    con = Console(width=80, record=True, force_terminal=False)
    long = "runs/" + "a-long-experiment-folder-name/" * 2 + "digits-r18-pruned-int8"
    print_result("best val top-1 99.17% at epoch 8 of 8 (that epoch is kept) (304.0s)", long, out=con)
    lines = con.export_text().splitlines()
    assert lines == ["best val top-1 99.17% at epoch 8 of 8 (that epoch is kept) (304.0s)", f"  -> {long}"], lines
    con = Console(width=80, record=True, force_terminal=False)
    print_result("saved (1.2s)", "runs/x", out=con)
    assert con.export_text().splitlines() == ["saved (1.2s) -> runs/x"]
    con = Console(width=40, record=True, force_terminal=False)
    print_result("saved (1.2s)", long, out=con)  # longer than the terminal: whole, on its own line (no fold)
    assert con.export_text().splitlines() == ["saved (1.2s)", f"  -> {long}"]


def test_fuse_at_80_columns_prints_a_long_out_path_unbroken(tiny_model_dir, tmp_path):
    out = tmp_path / ("a-long-folder-name-for-the-fused-model-" * 1) / "resnet18-fused-and-ready"
    r = runner.invoke(app, ["fuse", "--model", str(tiny_model_dir), "--out", str(out)], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    assert any(str(out) in line for line in r.stdout.splitlines()), r.stdout


def test_eval_note_for_int8_figures_from_another_runtime():
    from resnet_opt.pipeline.evaluate import _other_runtime

    v = {"runtime": "onnxruntime CPU", "int8_top1": 99.17, "eval": {"split": "val", "images": 360}}
    validated, note = _other_runtime("onnx", "int8", v, "OpenVINO CPU")
    assert note == ("INT8 kernels differ between runtimes: validated on onnxruntime CPU at top-1 99.17% on 360 val "
                    "images; this ran on OpenVINO CPU")
    assert validated == {"runtime": "onnxruntime CPU", "top1": 99.17, "images": 360, "split": "val"}
    assert _other_runtime("onnx", "int8", v, "onnxruntime CPU") == (None, None)
    assert _other_runtime("onnx", "fp32", v, "OpenVINO CPU") == (None, None)  # FP32 kernels agree closely
    old = {k: x for k, x in v.items() if k != "runtime"}  # a manifest from before validation.runtime
    assert _other_runtime("onnx", "int8", old, "onnxruntime TensorRT")[0]["runtime"] == "onnxruntime CPU"
    assert _other_runtime("pt2", "int8", old, "PyTorch CPU") == (None, None)
