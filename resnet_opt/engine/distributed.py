"""Multi-process training and evaluation on torch.distributed, launched by torchrun (torch.distributed.run).

Nothing here launches processes or moves tensors by itself: torchrun starts the workers and sets RANK / WORLD_SIZE /
LOCAL_RANK / MASTER_ADDR / MASTER_PORT (its rendezvous, single- or multi-node); :func:`session` joins the process group
(gloo on CPU, NCCL on CUDA); DistributedDataParallel averages gradients; metrics are summed with ``all_reduce``.

Without torchrun (no WORLD_SIZE, or WORLD_SIZE=1) everything is a no-op and a :class:`DistContext` of one process is
returned, so the same code runs single-process.

:func:`launch` is the ``--nproc N`` option: it runs torchrun's own entry point (``torch.distributed.run.run``) in this
process for ``python -m resnet_opt <the same command>`` and turns a worker failure into one typed error.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import os
import sys
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch

from resnet_opt.core.artifact import work_dir
from resnet_opt.core.errors import ConfigError, DistributedError, first_line

__all__ = ["DistContext", "session", "current", "all_reduce_sum", "broadcast_buffers", "barrier", "shard_indices", "launch",
           "fail_point", "FAIL_ENV", "strip_nproc", "env_rank"]

FAIL_ENV = "RESNET_OPT_TEST_FAIL"  # "RANK:STEP": that rank exits (code 17) at that training step; tests only
DEFAULT_TIMEOUT_S = 600


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    device: str = "cpu"

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def to_dict(self) -> dict:
        return {"world_size": self.world_size, "backend": self.backend, "launcher": "torchrun"}


def _env_int(name: str, default: int) -> int:
    v = os.environ.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise ConfigError(f"environment variable {name}={v!r} is not an integer (set by torchrun)") from None


def _ctx_from_env(device: str = "auto") -> DistContext:
    world = _env_int("WORLD_SIZE", 1)
    rank, local = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if world <= 1:
        return DistContext(device=_resolve(device, local, False))
    use_cuda = _wants_cuda(device)
    return DistContext(rank=rank, world_size=world, local_rank=local, backend="nccl" if use_cuda else "gloo",
                       device=_resolve(device, local, True))


def _wants_cuda(device: str) -> bool:
    d = str(device or "auto")
    if d == "auto":
        return torch.cuda.is_available()
    return d.startswith("cuda")


def _resolve(device: str, local_rank: int, distributed: bool) -> str:
    if not _wants_cuda(device):
        return "cpu"
    if not torch.cuda.is_available():
        return str(device)  # let resolve_device / torch report it
    return f"cuda:{local_rank}" if distributed else ("cuda" if str(device) == "auto" else str(device))


def env_rank() -> int:
    """This process's global rank as torchrun set it (0 without torchrun), whether or not a process group is open."""
    return _env_int("RANK", 0) if _env_int("WORLD_SIZE", 1) > 1 else 0


def current() -> DistContext:
    """The context of the process group this process belongs to (one process when there is none)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        backend = dist.get_backend()
        dev = f"cuda:{_env_int('LOCAL_RANK', 0)}" if backend == "nccl" else "cpu"
        return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(),
                           local_rank=_env_int("LOCAL_RANK", 0), backend=backend, device=dev)
    return DistContext()


@contextlib.contextmanager
def session(device: str = "auto", timeout_s: int = DEFAULT_TIMEOUT_S) -> Iterator[DistContext]:
    """Join the torchrun process group for the duration of the block (nested use reuses the outer group).

    Under torchrun with WORLD_SIZE > 1: gloo (CPU) or NCCL (one GPU per process, ``cuda:LOCAL_RANK``)."""
    import torch.distributed as dist

    ctx = _ctx_from_env(device)
    if not ctx.enabled:
        yield ctx
        return
    if not dist.is_available():
        raise DistributedError("this torch build has no torch.distributed support")
    if dist.is_initialized():
        yield current()
        return
    if ctx.backend == "nccl":
        torch.cuda.set_device(ctx.local_rank)
    try:
        dist.init_process_group(backend=ctx.backend, timeout=_dt.timedelta(seconds=timeout_s))
    except Exception as e:  # noqa: BLE001 - rendezvous failures come as many exception types
        raise DistributedError(f"cannot join the process group (rank {ctx.rank} of {ctx.world_size}, "
                               f"{ctx.backend}): {first_line(e)}") from e
    ok = False
    try:
        yield ctx
        ok = True
    finally:
        if ok:
            with contextlib.suppress(Exception):
                dist.barrier()  # rank 0 may still be writing the artifact: leave together
        with contextlib.suppress(Exception):
            dist.destroy_process_group()



def all_reduce_sum(values: Sequence[float], ctx: DistContext | None = None) -> list[float]:
    """Sum ``values`` over every rank (float64 on the process group's device); identity with one process."""
    ctx = ctx or current()
    if not ctx.enabled:
        return [float(v) for v in values]
    import torch.distributed as dist

    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=ctx.device)
    try:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    except Exception as e:  # noqa: BLE001
        raise DistributedError(f"rank {ctx.rank}: lost contact with the other ranks: {first_line(e)}") from e
    return [float(v) for v in t.cpu().tolist()]


