"""``resnet-opt serve ARTIFACT`` (a real Triton server) and ``resnet-opt serve-bench URL --model NAME``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import typer

from resnet_opt.cli.app import Terminated, app
from resnet_opt.cli.choices import Protocol, choice_option, value
from resnet_opt.cli.common import JsonOpt, console, err_console, handle_errors, show_progress, warn_line
from resnet_opt.core.artifact import to_json


@app.command("serve")
@handle_errors
def serve_cmd(
    artifact: Path = typer.Argument(..., help="An artifact folder (any kind the runtime opens, model folders too), or "
                                              "a repository written by `export triton --backend python`."),
    name: Optional[str] = typer.Option(None, "--name", help="Model name: NAME takes tensors, NAME-images encoded "
                                                            "images (default: resnet)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on. Triton has no authentication: keep "
                                                         "127.0.0.1 unless a proxy or firewall guards it (README)."),
    http_port: int = typer.Option(8000, "--http-port", help="HTTP/REST port (KServe v2 protocol)."),
    grpc_port: int = typer.Option(8001, "--grpc-port", help="gRPC port."),
    metrics_port: int = typer.Option(8002, "--metrics-port", help="Prometheus metrics port (/metrics)."),
    max_batch: Optional[int] = typer.Option(None, "--max-batch", help="Largest batch a request or the dynamic "
                                                                      "batcher may form (default 32)."),
    queue_delay: Optional[int] = typer.Option(None, "--max-queue-delay-us", help="Dynamic batching: longest wait "
                                              "for more requests to join a batch, microseconds (default 500)."),
    no_batching: bool = typer.Option(False, "--no-dynamic-batching", help="Run each request on its own (no "
                                     "dynamic batcher)."),
    instances: Optional[int] = typer.Option(None, "--instances", help="Model instances (processes) of each model "
                                                                      "(default 1)."),
    provider: Optional[str] = typer.Option(None, "--provider", help="Runtime provider inside Triton: cpu, cuda, "
                                                                    "tensorrt, auto or openvino (default cpu)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Intra-op threads of each instance (default: the "
                                                                  "runtime's)."),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="Labels and scores NAME-images returns (default 5)."),
    ready_timeout: float = typer.Option(120.0, "--ready-timeout", help="Seconds the server may take to be ready."),
    log_file: Optional[Path] = typer.Option(None, "--log-file", help="Keep Triton's log in this file (default: a "
                                                                     "temporary one, removed on stop)."),
    as_json: bool = typer.Option(False, "--json", help="Print what is served as JSON once ready."),
) -> None:
    """Serve an artifact on a real Triton Inference Server (the `serve` extra: the tritonserver bundled in
    nvidia-pytriton) with dynamic batching, until Ctrl-C or SIGTERM, which drain in-flight requests and stop the
    server and every backend process (exit 0)."""
    from resnet_opt.serve import ServeConfig, is_loopback, start

    cfg = ServeConfig(artifact=artifact, name=name, host=host, http_port=http_port, grpc_port=grpc_port,
                      metrics_port=metrics_port, max_batch=max_batch, max_queue_delay_us=queue_delay,
                      dynamic_batching=False if no_batching else None, instances=instances, provider=provider,
                      threads=threads, top_k=top_k, ready_timeout_s=ready_timeout, log_file=log_file)
    progress = show_progress() and not as_json
    log = (lambda m: err_console.print(f"[dim]{m}[/dim]")) if progress else None
    serving = start(cfg, log=log)
    server = serving.server
    try:
        if as_json:
            typer.echo(to_json(serving.describe()))
        else:
            _print_serving(serving)
        if not is_loopback(server.host):
            warn_line(f"listening on {server.host}, not only on loopback: Triton has no authentication, so anyone who "
                      "can reach these ports can run the model and read its metrics; expose it only behind an "
                      "authenticating proxy or a firewall (README: Serving with Triton)")
        while server.alive():
            time.sleep(0.5)
        reason = server.failure_reason()
        rc = server.proc.poll() if server.proc is not None else None
        serving.stop()
        from resnet_opt.serve import ServerError

        raise ServerError(f"tritonserver exited on its own (code {rc}): {reason}")
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (the root group raises Terminated)
        which = "SIGTERM" if isinstance(e, Terminated) else "Ctrl-C"
        err_console.print(f"{which}: stopping — Triton finishes in-flight requests and waits up to "
                          f"{server.exit_timeout_s} s for clients to close their connections (Ctrl-C again: stop "
                          "now)", soft_wrap=True)
        report = serving.stop()
        _print_stopped(report)
    finally:
        serving.stop()


def _print_serving(serving: object) -> None:
    s = serving.server  # type: ignore[attr-defined]
    t = serving.tensor_model  # type: ignore[attr-defined]
    im = serving.images_model  # type: ignore[attr-defined]
    batching = (f"dynamic batching (max queue delay {t.max_queue_delay_us} us)" if t.dynamic_batching
                else "no dynamic batching")
    provider = t.parameters.get("provider", "cpu")
    console.print(f"serving {serving.kind} {serving.precision} {serving.source} on {serving.distribution.describe()}"  # type: ignore[attr-defined]
                  f" (ready in {s.ready_seconds:.1f} s)", soft_wrap=True)
    i, o = t.inputs[0], t.outputs[0]
    console.print(f"  model {t.name}: {i.name} FP32 [N, {', '.join(map(str, i.dims))}] -> {o.name} FP32 "
                  f"[N, {o.dims[0]}]; max batch {t.max_batch_size}, {batching}, {t.instance_count} instance(s), "
                  f"provider {provider}", soft_wrap=True, highlight=False)
    if im is not None:
        console.print(f"  model {im.name}: image BYTES [N, 1] (encoded files) -> labels, scores, indices "
                      f"[N, {im.outputs[0].dims[0]}]", soft_wrap=True, highlight=False)
    console.print(f"  HTTP    http://{s.http_url}  (ready: /v2/health/ready, model: /v2/models/{t.name})",
                  soft_wrap=True, highlight=False)
    console.print(f"  gRPC    {s.grpc_url}", highlight=False)
    console.print(f"  metrics {s.metrics_url}", highlight=False)
    console.print(f"  tritonserver pid {s.pid}, workspace {s.workspace}", soft_wrap=True, highlight=False)
    from resnet_opt.serve import is_loopback

    if is_loopback(s.host):
        console.print(f"listening on {s.host} only (loopback): Triton has no authentication; see the README before "
                      "using --host", soft_wrap=True, highlight=False)
    console.print("Ctrl-C or SIGTERM stops it (in-flight requests finish first).", highlight=False)


def _print_stopped(report: dict) -> None:
    n = len(report.get("processes") or [])
    left = report.get("left") or []
    rc = report.get("exit_code")
    line = (f"stopped in {report.get('seconds', 0):.1f} s: tritonserver exited with code {rc}; "
            f"{n} process(es) ended{', ' + str(len(report.get('killed') or [])) + ' killed' if report.get('killed') else ''}")
    if left:
        from resnet_opt.serve import ServerError

        raise ServerError(f"{line}, but {len(left)} are still running (pids {', '.join(map(str, left))})")
    err_console.print(line + ", none left", soft_wrap=True, highlight=False)


@app.command("serve-bench")
@handle_errors
def serve_bench_cmd(
    url: str = typer.Argument(..., help="The server: HOST:PORT, http://HOST:PORT or grpc://HOST:PORT."),
    model: str = typer.Option(..., "--model", help="Model name on the server (NAME or NAME-images)."),
    protocol: Optional[Protocol] = choice_option(None, "--protocol", help="http or grpc (default: from the URL, else "
                                                                    "http)."),
    concurrency: str = typer.Option("1,2,4,8,16", "--concurrency", help="Concurrent clients, one cell each."),
    requests: int = typer.Option(200, "--requests", help="Requests per cell (at most)."),
    time_limit: float = typer.Option(20.0, "--time-limit", help="Seconds per cell (at most)."),
    batch: int = typer.Option(1, "--batch", help="Images per request."),
    images: Optional[List[Path]] = typer.Option(None, "--images", help="Encoded image files, for a BYTES model "
                                                                       "(repeat the option, or give a folder)."),
    artifact: Optional[Path] = typer.Option(None, "--artifact", help="Also measure this artifact in-process "
                                                                     "(runtime.load), for comparison."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Threads of the in-process run."),
    as_json: JsonOpt = False,
) -> None:
    """A bounded load generator (tritonclient, HTTP or gRPC): throughput, p50/p90/p99 and errors per concurrency,
    with the batch size Triton really executed, beside the artifact's in-process throughput."""
    from resnet_opt.core.errors import ConfigError
    from resnet_opt.serve.loadgen import LoadConfig, inprocess_throughput, run_load

    try:
        levels = [int(c) for c in concurrency.split(",") if c.strip()]
    except ValueError:
        raise ConfigError(f"--concurrency must be comma-separated integers, got {concurrency!r}") from None
    files = None
    if images:
        from resnet_opt.runtime.images import resolve_images

        files = [str(p) for p in resolve_images([str(p) for p in images])]
    cfg = LoadConfig(url=url, model=model, protocol=value(protocol), concurrency=levels, requests=requests,
                     time_limit_s=time_limit, batch=batch, images=files)
    log = (lambda m: err_console.print(f"[dim]{m}[/dim]")) if show_progress() and not as_json else None
    res = run_load(cfg, log=log)  # LoadConfig.validate() there, before any request
    local = []
    if artifact is not None:
        sizes = sorted({1, batch, max(levels) * batch if res.max_batch_size == 0 else min(res.max_batch_size,
                                                                                         max(levels) * batch)})
        local = inprocess_throughput(artifact, sizes, threads=threads)
    failed = sum(c.errors for c in res.cells)
    if as_json:
        typer.echo(to_json({**res.to_dict(), "in_process": [r.to_dict() for r in local]}))
        if failed:
            raise typer.Exit(1)
        return
    from rich.table import Table

    t = Table(title=f"{res.model} at {res.url} ({res.cells[0].protocol}; {res.input_datatype} {res.input_shape}, "
                    f"batch {batch}/request, max batch {res.max_batch_size}, dynamic batching "
                    f"{'on' if res.dynamic_batching else 'off'})")
    for col in ("clients", "ok/sent", "req/s", "img/s", "p50 ms", "p90 ms", "p99 ms", "exec batch"):
        t.add_column(col, justify="right")

    def f(v: object, fmt: str = ".1f") -> str:
        return "-" if v is None else format(v, fmt)

    for c in res.cells:
        t.add_row(str(c.concurrency), f"{c.ok}/{c.requests}", f(c.throughput_rps), f(c.images_per_s), f(c.p50_ms),
                  f(c.p90_ms), f(c.p99_ms), f(c.mean_executed_batch, ".2f"))
    console.print(t)
    for c in res.cells:
        if c.errors:
            console.print(f"clients {c.concurrency}: {c.errors} error(s), e.g. {c.error_examples[0]}", soft_wrap=True)
    for r in local:
        console.print(f"in-process ({r.kind} {r.precision}, {r.provider}, batch {r.batch}): {r.images_per_s:.1f} "
                      f"img/s (p50 {r.p50_ms:.2f} ms, {r.iterations} runs)", highlight=False)
    if failed:
        raise typer.Exit(1)
