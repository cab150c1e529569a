"""A reusable trainer: SGD or AdamW, cosine schedule, label smoothing, optional distillation, best checkpoint
kept in the model folder format, resumable from its own folder, seeded. No hidden globals: everything comes in
through arguments, so torchrun/DDP can drive it (pass a DDP-wrapped model and distributed samplers)."""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from resnet_opt.core.artifact import atomic_write_text
from resnet_opt.core.errors import ConfigError, DistributedError, ResNetOptError
from resnet_opt.engine.distributed import broadcast_buffers, DistContext, all_reduce_sum, fail_point
from resnet_opt.engine.evaluate import EvalResult, evaluate, reduce_result, resolve_device

__all__ = ["TrainConfig", "TrainResult", "EpochRecord", "train", "load_train_state", "seed_everything",
           "distillation_loss", "STATE_NAME", "HISTORY_NAME"]

STATE_NAME = "train_state.pt"
HISTORY_NAME = "history.json"
AMP_DTYPES = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class TrainConfig:
    epochs: int = 8
    batch_size: int = 64
    optimizer: str = "adamw"  # adamw | sgd
    lr: float | None = None  # default: 0.1 (sgd) / 1e-3 (adamw), scaled by batch_size / 64
    weight_decay: float | None = None  # default: 5e-4 (sgd) / 0.05 (adamw)
    momentum: float = 0.9
    label_smoothing: float = 0.1
    warmup_epochs: float = 1.0
    distill_temperature: float = 4.0
    distill_alpha: float = 0.5  # weight of the KD term when a teacher is given
    seed: int = 0
    device: str = "auto"
    amp: str = "off"  # off | bf16 | fp16: mixed precision (torch.autocast; fp16 adds a gradient scaler, CUDA only)
    augment: str = "none"  # none | flip-shift (random horizontal flip + shift of up to 1/8 of the side) | flip-shift-erase
    # NHWC activations and weights while training (the saved model is plain contiguous): R18 at 64 px, batch 128 on
    # a 2-core Zen 4 trained at 209 vs 179 img/s (FP32) and 297 vs 268 img/s (--amp bf16)
    channels_last: bool = True

    def validate(self) -> None:
        """Every setting checked once (finite, in range) before any work; normalises optimizer and device."""
        from resnet_opt.core.checks import MAX_EPOCHS, check_batch_size, check_device, check_float, check_int

        check_int("--epochs", self.epochs, 1, MAX_EPOCHS)
        check_batch_size(self.batch_size)
        opt = str(self.optimizer).strip().lower()
        if opt not in ("sgd", "adamw"):
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; valid: sgd, adamw")
        self.optimizer = opt
        check_float("--lr", self.lr, 0.0, 10.0, lo_open=True, optional=True)
        check_float("--weight-decay", self.weight_decay, 0.0, 1.0, optional=True)
        check_float("momentum", self.momentum, 0.0, 1.0, hi_open=True)
        check_float("--label-smoothing", self.label_smoothing, 0.0, 1.0, hi_open=True)
        check_float("--warmup-epochs", self.warmup_epochs, 0.0, float(self.epochs))
        check_float("distillation temperature", self.distill_temperature, 0.0, 100.0, lo_open=True)
        check_float("distillation weight", self.distill_alpha, 0.0, 1.0)
        check_int("--seed", self.seed, 0, 2**32 - 1)
        aug = str(self.augment).strip().lower()
        if aug not in AUGMENTATIONS:
            raise ConfigError(f"unknown augmentation {self.augment!r}; valid: {', '.join(AUGMENTATIONS)}")
        self.augment = aug
        self.device = check_device(self.device)
        amp = str(self.amp).strip().lower()
        if amp not in AMP_DTYPES:
            raise ConfigError(f"unknown --amp {self.amp!r}; valid: {', '.join(AMP_DTYPES)}")
        self.amp = amp
        if amp == "fp16" and resolve_device(self.device).type != "cuda":
            raise ConfigError("--amp fp16 needs a CUDA device (its gradient scaler is for GPUs); use --amp bf16 on "
                              "the CPU")

    def resolved_lr(self) -> float:
        if self.lr is not None:
            return self.lr
        return (0.1 if self.optimizer == "sgd" else 1e-3) * self.batch_size / 64

    def resolved_wd(self) -> float:
        if self.weight_decay is not None:
            return self.weight_decay
        return 5e-4 if self.optimizer == "sgd" else 0.05


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    val_top1: float | None
    val_top5: float | None
    lr: float
    seconds: float


