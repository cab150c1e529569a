"""The C++ runner (cpp/resnet_opt_runner.cpp): built once per session, checked against the Python runtime on real
digits images for FP32 and INT8 artifacts, TorchScript and AOTInductor .pt2; bad input gives one stderr line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from resnet_opt.core.artifact import atomic_write_text
from resnet_opt.core.errors import BuildError
from resnet_opt.resnet import ModelSpec
from resnet_opt.pipeline.export import ExportConfig

# Probabilities from the runner and from the Python runtime: same libtorch kernels on the same preprocessed tensors
# (the runner re-implements Pillow's resize exactly), so they agree to float32 rounding. Measured max |diff|: see
# docs/cpp_runner.md (0 on 64 digits images for FP32/INT8, TorchScript/.pt2); the bound only allows for rounding.
PROB_ATOL = 1e-5
N_IMAGES = 12


# ------------------------------------------------------------------------------------------------ helpers
def read_manifest(folder: Path) -> dict:
    """The manifest as the runner reads it (plain JSON: .pt2 is not a registered kind on every branch yet)."""
    return json.loads((Path(folder) / "manifest.json").read_text())


def write_manifest(folder: Path, data: dict) -> None:
    """A manifest written as JSON without the Python-side validation (a .pt2 kind, minimal test manifests)."""
    head = {"format": "resnet-opt-artifact", "format_version": 1}
    atomic_write_text(Path(folder) / "manifest.json", json.dumps({**head, **data}, indent=2) + "\n")


def pt2_is_registered() -> bool:
    try:
        from resnet_opt.core.manifest import KINDS
    except ImportError:
        return False
    return "pt2" in KINDS


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def runner_bin() -> Path:
    from resnet_opt.runtime.cpp_runner import build_runner, find_compiler

    try:
        find_compiler()
    except BuildError as e:
        pytest.skip(f"no C++ compiler: {e}")
    import os

    # missing header packages are installed with apt-get when running as root (a fresh CI machine); elsewhere the
    # BuildError names the apt-get command and the test fails: a compiler exists, so the runner must build
    return build_runner(install_deps=hasattr(os, "geteuid") and os.geteuid() == 0)


@pytest.fixture(scope="session")
def digit_pngs(tmp_path_factory) -> list[Path]:
    """Real digits images (val split) saved as 8×8 grayscale PNGs, as a user would hand them to the runner."""
    from PIL import Image
    from sklearn.datasets import load_digits

    from resnet_opt.data.datasets import digits_split_indices

    d = load_digits()
    imgs = np.clip(d.images * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
    _, va = digits_split_indices()
    folder = tmp_path_factory.mktemp("digit-pngs")
    out = []
    for i in va[:N_IMAGES]:
        p = folder / f"digit{int(i)}_label{int(d.target[i])}.png"
        Image.fromarray(imgs[i], mode="L").save(p)
        out.append(p)
    return out


@pytest.fixture(scope="session")
def artifacts(trained_digits_dir, tmp_path_factory, pt2_artifacts) -> dict[str, Path]:
    """TorchScript FP32, FX INT8 TorchScript (`quantize --target torchscript-fx`), .pt2 FP32 (`export pt2`) and PT2E
    INT8 .pt2 (`quantize --target torch`), each made by resnet-opt's own stages."""
    from resnet_opt.pipeline.export import export_artifact
    from resnet_opt.pipeline.quantize import QuantizeConfig, quantize_model

    root = tmp_path_factory.mktemp("cpp-artifacts")
    arts: dict[str, Path] = {}
    export_artifact(
        ExportConfig("torchscript", out=root / "ts", count=8, source=ModelSpec(model_dir=trained_digits_dir))
    )
    arts["ts-fp32"] = root / "ts"
    quantize_model(QuantizeConfig(out=root / "ts-int8", source=ModelSpec(model_dir=trained_digits_dir),
                   target="torchscript-fx", calib_size=32, eval_size=64, latency_runs=1))
    arts["ts-int8"] = root / "ts-int8"
    arts["pt2-fp32"], arts["pt2-int8"] = pt2_artifacts.fp32, pt2_artifacts.int8  # export pt2 / quantize --target torch
    return arts


