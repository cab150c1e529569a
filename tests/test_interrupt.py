"""Fault injection with real processes: SIGINT, SIGTERM and SIGKILL during export / quantize / train, then a re-run
to the same ``--out``. The previous complete artifact must survive an interrupted re-run; SIGINT/SIGTERM leave no
temporary folder (beside the output or in the system temp dir); a SIGKILL's leftovers are cleaned by the next run.

Kept few and small: a ResNet-18 at 16 px (digits:16), tiny calibration and evaluation sets.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from resnet_opt.resnet import ModelSpec
from resnet_opt.pipeline.export import ExportConfig
from resnet_opt.pipeline.train import TrainStageConfig

REPO = Path(__file__).resolve().parents[1]
SIZE = 16


def _tree_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(folder)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _tmp_siblings(out: Path) -> list[Path]:
    return [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


def _ours(systmp: Path) -> list[Path]:
    """resnet-opt's work folders in the system temp dir (torch's own caches, e.g. torchinductor_USER, are not)."""
    return [p for p in systmp.iterdir() if p.name.startswith(("resnet-opt-", "tmp"))]


def _start(args: list[str], tmpdir: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), TMPDIR=str(tmpdir),
               OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "resnet_opt", *args, "--threads", "1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for(pred, proc: subprocess.Popen, timeout: float = 240.0) -> None:
    t0 = time.monotonic()
    while not pred():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the process ended (rc {proc.returncode}) before it could be interrupted: {err[-2000:]}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            pytest.fail("timed out waiting for the process to start its work")
        time.sleep(0.02)


def _interrupt(proc: subprocess.Popen, sig: int) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the process did not stop on signal {sig}")
    return proc.returncode, err


EXPECTED = {signal.SIGINT: (130, "error: interrupted"), signal.SIGTERM: (143, "error: terminated"),
            signal.SIGKILL: (-signal.SIGKILL, None)}


@pytest.fixture(scope="module")
def small_model(tmp_path_factory) -> Path:
    from resnet_opt.data import digits_preprocessing
    from resnet_opt.resnet import ResNet, save_model

    out = tmp_path_factory.mktemp("interrupt") / "model"
    save_model(ResNet(18, num_classes=10), out, input_size=SIZE, preprocessing=digits_preprocessing(SIZE).to_dict(),
               class_names=[str(i) for i in range(10)], extra={"data": f"digits:{SIZE}"})
    return out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_export_interrupted_rerun_keeps_previous(sig, small_model, tmp_path):
    from resnet_opt.pipeline.export import export_artifact

    out = tmp_path / "onnx"
    export_artifact(
        ExportConfig("onnx", out=out, count=2, source=ModelSpec(model_dir=small_model))
    )  # the previous complete artifact
    before = _tree_hash(out)
    systmp = tmp_path / "systmp"
    systmp.mkdir()
    proc = _start(["export", "onnx", "--out", str(out), "--model", str(small_model), "--overwrite", "--count", "64"],
                  systmp)
    _wait_for(lambda: bool(_tmp_siblings(out)), proc)  # the new artifact is being written beside the old one
    rc, err = _interrupt(proc, sig)
    code, line = EXPECTED[sig]
    assert rc == code, err
    if line:
        assert err.strip().splitlines()[-1] == line and "Traceback" not in err
        assert not _tmp_siblings(out) and not _ours(systmp)  # the clean-up ran
    assert _tree_hash(out) == before  # the previous artifact is intact
    # a re-run to the same --out (in-process, to keep the test fast): stale temporary folders never confuse it and
    # are cleaned
    from typer.testing import CliRunner

    from resnet_opt.cli import app

    res = CliRunner().invoke(app, ["export", "onnx", "--out", str(out), "--model", str(small_model), "--count", "2"])
    assert res.exit_code == 2 and "--overwrite" in res.stderr  # refused without --overwrite, nothing touched
    assert _tree_hash(out) == before
    res = CliRunner().invoke(app, ["export", "onnx", "--out", str(out), "--model", str(small_model), "--overwrite",
                                   "--count", "2"])
    assert res.exit_code == 0, res.output
    assert not _tmp_siblings(out)
    assert (out / "manifest.json").is_file() and (out / "model.onnx").is_file()


def test_quantize_sigterm_cleans_work_folders(small_model, tmp_path):
    out = tmp_path / "int8"
    systmp = tmp_path / "systmp"
    systmp.mkdir()
    proc = _start(["quantize", "--out", str(out), "--model", str(small_model), "--calib-size", "16",
                   "--eval-size", "16", "--latency-runs", "200"], systmp)
    _wait_for(lambda: bool(_ours(systmp)), proc)  # the work folder exists: the stage is running
    time.sleep(0.5)
    rc, err = _interrupt(proc, signal.SIGTERM)
    assert rc == 143, err
    assert err.strip().splitlines()[-1] == "error: terminated" and "Traceback" not in err
    assert not _ours(systmp), _ours(systmp)
    assert not out.exists() and not _tmp_siblings(out)


@pytest.mark.parametrize("sig", [signal.SIGKILL], ids=["SIGKILL"])  # SIGTERM's clean-up: the export/quantize tests
def test_train_overwrite_interrupted_keeps_previous_run(sig, tmp_path):
    from resnet_opt.engine import TrainConfig
    from resnet_opt.pipeline.train import train_model

    run = tmp_path / "run"
    train_model(TrainStageConfig(data=f"digits:{SIZE}", out=run, train=TrainConfig(epochs=1, batch_size=32), limit=32,
                source=ModelSpec(depth=18)))
    before = _tree_hash(run)
    systmp = tmp_path / "systmp"
    systmp.mkdir()
    proc = _start(["train", "--out", str(run), "--data", f"digits:{SIZE}", "--epochs", "50", "--batch-size", "32",
                   "--overwrite"], systmp)
    _wait_for(lambda: bool(_tmp_siblings(run)), proc)
    rc, err = _interrupt(proc, sig)
    assert rc == EXPECTED[sig][0], err
    assert _tree_hash(run) == before  # the previous complete run is untouched
    if sig == signal.SIGTERM:
        assert err.strip().splitlines()[-1] == "error: terminated" and "Traceback" not in err
        assert not _tmp_siblings(run)
    # a re-run without --overwrite or --resume is refused; with --overwrite it replaces the run and cleans up
    from typer.testing import CliRunner

    from resnet_opt.cli import app

    res = CliRunner().invoke(app, ["train", "--out", str(run), "--data", f"digits:{SIZE}", "--epochs", "1"])
    assert res.exit_code == 2 and "--overwrite" in res.stderr
    res = CliRunner().invoke(app, ["train", "--out", str(run), "--data", f"digits:{SIZE}", "--epochs", "1",
                                   "--limit", "32", "--batch-size", "32", "--overwrite"])
    assert res.exit_code == 0, res.output
    assert not _tmp_siblings(run) and (run / "model.safetensors").is_file()  # the killed run's folder was cleaned


@pytest.mark.parametrize("handler,code,line", [("_on_sigterm", 143, "error: terminated"),
                                               ("_on_sigint", 130, "error: interrupted")])
def test_a_signal_a_library_swallows_still_ends_as_that_signal(handler, code, line, capsys):
    """onnxruntime turns a KeyboardInterrupt raised inside its session creation into its own "initialization failed"
    (seen once in the SIGTERM test above: exit 2, 'error: onnxruntime cannot load the model'): the command must still
    end as the signal it got."""
    import importlib

    import typer

    from resnet_opt.cli.common import handle_errors
    from resnet_opt.core.errors import QuantizationError

    app_mod = importlib.import_module("resnet_opt.cli.app")  # the module (the package's `app` is the Typer app)

    def work():
        try:
            getattr(app_mod, handler)(0, None)  # what the signal handler does when the signal arrives
        except BaseException:  # noqa: BLE001 - the library swallows it and raises its own error
            raise QuantizationError("onnxruntime cannot load the model: initialization failed") from None

    def other_error():
        raise QuantizationError("a real error")

    try:
        with pytest.raises(typer.Exit) as e:
            handle_errors(work)()
        assert e.value.exit_code == code and capsys.readouterr().err.strip() == line
    finally:
        app_mod.STATE.signalled = None
    with pytest.raises(typer.Exit) as e:  # with no signal, the same error is the error it is
        handle_errors(other_error)()
    assert e.value.exit_code == 2 and capsys.readouterr().err.strip() == "error: a real error"