@dataclass
class TrainResult:
    best_top1: float | None
    best_epoch: int | None
    epochs_run: int
    seconds: float
    history: list[EpochRecord] = field(default_factory=list)
    final: EvalResult | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return d


def load_train_state(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Read a ``train_state.pt`` with ``weights_only=True``: pickled objects in it are refused, never executed.
    A corrupt, truncated or unsafe file is one ResNetOptError line."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's pickle-protocol notes: the error below says it
            state = torch.load(str(path), map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch.load raises many types for corrupt or unsafe files
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ResNetOptError(f"cannot resume from {path} (a corrupt or unsafe state file; pickled objects are never "
                             f"executed): {type(e).__name__}: {first[:200]}") from e
    if not isinstance(state, dict) or not {"epoch", "model", "optimizer", "scheduler", "rng"} <= set(state):
        raise ResNetOptError(f"cannot resume from {path}: not a resnet-opt training state")
    if isinstance(state["epoch"], bool) or not isinstance(state["epoch"], int):
        raise ResNetOptError(f"cannot resume from {path}: its 'epoch' is not an integer")
    return state


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.resolved_wd()}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.resolved_lr(), momentum=cfg.momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=cfg.resolved_lr())


def _lr_lambda(cfg: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    total = max(1, cfg.epochs * steps_per_epoch)
    warm = int(cfg.warmup_epochs * steps_per_epoch)

    def f(step: int) -> float:
        if warm and step < warm:
            return (step + 1) / warm
        t = (step - warm) / max(1, total - warm)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))

    return f


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL divergence on temperature-softened logits (Hinton et al.), scaled by T²."""
    t = temperature
    return F.kl_div(F.log_softmax(student_logits / t, dim=1), F.softmax(teacher_logits / t, dim=1),
                    reduction="batchmean") * (t * t)


AUGMENTATIONS = ("none", "flip-shift", "flip-shift-erase")


def augment_batch(x: torch.Tensor, kind: str = "flip-shift") -> torch.Tensor:
    """Training augmentation on a batch of prepared images (N, C, H, W), drawn from torch's seeded RNG:
    ``flip-shift`` flips each image left-right with probability 1/2 and shifts it by up to 1/8 of its side in each
    direction (the border pixels repeated), the flips-and-translations recipe of the Fashion-MNIST/CIFAR baselines;
    ``flip-shift-erase`` then erases one random rectangle (2-33 % of the image, aspect 0.3-3.3) of each image with
    probability 1/2, set to 0 (the normalized mean): torchvision's ``RandomErasing`` per image (Zhong et al., Random
    Erasing Data Augmentation, whose Fashion-MNIST results it follows)."""
    if kind == "none":
        return x
    if kind == "flip-shift-erase":
        from torchvision.transforms import v2

        erase = v2.RandomErasing(p=0.5, value=0)
        return torch.stack([erase(img) for img in augment_batch(x, "flip-shift")])
    n, _, h, w = x.shape
    flip = torch.rand(n, device=x.device) < 0.5
    x = torch.where(flip.view(n, 1, 1, 1), x.flip(-1), x)
    p = max(1, min(h, w) // 8)
    padded = torch.nn.functional.pad(x, (p, p, p, p), mode="replicate")
    dy = torch.randint(0, 2 * p + 1, (n,), device=x.device)
    dx = torch.randint(0, 2 * p + 1, (n,), device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])[:, None, :, None]  # (n, 1, h, 1)
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])[:, None, None, :]  # (n, 1, 1, w)
    b = torch.arange(n, device=x.device)[:, None, None, None]
    c = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[b, c, rows, cols]


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (the model itself otherwise)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def train(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable | None = None,
    config: TrainConfig | None = None,
    *,
    out_dir: str | Path | None = None,
    save_fn: Callable[[nn.Module, Path], Any] | None = None,
    resume: bool = False,
    teacher: nn.Module | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    on_epoch: Callable[[EpochRecord], Any] | None = None,
    dist: DistContext | None = None,
    on_epoch_start: Callable[[nn.Module, int], None] | None = None,
) -> TrainResult:
    """Train ``model`` in place. With ``out_dir`` and ``save_fn`` (e.g. a closure over ``save_model``) the best
    model by val top-1 is written there and a resumable ``train_state.pt`` is kept beside it.

    Progress (all off by default, so library use stays quiet): ``progress=True`` shows a rich progress bar per epoch
    on stderr (running loss, then val top-1); ``log`` receives one line per epoch; ``on_epoch`` receives each
    :class:`EpochRecord` (epoch, train_loss, val_top1, val_top5, lr, seconds) as soon as the epoch ends.

    The model left in memory is the LAST epoch's; the one saved with ``save_fn`` is the BEST by val top-1
    (``TrainResult.best_epoch``).

    ``dist`` (a :class:`~resnet_opt.engine.distributed.DistContext` of a torchrun process group): the model is wrapped
    in DistributedDataParallel, ``train_loader`` should use a DistributedSampler (its epoch is set here) and
    ``val_loader`` this rank's shard; losses and val counts are summed over ranks, and only rank 0 writes, logs and
    shows progress. ``on_epoch_start(model, epoch)`` runs after ``model.train()`` each epoch (QAT schedules)."""
    cfg = config or TrainConfig()
    cfg.validate()
    dist = dist or DistContext()
    seed_everything(cfg.seed)
    device = resolve_device(dist.device if dist.enabled else cfg.device)
    if cfg.amp == "fp16" and device.type != "cuda":
        raise ConfigError("--amp fp16 needs a CUDA device; use --amp bf16 on the CPU")
    steps = _steps(train_loader)
    main = dist.is_main
    log = log if main else None
    progress = progress and main
    out = Path(out_dir) if out_dir is not None else None
    state = None
    if resume and out is not None and (out / STATE_NAME).is_file():
        state = load_train_state(out / STATE_NAME, map_location=device)
    loop = _Loop.start(model, cfg, dist, device, teacher, steps, state=state, where=out)
    history: list[EpochRecord] = []
    best_top1, best_epoch, start_epoch = None, None, 0
    if state is not None and out is not None:
        history, best_top1, best_epoch, start_epoch = loop.resume(state, out)
        if log:
            log(f"resuming from epoch {start_epoch} of {cfg.epochs}")

    sampler = getattr(train_loader, "sampler", None)
    t_start = time.perf_counter()
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)  # type: ignore[union-attr]
        loop.net.train()
        if on_epoch_start is not None:
            on_epoch_start(model, epoch)
        bar = _EpochBar(progress, f"epoch {epoch + 1}/{cfg.epochs}", train_loader, steps)
        total, count = all_reduce_sum(loop.epoch(bar, epoch, steps), dist)
        if dist.enabled:
            broadcast_buffers(model)  # BN running statistics of rank 0 (what it saves), so every shard is scored alike
        val = reduce_result(evaluate(model, val_loader, device=device), dist) if val_loader is not None else None
        rec = EpochRecord(epoch=epoch + 1, train_loss=total / max(count, 1), val_top1=val.top1 if val else None,
                          val_top5=val.top5 if val else None, lr=loop.opt.param_groups[0]["lr"],
                          seconds=time.perf_counter() - t0)
        history.append(rec)
        bar.close(rec)
        if on_epoch is not None:
            on_epoch(rec)
        if log:
            log(f"epoch {rec.epoch}/{cfg.epochs}: loss {rec.train_loss:.4f}"
                + (f", val top-1 {rec.val_top1:.2f}%" if rec.val_top1 is not None else "") + f" ({rec.seconds:.1f}s)")
        improved = val is None or best_top1 is None or val.top1 > best_top1  # no validation: keep the last
        if improved:
            best_top1, best_epoch = (val.top1 if val else None), epoch + 1
        if out is not None and main:
            loop.checkpoint(out, epoch + 1, history, best_top1, best_epoch, save_fn if improved else None)
    model.to(memory_format=torch.contiguous_format)
    return TrainResult(best_top1=best_top1, best_epoch=best_epoch, epochs_run=len(history),
                       seconds=time.perf_counter() - t_start, history=history)


def _steps(train_loader: Iterable) -> int:
    try:
        steps = len(train_loader)  # type: ignore[arg-type]
    except TypeError as e:
        raise ConfigError("the training loader must have a length") from e
    if steps == 0:
        raise ConfigError("the training loader is empty")
    return steps


@dataclass
class _Loop:
    """What one training run steps: the model (and its DDP wrapper ``net``), optimizer, schedule, gradient scaler,
    loss, device, memory format, autocast dtype and the distillation teacher."""

    cfg: TrainConfig
    model: nn.Module
    net: nn.Module
    opt: torch.optim.Optimizer
    sched: Any
    scaler: Any
    crit: nn.Module
    device: torch.device
    fmt: torch.memory_format
    amp_dtype: torch.dtype | None
    teacher: nn.Module | None
    dist: DistContext

    @classmethod
    def start(cls, model: nn.Module, cfg: TrainConfig, dist: DistContext, device: torch.device,
              teacher: nn.Module | None, steps: int, *, state: dict[str, Any] | None = None,
              where: Path | None = None) -> "_Loop":
        """Set up the run; a resumed run's ``state`` gives the model its weights before any DDP wrapper sees it."""
        model.to(device)
        fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
        model.to(memory_format=fmt)
        if teacher is not None:
            teacher.to(device).eval()
        if state is not None:
            try:
                model.load_state_dict(state["model"])
            except (RuntimeError, KeyError, ValueError) as e:
                raise ResNetOptError(f"cannot resume from {Path(where or '.') / STATE_NAME}: "
                                     f"{str(e).splitlines()[0]}") from e
        net = model
        if dist.enabled:
            net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        opt = _make_optimizer(model, cfg)
        # fp16 gradients underflow without loss scaling; bf16 has float32's range and needs none (scaler disabled)
        return cls(cfg=cfg, model=model, net=net, opt=opt,
                   sched=torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg, steps)),
                   scaler=torch.amp.GradScaler(device.type, enabled=cfg.amp == "fp16"),
                   crit=nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing), device=device, fmt=fmt,
                   amp_dtype=AMP_DTYPES[cfg.amp], teacher=teacher, dist=dist)

    def resume(self, state: dict[str, Any], out: Path) -> tuple[list[EpochRecord], float | None, int | None, int]:
        """Optimizer, schedule, scaler and RNG from a train state (the model's weights went in at :meth:`start`):
        (history, best top-1, best epoch, epochs already run)."""
        path = out / STATE_NAME
        history: list[EpochRecord] = []
        try:
            self.opt.load_state_dict(state["optimizer"])
            self.sched.load_state_dict(state["scheduler"])
            if self.scaler.is_enabled() and state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
            torch.set_rng_state(state["rng"].cpu())
            start_epoch = int(state["epoch"])
            best_top1, best_epoch = state.get("best_top1"), state.get("best_epoch")
            if (out / HISTORY_NAME).is_file():
                history = [EpochRecord(**h) for h in json.loads((out / HISTORY_NAME).read_text())]
        except Exception as e:  # noqa: BLE001 - torch.load (weights_only: pickles are refused, never run) raises many types
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ResNetOptError(f"cannot resume from {path} (a corrupt or unsafe state file; pickled "
                                 f"objects are never executed): {type(e).__name__}: {first[:200]}") from e
        if not 0 <= start_epoch <= self.cfg.epochs:
            raise ConfigError(f"{path} has run {start_epoch} epochs but --epochs is {self.cfg.epochs}; "
                              "give at least that many epochs to resume")
        return history, best_top1, best_epoch, start_epoch

    def epoch(self, bar: Any, epoch: int, steps: int) -> list[float]:
        """One pass over the training batches (``bar`` iterates them): [summed loss, image count] of this rank."""
        cfg, dist, teacher = self.cfg, self.dist, self.teacher
        total, count = 0.0, 0
        try:
            for i, (x, y) in enumerate(bar):
                if dist.enabled:
                    fail_point(epoch * steps + i, dist)
                x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
                if cfg.augment != "none":
                    x = augment_batch(x, cfg.augment)
                if x.dim() == 4:
                    x = x.contiguous(memory_format=self.fmt)
                with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                    logits = self.net(x)
                    if teacher is not None:
                        with torch.no_grad():
                            t_logits = teacher(x)
                # the losses in float32 (a no-op without --amp)
                loss = self.crit(logits.float(), y)
                if teacher is not None:
                    loss = (1 - cfg.distill_alpha) * loss + cfg.distill_alpha * distillation_loss(
                        logits.float(), t_logits.float(), cfg.distill_temperature)
                self.opt.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()  # scale, step and update: plain backward/step unless --amp fp16
                self.scaler.step(self.opt)
                self.scaler.update()
                self.sched.step()
                total += float(loss.detach()) * x.shape[0]
                count += x.shape[0]
                bar.update(loss=total / max(count, 1))
        except RuntimeError as e:
            if not dist.enabled:
                raise
            raise DistributedError(f"rank {dist.rank}: lost contact with the other ranks during epoch {epoch + 1}: "
                                   f"{str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}") from e
        return [total, count]

    def checkpoint(self, out: Path, epochs_run: int, history: list[EpochRecord], best_top1: float | None,
                   best_epoch: int | None, save_fn: Callable[[nn.Module, Path], Any] | None) -> None:
        """The model through ``save_fn`` (given when this epoch is the best so far), then the resumable train
        state and the history, each written atomically."""
        out.mkdir(parents=True, exist_ok=True)
        if save_fn is not None:
            self.model.to(memory_format=torch.contiguous_format)  # safetensors stores contiguous tensors only
            save_fn(self.model, out)
            self.model.to(memory_format=self.fmt)
        state = {"epoch": epochs_run, "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                 "scheduler": self.sched.state_dict(), "rng": torch.get_rng_state(), "best_top1": best_top1,
                 "best_epoch": best_epoch, "config": asdict(self.cfg)}
        if self.scaler.is_enabled():
            state["scaler"] = self.scaler.state_dict()
        tmp = out / f".{STATE_NAME}.tmp"
        torch.save(state, str(tmp))
        tmp.replace(out / STATE_NAME)
        atomic_write_text(out / HISTORY_NAME, json.dumps([asdict(h) for h in history], indent=2) + "\n")


class _EpochBar:
    """A per-epoch rich progress bar showing the running loss, then the epoch's val top-1."""

    def __init__(self, enabled: bool, description: str, loader: Iterable, total: int):
        self.enabled, self.loader = enabled, loader
        self._prog = None
        if enabled:
            import sys

            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._prog = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[loss]}"), TextColumn("{task.fields[val]}"),
                                  TimeElapsedColumn(), console=Console(file=sys.stderr))
            self._task = self._prog.add_task(description, total=total, loss="", val="")  # no loss before a step
            self._prog.start()

    def __iter__(self):
        return iter(self.loader)

    def update(self, loss: float) -> None:
        if self._prog is not None:
            self._prog.update(self._task, advance=1, loss=f"loss {loss:.4f}")

    def close(self, rec: EpochRecord) -> None:
        if self._prog is not None:
            if rec.val_top1 is not None:
                self._prog.update(self._task, val=f"val top-1 {rec.val_top1:.2f}%")
            self._prog.stop()
