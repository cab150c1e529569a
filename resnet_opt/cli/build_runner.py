"""build-runner: compile the native C++ runner against the installed torch wheel's libtorch."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from resnet_opt.cli.app import app
from resnet_opt.cli.common import JsonOpt, handle_errors, parse_auto_on_off, show_progress
from resnet_opt.core.artifact import to_json


@app.command("build-runner")
@handle_errors
def build_runner_cmd(
    out: Optional[Path] = typer.Option(None, "--out", help="Copy the binary here (a file path or a folder). "
                                                           "Default: print the cached build's path."),
    force: bool = typer.Option(False, "--force", help="Rebuild even when a cached build exists."),
    cuda: str = typer.Option("auto", "--cuda", help="auto (link torch_cuda when torch sees a GPU), on or off."),
    install_deps: bool = typer.Option(False, "--install-deps",
                                      help="apt-get install the missing header packages (nlohmann-json3-dev, "
                                           "libstb-dev; needs root)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Build cache (default ~/.cache/resnet-opt)."),
    as_json: JsonOpt = False,
) -> None:
    """Build resnet-opt-runner, the C++ program that runs TorchScript and .pt2 artifacts with libtorch."""
    from resnet_opt.runtime.cpp_runner import build_runner

    on = parse_auto_on_off(cuda, "--cuda")
    say = (lambda m: typer.echo(m, err=True)) if show_progress() or not as_json else None
    path = build_runner(cache_dir=cache_dir, force=force, cuda="auto" if on is None else on,
                        install_deps=install_deps, out=out, log=say)
    if as_json:
        typer.echo(to_json({"binary": str(path)}))
    else:
        typer.echo(str(path))