def _python_predictions(art: Path, images: list[Path], k: int):
    """What the Python runtime answers: runtime.load for TorchScript; for .pt2, aoti_load_package on the same
    preprocessing (Preprocessing.transform, as the runtime applies it)."""
    m = read_manifest(art)
    if m["kind"] != "pt2":
        from resnet_opt.runtime import load

        preds = load(art).predict([str(p) for p in images], top_k=k)
        return [(p.indices, p.probabilities) for p in preds]
    try:  # the runtime's own .pt2 loader, once `resnet-opt export pt2` has landed
        from resnet_opt.runtime import load

        preds = load(art).predict([str(p) for p in images], top_k=k)
        return [(p.indices, p.probabilities) for p in preds]
    except Exception:  # noqa: BLE001 - this main has no pt2 kind yet
        pass
    from resnet_opt.data import Preprocessing, load_image

    pre = Preprocessing.from_dict(m["preprocessing"])
    x = torch.stack([load_image(p, pre) for p in images])
    fn = torch._inductor.aoti_load_package(str(art / m["file"]))
    with torch.no_grad():
        probs = torch.softmax(fn(x).float(), dim=1)
    p, i = probs.topk(k, dim=1)
    return list(zip(i.tolist(), p.tolist()))


def _run(binary: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=300)


# ------------------------------------------------------------------------------------------------ preprocessing
def _dump(binary: Path, art: Path, images: list[Path], tmp: Path) -> torch.Tensor:
    out = tmp / "dump.f32"
    r = _run(binary, art, *images, "--dump-input", out)
    assert r.returncode == 0, r.stderr
    size = int(read_manifest(art)["preprocessing"]["crop"])
    return torch.from_numpy(np.fromfile(out, dtype="<f4").reshape(len(images), 3, size, size))


def test_preprocessing_matches_torchvision(runner_bin, tmp_path):
    """Decode + resize (Pillow's antialiased bilinear/bicubic, up and down) + crop + normalize, against
    Preprocessing.transform() on PIL, for grey, RGB, RGBA and palette PNGs: bit-exact on the digits-like grey image
    (an upscale) and wherever Pillow resamples horizontally first; elsewhere within one grey level for bilinear and a
    few for bicubic (Pillow 13 does the vertical pass first for some shrinking shapes, which rounds some pixels
    differently)."""
    from PIL import Image

    from resnet_opt.data import Preprocessing, load_image

    rng = np.random.default_rng(0)
    imgs = []
    for name, mode, shape in (("grey", "L", (8, 8)), ("rgb", "RGB", (53, 37, 3)), ("rgba", "RGBA", (41, 64, 4)),
                              ("tall", "RGB", (90, 31, 3))):
        p = tmp_path / f"{name}.png"
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(p)
        imgs.append(p)
    pal = tmp_path / "pal.png"
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).convert("P").save(pal)
    imgs.append(pal)
    model_file = tmp_path / "model.ts"
    model_file.write_bytes(b"not loaded by --dump-input")
    cases = [
        Preprocessing(resize=36, crop=32, interpolation="bilinear"),  # shorter side, then centre crop (odd offsets)
        Preprocessing(resize=32, crop=32, mean=(0.3, 0.3, 0.3), std=(0.4, 0.4, 0.4), grayscale=True, square=True),
        Preprocessing(resize=29, crop=24, interpolation="bicubic", square=True),
        Preprocessing(resize=20, crop=16, grayscale=True),  # RGB -> L with Pillow's rounding, then downscale
    ]
    exact = 0
    for i, pre in enumerate(cases):
        art = tmp_path / f"art{i}"
        art.mkdir()
        shutil.copy(model_file, art / "model.ts")
        write_manifest(art, {"kind": "torchscript", "file": "model.ts", "preprocessing": pre.to_dict(),
                             "input": {"shape": [-1, 3, pre.crop, pre.crop]}})
        got = _dump(runner_bin, art, imgs, tmp_path)
        want = torch.stack([load_image(p, pre) for p in imgs])
        assert got.shape == want.shape
        levels = (got - want).abs() * torch.tensor(pre.std).view(1, 3, 1, 1) * 255.0  # in 8-bit grey levels
        # bicubic overshoots and is clipped to 8 bits after the first pass, so a different pass order moves more
        bound = 1.0 if pre.interpolation == "bilinear" else 8.0
        assert levels.max().item() <= bound + 1e-3, (pre, levels.max().item())
        assert levels[0].max().item() <= 1e-3, pre  # the 8×8 grey image (as digits): bit-exact
        exact += int(levels.max().item() <= 1e-3)
    assert exact >= 1  # case 0: Pillow resamples horizontally first for every image: bit-exact


