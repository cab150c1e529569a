"""`resnet-opt serve` on a real Triton Inference Server (the tritonserver bundled in nvidia-pytriton's wheel).

One server is started for the module (loopback, free ports) on a Python-backend repository written by
`export triton --backend python`; the tests send real requests through tritonclient (HTTP and gRPC) and check: the
same top-1 (and logits / probabilities) as `resnet-opt predict` for the same images, on the tensor and the image
model; every bad request rejected with a clear message while the server keeps serving; concurrent clients all
served, with the dynamic batcher really batching; health, readiness and metrics; the load generator. A second
server is started through the CLI and stopped with SIGTERM while a request is in flight: the request is answered,
the command exits 0 and no tritonserver or backend-stub process survives. Skipped, with the reason, only where the
bundled Triton cannot run (not Linux / glibc < 2.35 / no `serve` extra)."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from helpers import one_line_error
from resnet_opt.cli import app
from resnet_opt.core.errors import BackendUnavailableError

try:
    from resnet_opt.serve import find_distribution

    find_distribution()
    import tritonclient.grpc as grpcclient
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException
except (BackendUnavailableError, ImportError, RuntimeError) as _e:  # RuntimeError: tritonclient without http extra
    pytest.skip(f"the bundled Triton server cannot run here: {_e}", allow_module_level=True)

from resnet_opt.serve import ServeConfig, free_ports, process_group, processes_with, start  # noqa: E402

runner = CliRunner()
MAX_BATCH = 8
READY_TIMEOUT_S = 90


@pytest.fixture(scope="module")
def onnx_artifact(trained_digits_dir, tmp_path_factory) -> Path:
    from resnet_opt.pipeline.export import ExportConfig, export_artifact
    from resnet_opt.resnet import ModelSpec

    out = tmp_path_factory.mktemp("serve-src") / "onnx"
    export_artifact(ExportConfig("onnx", out=out, count=4, source=ModelSpec(model_dir=trained_digits_dir)))
    return out


@pytest.fixture(scope="module")
def python_repo(onnx_artifact, tmp_path_factory) -> Path:
    """`export triton --backend python` through the CLI: the repository the module's server runs."""
    out = tmp_path_factory.mktemp("serve-repo") / "repo"
    r = runner.invoke(app, ["export", "triton", "--model", str(onnx_artifact), "--out", str(out), "--backend",
                            "python", "--name", "digits", "--max-batch-size", str(MAX_BATCH),
                            "--max-queue-delay-us", "20000", "--top-k", "3", "--threads", "1"])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def served(python_repo):
    http, grpc, metrics = free_ports(3)
    s = start(ServeConfig(python_repo, http_port=http, grpc_port=grpc, metrics_port=metrics,
                          ready_timeout_s=READY_TIMEOUT_S))
    try:
        yield s
    finally:
        report = s.stop()
        assert report.get("left") == [], report


@pytest.fixture(scope="module")
def expected(onnx_artifact, digits_val_pngs):
    """What `resnet-opt predict` (runtime.load) says about the digits PNGs: tensors, logits, top-3."""
    from resnet_opt.runtime import load

    paths, _ = digits_val_pngs
    paths = paths[:24]
    pred = load(onnx_artifact)
    x = torch.stack([pred.to_tensor(p)[0] for p in paths]).numpy().astype(np.float32)
    logits = pred.logits(torch.from_numpy(x)).numpy()
    return {"paths": paths, "x": x, "logits": logits, "top": pred.predict([str(p) for p in paths], top_k=3)}


def _http(served) -> "httpclient.InferenceServerClient":
    return httpclient.InferenceServerClient(served.server.http_url, network_timeout=60)


def _tensor_input(mod, x: np.ndarray, name: str = "input", dtype: str = "FP32"):
    i = mod.InferInput(name, list(x.shape), dtype)
    i.set_data_from_numpy(x)
    return i


def _image_input(mod, blobs: list[bytes]):
    a = np.array(blobs, dtype=np.object_).reshape(len(blobs), 1)
    i = mod.InferInput("image", list(a.shape), "BYTES")
    i.set_data_from_numpy(a)
    return i


