"""Evaluation of anything that maps a batch of images to logits: a torch model or an artifact's predictor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch
from torch import nn

from resnet_opt.engine.progress import progress_iter

Predictor = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class EvalResult:
    top1: float  # percent
    top5: float  # percent
    count: int
    correct1: int = 0
    correct5: int = 0

    def to_dict(self) -> dict:
        return {"top1": self.top1, "top5": self.top5, "count": self.count}


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _as_predictor(model: nn.Module | Predictor, device: torch.device) -> Predictor:
    if isinstance(model, nn.Module):
        model.eval()

        def run(x: torch.Tensor) -> torch.Tensor:
            return model(x.to(device)).float().cpu()

        return run
    return model


@torch.no_grad()
def collect_logits(model: nn.Module | Predictor, loader: Iterable, *, device: str | torch.device | None = "cpu",
                   progress: bool = False, description: str = "eval") -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``model`` over ``loader``; return (logits [N, C] float32 on CPU, labels [N])."""
    dev = resolve_device(device)
    fn = _as_predictor(model, dev)
    outs, labels = [], []
    for x, y in progress_iter(loader, description=description, enabled=progress):
        outs.append(torch.as_tensor(fn(x)).float().cpu())
        labels.append(torch.as_tensor(y))
    if not outs:
        return torch.empty(0, 0), torch.empty(0, dtype=torch.long)
    return torch.cat(outs), torch.cat(labels)


def accuracy_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> EvalResult:
    n = int(labels.numel())
    if n == 0:
        return EvalResult(0.0, 0.0, 0)
    k = min(5, logits.shape[1])
    topk = logits.topk(k, dim=1).indices
    c1 = int((topk[:, 0] == labels).sum())
    c5 = int((topk == labels[:, None]).any(dim=1).sum())
    return EvalResult(top1=100.0 * c1 / n, top5=100.0 * c5 / n, count=n, correct1=c1, correct5=c5)


def evaluate(model: nn.Module | Predictor, loader: Iterable, *, device: str | torch.device | None = "cpu",
             progress: bool = False) -> EvalResult:
    logits, labels = collect_logits(model, loader, device=device, progress=progress)
    return accuracy_from_logits(logits, labels)


def reduce_result(res: EvalResult, ctx=None) -> EvalResult:
    """Sum the correct / count figures of every rank's shard (torch.distributed all_reduce); identity with one
    process."""
    from resnet_opt.engine.distributed import all_reduce_sum, current

    ctx = ctx or current()
    if not ctx.enabled:
        return res
    c1, c5, n = all_reduce_sum([res.correct1, res.correct5, res.count], ctx)
    n = int(n)
    if n == 0:
        return EvalResult(0.0, 0.0, 0)
    return EvalResult(top1=100.0 * c1 / n, top5=100.0 * c5 / n, count=n, correct1=int(c1), correct5=int(c5))


def agreement(reference: torch.Tensor, other: torch.Tensor) -> dict[str, float]:
    """Top-1 agreement (percent) and max abs / max relative logit difference between two sets of logits."""
    if reference.numel() == 0:
        return {"top1_agreement": 0.0, "max_abs_diff": 0.0, "max_rel_diff": 0.0, "count": 0}
    a, b = reference.float(), other.float()
    diff = (a - b).abs()
    scale = a.abs().max().clamp_min(1e-12)
    return {
        "top1_agreement": 100.0 * float((a.argmax(1) == b.argmax(1)).float().mean()),
        "max_abs_diff": float(diff.max()),
        "max_rel_diff": float(diff.max() / scale),
        "count": int(a.shape[0]),
    }


def materialize(loader: Iterable, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """All (or the first ``limit``) images and labels of a loader as two tensors."""
    from resnet_opt.core.errors import DataError

    xs, ys = [], []
    n = 0
    for x, y in loader:
        xs.append(x.float())
        ys.append(torch.as_tensor(y))
        n += x.shape[0]
        if limit is not None and n >= limit:
            break
    if not xs:
        raise DataError("the evaluation data is empty")
    return torch.cat(xs), torch.cat(ys)


@torch.inference_mode()
def batched_logits(fn: Callable[[torch.Tensor], Any], x: torch.Tensor, *, batch: int = 64, progress: bool = False,
                   description: str = "evaluating") -> torch.Tensor:
    """Float32 CPU logits of ``fn`` (a module, a predictor, a compiled package, or any tensor -> logits callable; a
    tuple or list output gives its first element) over ``x`` in batches, without autograd."""
    chunks = [x[i:i + batch].contiguous() for i in range(0, len(x), batch)]
    outs = []
    with torch.no_grad():
        for c in progress_iter(chunks, description=description, enabled=progress):
            y = fn(c)
            outs.append(torch.as_tensor(y[0] if isinstance(y, (list, tuple)) else y).float().cpu())
    return torch.cat(outs)


def run_in_fixed_batches(fn: Callable[[torch.Tensor], Any], x: torch.Tensor, bs: int) -> torch.Tensor:
    """Run ``fn`` over ``x`` in batches of exactly ``bs`` (a static batch axis; the last batch padded by repeating the
    final input, its padding dropped from the output). Float32 CPU logits."""
    outs = []
    for i in range(0, x.shape[0], bs):
        chunk = x[i:i + bs]
        k = chunk.shape[0]
        if k < bs:
            chunk = torch.cat([chunk, chunk[-1:].expand(bs - k, *chunk.shape[1:])])
        outs.append(torch.as_tensor(fn(chunk))[:k].float().cpu())
    return torch.cat(outs)