# ------------------------------------------------------------------------------------------------ predictions
@pytest.mark.parametrize("name", ["ts-fp32", "ts-int8", "pt2-fp32", "pt2-int8"])
def test_predictions_match_python_runtime(runner_bin, artifacts, digit_pngs, name):
    if name not in artifacts:
        pytest.skip("torchao is not installed: no PT2E INT8 .pt2")
    art = artifacts[name]
    k = 3
    r = _run(runner_bin, art, *digit_pngs, "--json", "--top-k", k, "--threads", 2)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["kind"] == read_manifest(art)["kind"] and len(out["predictions"]) == len(digit_pngs)
    want = _python_predictions(art, digit_pngs, k)
    worst = 0.0
    for got, (idx, probs), png in zip(out["predictions"], want, digit_pngs):
        assert got["source"] == str(png)
        assert got["indices"][0] == idx[0], (png, got, idx, probs)
        assert got["names"] == [str(i) for i in got["indices"]]  # the manifest's class names
        worst = max(worst, float(np.max(np.abs(np.asarray(got["probabilities"]) - np.asarray(probs)))))
        # the same top-k set (ties aside: compare where the probabilities are clearly apart)
        assert got["indices"][:2] == idx[:2] or abs(probs[1] - probs[2]) < PROB_ATOL
    assert worst <= PROB_ATOL, worst
    # the digits are classified well (the label is in the file name): the runner really computes
    right = sum(int(p["indices"][0]) == int(Path(p["source"]).stem.split("label")[1]) for p in out["predictions"])
    assert right >= len(digit_pngs) - 2, out["predictions"]


def test_bench_mode_reports_percentiles(runner_bin, artifacts):
    r = _run(runner_bin, artifacts["ts-fp32"], "--bench", "--batch", 2, "--warmup", 1, "--iters", 4, "--json",
             "--threads", 1)
    assert r.returncode == 0, r.stderr
    b = json.loads(r.stdout)["bench"]
    assert b["batch_size"] == 2 and b["iterations"] == 4 and len(b["samples_ms"]) == 4
    assert 0 < b["min_ms"] <= b["p50_ms"] <= b["p90_ms"] <= b["p99_ms"] <= b["max_ms"]
    assert json.loads(r.stdout)["threads"] == 1
    text = _run(runner_bin, artifacts["ts-fp32"], "--bench", "--iters", 2, "--warmup", 0)
    assert text.returncode == 0 and "p50" in text.stdout and "p99" in text.stdout