def _still_serving(served, x: np.ndarray, logits: np.ndarray) -> None:
    c = _http(served)
    try:
        assert c.is_server_ready() and c.is_model_ready("digits") and c.is_model_ready("digits-images")
        y = c.infer("digits", [_tensor_input(httpclient, x[:2])]).as_numpy("logits")
        np.testing.assert_allclose(y, logits[:2], atol=1e-4, rtol=1e-4)
    finally:
        c.close()


# --------------------------------------------------------------------------------------------------- repository
def test_python_repository_is_what_serve_runs(python_repo, onnx_artifact):
    from resnet_opt.core.manifest import open_artifact
    from resnet_opt.export.triton import check_python_repository

    repo = open_artifact(python_repo)  # every file it lists (the artifact copy, configs, model.py) against sha256
    assert repo.kind == "triton-repo" and repo.manifest.details["triton"]["backend"] == "python"
    checks = check_python_repository(python_repo)
    assert set(checks) == {"digits", "digits-images"} and all(c.schema_checked for c in checks.values())
    text = (python_repo / "digits" / "config.pbtxt").read_text()
    assert 'backend: "python"' in text and "max_batch_size: 8" in text and "max_queue_delay_microseconds: 20000" in text
    assert "resnet_opt.serve.backend import TensorModel" in (python_repo / "digits" / "1" / "model.py").read_text()
    assert "resnet_opt.serve.backend import ImageModel" in (
        python_repo / "digits-images" / "1" / "model.py").read_text()
    copied = python_repo / "digits" / "1" / "artifact"
    assert (copied / "model.onnx").read_bytes() == (onnx_artifact / "model.onnx").read_bytes()
    assert (python_repo / "digits" / "labels.txt").read_text().split() == [str(i) for i in range(10)]


def test_serve_refuses_a_tampered_repository_before_starting(python_repo, tmp_path):
    bad = tmp_path / "repo"
    shutil.copytree(python_repo, bad)
    f = bad / "digits" / "1" / "artifact" / "model.onnx"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    h, g, m = free_ports(3)
    before = {p for p, _ in processes_with("tritonserver")}
    r = runner.invoke(app, ["serve", str(bad), "--http-port", str(h), "--grpc-port", str(g), "--metrics-port", str(m)])
    one_line_error(r, "sha256", code=2)
    assert {p for p, _ in processes_with("tritonserver")} <= before


def _rehash(folder: Path) -> None:
    """Recompute the sha256 and size of every file ``folder``'s manifest lists (a consistent, re-signed folder)."""
    from resnet_opt.core.manifest import MANIFEST_NAME, Manifest

    data = json.loads((folder / MANIFEST_NAME).read_text())
    for f in data["files"]:
        f["sha256"] = f["size"] = None
    data.pop("file_sha256", None)
    data.pop("file_size", None)
    Manifest.from_dict(data).write(folder)


def test_a_model_that_fails_to_load_in_triton_is_one_error_line(python_repo, tmp_path):
    """A model file that matches its manifest but is not a model: only loading it in Triton finds out."""
    bad = tmp_path / "repo"
    shutil.copytree(python_repo, bad)
    (bad / "digits" / "1" / "artifact" / "model.onnx").write_bytes(b"not an onnx model" * 64)
    _rehash(bad / "digits" / "1" / "artifact")
    _rehash(bad)
    h, g, m = free_ports(3)
    before = {p for p, _ in processes_with("tritonserver")}
    r = runner.invoke(app, ["serve", str(bad), "--http-port", str(h), "--grpc-port", str(g), "--metrics-port", str(m)])
    line = one_line_error(r, "model 'digits' failed to load", code=3)
    assert "Traceback" not in line and "At:" not in line
    assert {p for p, _ in processes_with("tritonserver")} <= before
    assert processes_with(str(bad)) == []


def test_serve_refuses_repository_options_and_platform_repositories(python_repo, onnx_artifact, tmp_path):
    import tempfile

    from resnet_opt.serve.server import WORKSPACE_PREFIX

    h, g, m = free_ports(3)
    ports = ["--http-port", str(h), "--grpc-port", str(g), "--metrics-port", str(m)]
    r = runner.invoke(app, ["serve", str(python_repo), "--max-batch", "4", *ports])
    one_line_error(r, "--max-batch", "fixed", code=2)
    plat = tmp_path / "plat"
    assert runner.invoke(app, ["export", "triton", "--model", str(onnx_artifact), "--out", str(plat)]).exit_code == 0
    r = runner.invoke(app, ["serve", str(plat), *ports])
    one_line_error(r, "onnxruntime", "--backend python", code=2)
    r = runner.invoke(app, ["serve", str(tmp_path / "missing"), *ports])
    one_line_error(r, "does not exist", code=2)
    before = set(Path(tempfile.gettempdir()).glob(WORKSPACE_PREFIX + "*"))
    r = runner.invoke(app, ["serve", str(onnx_artifact), *ports, "--log-file", str(tmp_path / "no" / "dir.log")])
    one_line_error(r, "--log-file", code=2)
    assert set(Path(tempfile.gettempdir()).glob(WORKSPACE_PREFIX + "*")) <= before  # the repository it wrote is gone