def broadcast_buffers(model: "torch.nn.Module", src: int = 0) -> None:
    """Copy rank ``src``'s buffers (BatchNorm running statistics) to every rank: after the last training step each
    rank has updated them on its own shard, and the model rank 0 saves is rank 0's."""
    import torch.distributed as dist

    for b in model.buffers():
        dist.broadcast(b.data, src=src)


def barrier(ctx: DistContext | None = None) -> None:
    ctx = ctx or current()
    if ctx.enabled:
        import torch.distributed as dist

        try:
            dist.barrier()
        except Exception as e:  # noqa: BLE001
            raise DistributedError(f"rank {ctx.rank}: lost contact with the other ranks: {first_line(e)}") from e


def shard_indices(n: int, ctx: DistContext | None = None) -> list[int]:
    """This rank's share of ``range(n)`` for evaluation: every ``world_size``-th item, no padding (so summed counts
    are exactly ``n``, unlike DistributedSampler, which repeats items to even out the shards)."""
    ctx = ctx or current()
    return list(range(ctx.rank, n, ctx.world_size))


def fail_point(step: int, ctx: DistContext | None = None) -> None:
    """Test hook: with ``RESNET_OPT_TEST_FAIL=RANK:STEP`` that rank dies (``os._exit(17)``, like a killed worker) when
    it reaches training step STEP (0-based, counted over the run)."""
    spec = os.environ.get(FAIL_ENV)
    if not spec:
        return
    r, _, s = spec.partition(":")
    ctx = ctx or current()
    if int(r) == ctx.rank and int(s or 0) == step:
        sys.stderr.flush()
        os._exit(17)


# ---------------------------------------------------------------- --nproc N: run torchrun for this command
def strip_nproc(argv: Sequence[str]) -> list[str]:
    """``argv`` without ``--nproc N`` / ``--nproc=N`` (the workers run the same command single-process-style)."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--nproc":
            skip = True
            continue
        if a.startswith("--nproc="):
            continue
        out.append(a)
    return out


def launch(nproc: int, argv: Sequence[str], *, threads: int | None = None) -> None:
    """Run ``python -m resnet_opt ARGV`` in ``nproc`` processes on this machine with torchrun's own launcher
    (``torch.distributed.run``, standalone rendezvous, no restarts).

    Workers' stdout goes to the console (only rank 0 prints results); their stderr goes to torchrun's per-rank log
    files, replayed for rank 0 on success. A failure raises one DistributedError naming the first failed rank and
    its own ``error:`` line (or its exit code / signal when it died without one)."""
    if nproc < 1:
        raise ConfigError(f"--nproc must be at least 1, got {nproc}")
    if os.environ.get("TORCHELASTIC_RUN_ID") or _env_int("WORLD_SIZE", 1) > 1:
        raise ConfigError("--nproc inside a torchrun worker: use either torchrun or --nproc, not both")
    from pathlib import Path

    os.environ.setdefault("LOGLEVEL", "ERROR")  # loggers torchrun creates from here on
    from torch.distributed import run as trun
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    # torchrun's agent logs restarts / SIGTERMs at WARNING (each module's logger has its own level); the failure is
    # reported once, below
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads or 1))  # torchrun would set 1 and warn about it
    with work_dir("torchrun") as logs:
        args = trun.parse_args(["--standalone", "--nproc-per-node", str(nproc), "--max-restarts", "0",
                                "--log-dir", str(logs), "--redirects", "2", "-m", "resnet_opt", *argv])

        def stderr_of(local_rank: int) -> str:
            for f in sorted(Path(logs).rglob("stderr.log")):
                if f.parent.name == str(local_rank):
                    return f.read_text(errors="replace")
            return ""

        try:
            trun.run(args)
        except ChildFailedError as e:
            rank, first = e.get_first_failure()  # torchrun's root cause: the earliest failure
            code = first.exitcode
            why = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            errs = [ln.strip() for ln in stderr_of(first.local_rank).splitlines() if ln.startswith("error:")]
            detail = errs[-1][len("error:"):].strip() if errs else "it ended without an error message (killed?)"
            # ranks that failed on their own (not the SIGTERM torchrun sends to stop the rest)
            others = sorted(r for r, f in e.failures.items() if r != rank and (f.exitcode or 0) > 0)
            more = f"; ranks {', '.join(map(str, others))} also failed" if others else ""
            raise DistributedError(f"{nproc}-process run failed: rank {rank} ({why}): {detail}{more}; "
                                   "the other ranks were stopped") from None
        sys.stderr.write(stderr_of(0))