# ------------------------------------------------------------------------------------------------ bad input
def _one_line_failure(r: subprocess.CompletedProcess, *needles: str) -> str:
    assert r.returncode != 0
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_bad_input_gives_one_line(runner_bin, artifacts, digit_pngs, tmp_path):
    ts = artifacts["ts-fp32"]
    _one_line_failure(_run(runner_bin, tmp_path / "nope", digit_pngs[0]), "does not exist")
    _one_line_failure(_run(runner_bin, ts, tmp_path / "missing.png"), "missing.png", "does not exist")
    text = tmp_path / "notes.png"
    text.write_text("this is not an image\n")
    _one_line_failure(_run(runner_bin, ts, text), "not a readable image")
    _one_line_failure(_run(runner_bin, ts, digit_pngs[0], "--top-k", "zero"), "--top-k")
    _one_line_failure(_run(runner_bin, ts, digit_pngs[0], "--frobnicate"), "unknown option")
    _one_line_failure(_run(runner_bin, ts), "image")
    _one_line_failure(_run(runner_bin, tmp_path, digit_pngs[0]), "manifest.json")
    for name in ("ts-fp32", "pt2-fp32"):  # a corrupt model file (truncated) in an otherwise fine artifact
        bad = tmp_path / f"corrupt-{name}"
        shutil.copytree(artifacts[name], bad)
        f = bad / read_manifest(bad)["file"]
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 3])
        _one_line_failure(_run(runner_bin, bad, digit_pngs[0]), "not a loadable")
    broken = tmp_path / "broken-json"
    shutil.copytree(ts, broken)
    (broken / "manifest.json").write_text("{ not json")
    _one_line_failure(_run(runner_bin, broken, digit_pngs[0]), "not valid JSON")
    onnx = tmp_path / "onnx-kind"
    shutil.copytree(ts, onnx)
    m = read_manifest(onnx)
    m["kind"] = "onnx"
    write_manifest(onnx, m)
    _one_line_failure(_run(runner_bin, onnx, digit_pngs[0]), "kind")


# ------------------------------------------------------------------------------------------------ CLI and bench
def test_build_runner_cli_reuses_the_build(runner_bin, tmp_path):
    r = subprocess.run([sys.executable, "-m", "resnet_opt", "build-runner", "--json", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = Path(json.loads(r.stdout)["binary"])
    assert out == tmp_path / "resnet-opt-runner" and out.read_bytes() == runner_bin.read_bytes()
    bad = subprocess.run([sys.executable, "-m", "resnet_opt", "build-runner", "--cuda", "maybe"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and bad.stderr.strip().splitlines() == [
        "error: --cuda must be auto, on or off, got 'maybe'"]


def test_bench_backend_times_the_runner(runner_bin, artifacts):
    from resnet_opt.bench import BenchConfig, TimingConfig, run_benchmark
    from resnet_opt.bench.variants import variants_from_paths

    paths = [artifacts["ts-fp32"], artifacts["ts-int8"]] + ([artifacts["pt2-fp32"]] if pt2_is_registered() else [])
    variants = variants_from_paths(paths)
    res = run_benchmark(variants, BenchConfig(backends=["libtorch-cpp", "torchscript-cpu"], threads=1,
                                              timing=TimingConfig(warmup=1, iterations=3, settle_s=0.0),
                                              agreement_images=4))
    rows = {(r.variant, r.backend): r for r in res.rows}
    for v in variants:
        row = rows[(v.name, "libtorch-cpp")]
        assert row.status == "ok", row
        st = row.timing(1)
        assert st is not None and st.iterations == 3 and 0 < st.p50_ms <= st.p99_ms
        assert row.provider and "libtorch" in row.provider
        if v.precision == "fp32":
            assert row.agreement == 100.0 and row.max_abs_diff < 1e-4, row  # the reference's logits, from C++
    assert rows[(variants[0].name, "torchscript-cpu")].status == "ok"


def test_bench_backend_skips_when_the_runner_cannot_be_built(monkeypatch, artifacts):
    from resnet_opt.bench import BenchConfig, TimingConfig, run_benchmark
    from resnet_opt.bench import backends as B
    from resnet_opt.bench.variants import variants_from_paths

    def no_build(**_kw):
        raise BuildError("no C++ compiler found (test)")

    monkeypatch.setattr(B, "build_runner", no_build)
    B.unavailable_reason.cache_clear()
    try:
        res = run_benchmark(variants_from_paths([artifacts["ts-fp32"]]),
                            BenchConfig(backends=["libtorch-cpp"], timing=TimingConfig(warmup=0, iterations=1),
                                        measure_quality=False))
    finally:
        B.unavailable_reason.cache_clear()
    (row,) = res.rows
    assert row.status == "skipped" and "no C++ compiler" in row.reason