def test_workspaces_of_killed_runs_are_removed_and_failed_starts_leave_none(onnx_artifact, tmp_path):
    import tempfile

    from resnet_opt.serve.server import WORKSPACE_PREFIX, clean_stale_workspaces

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = Path(tempfile.mkdtemp(prefix=WORKSPACE_PREFIX))
    (stale / "owner.pid").write_text(dead.stdout)  # a pid that has exited
    alive = Path(tempfile.mkdtemp(prefix=WORKSPACE_PREFIX))
    (alive / "owner.pid").write_text(f"{os.getpid()}\n")
    foreign = Path(tempfile.mkdtemp(prefix=WORKSPACE_PREFIX))  # no owner mark: not ours to remove
    try:
        assert stale in clean_stale_workspaces()
        assert not stale.exists() and alive.exists() and foreign.exists()
    finally:
        for p in (stale, alive, foreign):
            shutil.rmtree(p, ignore_errors=True)
    before = set(Path(tempfile.gettempdir()).glob(WORKSPACE_PREFIX + "*"))
    h, g, m = free_ports(3)
    r = runner.invoke(app, ["serve", str(onnx_artifact), "--http-port", str(h), "--grpc-port", str(g),
                            "--metrics-port", str(m), "--top-k", "0"])
    one_line_error(r, "--top-k", code=2)
    assert set(Path(tempfile.gettempdir()).glob(WORKSPACE_PREFIX + "*")) <= before


# ------------------------------------------------------------------------------------------------------ answers
def test_tensor_model_gives_the_same_top1_as_predict(served, expected):
    c = _http(served)
    try:
        got = np.concatenate([c.infer("digits", [_tensor_input(httpclient, expected["x"][i:i + MAX_BATCH])])
                              .as_numpy("logits") for i in range(0, len(expected["x"]), MAX_BATCH)])
        single = c.infer("digits", [_tensor_input(httpclient, expected["x"][:1])]).as_numpy("logits")
        # the classification extension, with the labels file
        cls = c.infer("digits", [_tensor_input(httpclient, expected["x"][:2])],
                      outputs=[httpclient.InferRequestedOutput("logits", class_count=1)]).as_numpy("logits")
    finally:
        c.close()
    np.testing.assert_allclose(got, expected["logits"], atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(single, expected["logits"][:1], atol=1e-4, rtol=1e-4)
    assert got.argmax(1).tolist() == [p.top1 for p in expected["top"]]
    assert [v[0].decode().split(":")[-1] for v in cls] == [p.top1_name for p in expected["top"][:2]]


def test_images_model_gives_the_same_top_k_as_predict(served, expected):
    blobs = [Path(p).read_bytes() for p in expected["paths"]]
    c = grpcclient.InferenceServerClient(served.server.grpc_url)
    try:
        labels, scores, indices = [], [], []
        for i in range(0, len(blobs), MAX_BATCH):
            r = c.infer("digits-images", [_image_input(grpcclient, blobs[i:i + MAX_BATCH])])
            labels += r.as_numpy("labels").tolist()
            scores += r.as_numpy("scores").tolist()
            indices += r.as_numpy("indices").tolist()
    finally:
        c.close()
    top = expected["top"]
    assert [[b.decode() for b in row] for row in labels] == [p.names for p in top]
    assert indices == [p.indices for p in top]
    np.testing.assert_allclose(np.array(scores), np.array([p.probabilities for p in top]), atol=1e-5)
    assert len(labels[0]) == 3  # --top-k 3


# ------------------------------------------------------------------------------------------------- bad requests
def test_every_bad_request_is_rejected_and_the_server_keeps_serving(served, expected):
    x = expected["x"]
    png = Path(expected["paths"][0]).read_bytes()
    bad_x = x[:2].copy()
    bad_x[1, 0, 0, 0] = np.nan
    cases = [
        ("digits", lambda m: [_tensor_input(m, np.zeros((1, 3, 16, 16), np.float32))], "shape", "[-1,3,32,32]"),
        ("digits", lambda m: [_tensor_input(m, x[:1].astype(np.float64), dtype="FP64")], "FP64", "FP32"),
        ("digits", lambda m: [_tensor_input(m, np.zeros((1, 3, 32, 32), np.int32), dtype="INT32")], "INT32", "FP32"),
        ("digits", lambda m: [_tensor_input(m, np.zeros((MAX_BATCH + 1, 3, 32, 32), np.float32))], "batch",
         str(MAX_BATCH)),
        ("digits", lambda m: [_tensor_input(m, np.zeros((0, 3, 32, 32), np.float32))], "", ""),
        ("digits", lambda m: [_tensor_input(m, bad_x)], "NaN or infinite", ""),
        ("digits", lambda m: [_tensor_input(m, x[:1], name="pixels")], "pixels", ""),
        ("digits-images", lambda m: [_image_input(m, [png, b"definitely not an image"])], "image 1",
         "not a readable image"),
        ("digits-images", lambda m: [_image_input(m, [b""])], "image 0", "empty"),
        ("digits-images", lambda m: [_image_input(m, [png[: len(png) // 2]])], "image 0", ""),
        ("digits-images", lambda m: [_image_input(m, [png] * (MAX_BATCH + 1))], "batch", str(MAX_BATCH)),
        ("digits-images", lambda m: [_image_input(m, [])], "", ""),
        ("digits-images", lambda m: [_tensor_input(m, x[:1], name="image")], "FP32", "BYTES"),
        ("no-such-model", lambda m: [_tensor_input(m, x[:1])], "no-such-model", ""),
    ]
    hc = _http(served)
    gc = grpcclient.InferenceServerClient(served.server.grpc_url)
    try:
        for k, (model, inputs, *needles) in enumerate(cases):
            mod, client = (httpclient, hc) if k % 2 == 0 else (grpcclient, gc)
            with pytest.raises(InferenceServerException) as ei:
                client.infer(model, inputs(mod))
            msg = ei.value.message() or ""
            assert msg.strip(), (model, k)
            for n in needles:
                assert n in msg, (model, k, msg)
            status = str(ei.value.status())
            assert status in ("400", "404", "StatusCode.INVALID_ARGUMENT", "StatusCode.NOT_FOUND",
                              "StatusCode.UNAVAILABLE"), (model, k, status, msg)
    finally:
        hc.close()
        gc.close()
    _still_serving(served, x, expected["logits"])


# ---------------------------------------------------------------------------------------------------- concurrency
def test_concurrent_clients_are_all_served_and_batched(served, expected):
    x, logits = expected["x"], expected["logits"]
    stats = httpclient.InferenceServerClient(served.server.http_url)
    before = stats.get_inference_statistics("digits")["model_stats"][0]
    results: dict[int, list] = {}
    errors: list[str] = []
    gate = threading.Barrier(8)

    def client(n: int) -> None:
        mod = httpclient if n % 2 else grpcclient
        c = mod.InferenceServerClient(served.server.http_url if n % 2 else served.server.grpc_url)
        try:
            gate.wait(timeout=30)
            out = []
            for j in range(5):
                k = (n * 5 + j) % len(x)
                y = c.infer("digits", [_tensor_input(mod, x[k:k + 1])]).as_numpy("logits")
                out.append((k, y))
            results[n] = out
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"client {n}: {e}")
        finally:
            c.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(results) == 8, errors
    for out in results.values():
        for k, y in out:
            np.testing.assert_allclose(y, logits[k:k + 1], atol=1e-4, rtol=1e-4)
    after = stats.get_inference_statistics("digits")["model_stats"][0]
    stats.close()
    inferences = int(after["inference_count"]) - int(before["inference_count"])
    executions = int(after["execution_count"]) - int(before["execution_count"])
    assert inferences == 40
    assert executions < inferences, (executions, inferences)  # the dynamic batcher formed batches of > 1


def test_health_readiness_and_metrics(served):
    base = f"http://{served.server.http_url}"
    for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/digits/ready", "/v2/models/digits-images/ready"):
        with urllib.request.urlopen(base + path, timeout=10) as r:
            assert r.status == 200, path
    with urllib.request.urlopen(base + "/v2/models/digits", timeout=10) as r:
        meta = json.loads(r.read())
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 3, 32, 32]}]
    c = _http(served)
    c.infer("digits", [_tensor_input(httpclient, np.zeros((1, 3, 32, 32), np.float32))])
    c.close()
    with urllib.request.urlopen(served.server.metrics_url, timeout=10) as r:
        text = r.read().decode()
    line = next(ln for ln in text.splitlines() if ln.startswith('nv_inference_request_success{model="digits",'))
    assert float(line.split()[-1]) >= 1
    assert 'nv_inference_request_failure{model="digits"' in text
    # the admin APIs are closed to clients: no log files, traces, shared memory or model (un)loading
    for path, body in (("/v2/logging", b'{"log_file": "/tmp/x.log"}'), ("/v2/repository/models/digits/unload", b"{}"),
                       ("/v2/systemsharedmemory/region/r/register", b'{"key": "k", "offset": 0, "byte_size": 8}')):
        req = urllib.request.Request(base + path, data=body, method="POST")
        with pytest.raises(urllib.error.HTTPError) as ei:
            urllib.request.urlopen(req, timeout=10)
        assert ei.value.code in (401, 403), (path, ei.value.code, ei.value.read())
    with urllib.request.urlopen(base + "/v2/models/digits/ready", timeout=10) as r:
        assert r.status == 200


def test_load_generator_reports_throughput_latency_and_batching(served):
    from resnet_opt.serve.loadgen import LoadConfig, run_load

    res = run_load(LoadConfig(url=f"grpc://{served.server.grpc_url}", model="digits", concurrency=[1, 4],
                              requests=16, time_limit_s=30, warmup=1))
    assert [c.concurrency for c in res.cells] == [1, 4]
    for c in res.cells:
        assert c.ok == 16 and c.errors == 0 and c.throughput_rps > 0
        assert 0 < c.p50_ms <= c.p90_ms <= c.p99_ms
        assert c.server_inferences == 16
    assert res.cells[0].mean_executed_batch == 1.0
    assert res.cells[1].mean_executed_batch > 1.0
    r = runner.invoke(app, ["serve-bench", f"http://{served.server.http_url}", "--model", "digits-images",
                            "--concurrency", "2", "--requests", "6", "--json", "--images",
                            str(Path(__file__))])
    assert r.exit_code == 1, r.output  # not an image: every request is an error, counted and reported
    out = json.loads(r.output)
    assert out["cells"][0]["errors"] == 6 and "not a readable image" in out["cells"][0]["error_examples"][0]


def test_port_in_use_is_one_error_line_before_anything_starts(served, onnx_artifact):
    before = {p for p, _ in processes_with("tritonserver")}
    _, g, m = free_ports(3)[:3]
    r = runner.invoke(app, ["serve", str(onnx_artifact), "--http-port", str(served.server.http_port),
                            "--grpc-port", str(g), "--metrics-port", str(m)])
    one_line_error(r, "already in use", "--http-port", code=2)
    assert {p for p, _ in processes_with("tritonserver")} <= before


@pytest.mark.parametrize("args, needles", [
    (["--http-port", "0"], ["--http-port", "between 1 and 65535"]),
    (["--http-port", "70000"], ["--http-port"]),
    (["--grpc-port", "{h}"], ["--grpc-port", "--http-port", "own port"]),
    (["--host", "example.com"], ["--host", "IP address"]),
    (["--host", "::1"], ["--host", "IPv4"]),
    (["--host", "10.255.255.254"], ["not an address of this machine"]),
    (["--max-batch", "0"], ["--max-batch-size must be 1 or more"]),
    (["--instances", "0"], ["--instances"]),
    (["--provider", "gpu"], ["provider"]),
    (["--top-k", "0"], ["--top-k"]),
    (["--threads", "0"], ["--threads"]),
    (["--name", "bad name"], ["--name"]),
    (["--ready-timeout", "0"], ["--ready-timeout"]),
])
def test_bad_serve_options_are_one_error_line(onnx_artifact, args, needles):
    h, g, m = free_ports(3)
    ports = {"--http-port": str(h), "--grpc-port": str(g), "--metrics-port": str(m)}
    args = [a.format(h=h) for a in args]
    for k in [a for a in args if a in ports]:
        ports.pop(k)
    before = {p for p, _ in processes_with("tritonserver")}
    r = runner.invoke(app, ["serve", str(onnx_artifact), *args, *[x for kv in ports.items() for x in kv]])
    one_line_error(r, *needles, code=2)
    assert {p for p, _ in processes_with("tritonserver")} <= before


def test_serve_bench_refuses_what_it_cannot_drive(served):
    r = runner.invoke(app, ["serve-bench", "https://127.0.0.1:1", "--model", "x"])
    one_line_error(r, "https", code=2)
    r = runner.invoke(app, ["serve-bench", f"http://{served.server.http_url}", "--model", "no-such-model"])
    one_line_error(r, "no-such-model", code=2)
    r = runner.invoke(app, ["serve-bench", f"http://{served.server.http_url}", "--model", "digits-images"])
    one_line_error(r, "--images", code=2)
    h, = free_ports(1)
    r = runner.invoke(app, ["serve-bench", f"grpc://127.0.0.1:{h}", "--model", "digits"])
    one_line_error(r, "no Triton server answers", code=2)
    r = runner.invoke(app, ["serve-bench", f"http://{served.server.http_url}", "--model", "digits",
                            "--concurrency", "0"])
    one_line_error(r, "--concurrency", code=2)


# ------------------------------------------------------------------------------------------------------ SIGTERM
@pytest.mark.parametrize("sig, said", [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl-C")])
def test_sigterm_and_ctrl_c_drain_the_request_in_flight_and_leave_nothing(trained_digits_dir, expected, sig, said):
    """Through the CLI, on another artifact kind (the model folder itself: torch eager inside Triton)."""
    h, g, m = free_ports(3)
    env = {**os.environ, "COLUMNS": "200"}

    def child() -> None:  # a shell that started pytest in the background may have left SIGINT ignored
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    # a long batcher delay keeps the request queued (in flight) when the signal comes
    proc = subprocess.Popen([sys.executable, "-m", "resnet_opt", "serve", str(trained_digits_dir), "--http-port", str(h),
                             "--grpc-port", str(g), "--metrics-port", str(m), "--max-queue-delay-us", "3000000",
                             "--name", "slow"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, preexec_fn=child)
    pgid = None
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S + 30
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{h}/v2/health/ready", timeout=2) as r:
                    ready = r.status == 200
            except OSError:
                pass
            if ready:
                break
            time.sleep(0.5)
        if not ready:
            proc.kill()
            out, err = proc.communicate(timeout=30)
            pytest.fail(f"serve was not ready in time (exit {proc.returncode}):\n{out}\n{err}")
        pgid = next(int(p) for pid, cmd in processes_with(f"--http-port={h}") for p in [pid])
        members = process_group(pgid)
        assert len(members) >= 3, members  # tritonserver and one backend stub per model
        answer: dict[str, object] = {}

        def request() -> None:
            c = grpcclient.InferenceServerClient(f"127.0.0.1:{g}")
            try:
                t0 = time.monotonic()
                answer["logits"] = c.infer("slow", [_tensor_input(grpcclient, expected["x"][:1])],
                                           client_timeout=60).as_numpy("logits")
                answer["seconds"] = time.monotonic() - t0
            except Exception as e:  # noqa: BLE001
                answer["error"] = str(e)
            finally:
                c.close()

        t = threading.Thread(target=request)
        t.start()
        time.sleep(0.8)  # the request is in the batcher's queue (3 s delay)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=90)
        t.join(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert "error" not in answer, answer
    assert answer["seconds"] > 1.0  # it waited in the batcher's queue while the server was asked to stop
    np.testing.assert_allclose(answer["logits"], expected["logits"][:1], atol=1e-3, rtol=1e-3)  # torch vs ONNX
    assert proc.returncode == 0, (out, err)
    assert "serving model fp32" in out, out
    assert "listening on 127.0.0.1 only" in out and "Triton has no authentication" in out
    assert f"{said}: stopping" in err and "none left" in err, err
    workspace = next(ln.split("workspace ")[-1].strip() for ln in out.splitlines() if "workspace " in ln)
    assert process_group(pgid) == []
    assert processes_with(workspace) == [] and processes_with(f"--http-port={h}") == []
    assert not Path(workspace).exists()
