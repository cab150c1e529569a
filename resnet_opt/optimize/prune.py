"""Structured channel pruning of resnet_opt ResNets, built on Torch-Pruning's dependency graph.

* channels tied through residual connections (a stage's stem/``conv3``/``downsample`` outputs and every block's
  add) form one dependency group and are removed together, so the pruned model stays a valid ResNet;
* the classifier (``fc``) keeps all of its outputs;
* ``ratio`` removes that fraction of the channels of every prunable group (``global_pruning=True``: of all
  channels, ranked across groups), rounded so each group keeps a multiple of ``round_to`` channels;
* ``target_macs`` searches the ratio (bisection), then removes ``round_to``-channel slices from the least important
  groups until the model is within ``macs_tolerance`` (2 %) of the asked MACs;
* the result is rebuilt as a plain :class:`~resnet_opt.resnet.ResNet` from its per-conv widths
  (``arch.widths``), checked to give identical outputs, so ``save_model``/``load_model`` round-trip it with
  safetensors and a JSON config — never a pickled module.
"""

from __future__ import annotations

import copy
import math
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from resnet_opt.core.errors import ConfigError, PruningError
from resnet_opt.resnet import ResNet, count_macs, count_params

__all__ = ["IMPORTANCES", "PruneResult", "prune", "parse_macs", "format_macs", "rebuild_resnet", "prunable_layer_names",
           "resolve_ignored_layers"]

IMPORTANCES = ("l1", "l2", "taylor", "group")
MACS_TOLERANCE = 0.02
_MAX_SEARCH_RATIO = 0.95


@dataclass
class PruneResult:
    """What :func:`prune` did. MACs are per image at ``input_size`` (``count_macs``)."""

    mode: str  # "ratio" | "target_macs"
    ratio: float  # the channel ratio given to the pruner (searched in target mode)
    target_macs: int | None
    importance: str
    global_pruning: bool
    round_to: int | None
    iterative_steps: int
    ignored_layers: list[str]
    input_size: int
    macs_before: int
    macs_after: int
    params_before: int
    params_after: int
    widths: dict[str, int]  # per-conv output widths that differ from the standard architecture
    importance_data: str  # what the Taylor gradients were computed on ("" for magnitude criteria)
    search: list[dict[str, float]] = field(default_factory=list)  # target mode: tried ratios and their MACs
    refine_steps: int = 0  # target mode: round_to-channel slices removed after the ratio search
    seconds: float = 0.0

    @property
    def macs_reduction(self) -> float:
        """How many times fewer MACs (before / after)."""
        return self.macs_before / max(self.macs_after, 1)

    @property
    def params_reduction(self) -> float:
        return self.params_before / max(self.params_after, 1)

    @property
    def macs_error(self) -> float | None:
        """Relative distance of the result from ``target_macs`` (target mode)."""
        if self.target_macs is None:
            return None
        return (self.macs_after - self.target_macs) / self.target_macs

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(macs_reduction=self.macs_reduction, params_reduction=self.params_reduction, macs_error=self.macs_error)
        return d


# ----------------------------------------------------------------------------------------------- helpers
_MACS_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKmMgGtT]?)\s*(?:macs?|MACs?)?\s*$")
_SUFFIX = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}


def parse_macs(text: str | int | float) -> int:
    """``"2.0G"`` / ``"500M"`` / ``"2e9"`` / ``"1.5 GMACs"`` / ``2000000000`` -> MACs as an int."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        m = _MACS_RE.match(str(text))
        if not m:
            raise ConfigError(f"cannot read MACs {text!r}; use e.g. 2.0G, 500M or 2e9")
        value = float(m.group(1)) * _SUFFIX[m.group(2).lower()]
    if not math.isfinite(value) or value < 1:
        raise ConfigError(f"MACs must be a positive number, got {text!r}")
    return int(round(value))


def format_macs(n: float) -> str:
    """``2036863488`` -> ``"2.037G"``; ``498304`` -> ``"498.3K"``."""
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.4g}{suffix}"
    return f"{n:.4g}"


def _importance(name: str):
    import torch_pruning as tp

    key = str(name).strip().lower()
    # l1 / l2: the classic filter norm of each group's root conv; group: the L2 norm over every layer the channel
    # touches (conv out + BN + consumers' in-channels), averaged; taylor: |w · dL/dw| summed over the group.
    if key == "l1":
        return tp.importance.GroupMagnitudeImportance(p=1, group_reduction="first", normalizer="mean")
    if key == "l2":
        return tp.importance.GroupMagnitudeImportance(p=2, group_reduction="first", normalizer="mean")
    if key == "group":
        return tp.importance.GroupMagnitudeImportance(p=2, group_reduction="mean", normalizer="mean")
    if key == "taylor":
        return tp.importance.GroupTaylorImportance(group_reduction="mean", normalizer="mean")
    raise ConfigError(f"unknown importance {name!r}; valid: {', '.join(IMPORTANCES)}")


def prunable_layer_names(model: nn.Module) -> list[str]:
    """Names accepted by ``ignored_layers``: every conv (and the classifier, which is never pruned anyway)."""
    return [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def resolve_ignored_layers(model: nn.Module, ignored: Sequence[str | nn.Module] | None) -> tuple[list[nn.Module], list[str]]:
    """Map layer names (or modules) to the model's modules; unknown names raise one PruningError naming them."""
    named = dict(model.named_modules())
    names_of = {id(m): n for n, m in named.items()}
    modules: list[nn.Module] = []
    names: list[str] = []
    unknown = []
    for item in ignored or []:
        if isinstance(item, nn.Module):
            if id(item) not in names_of:
                raise PruningError("an ignored layer module is not part of the model being pruned")
            modules.append(item)
            names.append(names_of[id(item)])
            continue
        name = str(item).strip()
        if name not in named or not name:
            unknown.append(name)
            continue
        modules.append(named[name])
        names.append(name)
    if unknown:
        sample = ", ".join(prunable_layer_names(model)[:6])
        raise PruningError(f"unknown layer name(s) to ignore: {', '.join(repr(u) for u in unknown)} "
                           f"(layer names look like {sample}, ...)")
    return modules, names


def _example(example_input: torch.Tensor | int | Sequence[int] | None, model: nn.Module) -> torch.Tensor:
    p = next(model.parameters())
    if example_input is None:
        x = torch.zeros(1, 3, 224, 224)
    elif isinstance(example_input, int):
        x = torch.zeros(1, 3, example_input, example_input)
    elif isinstance(example_input, torch.Tensor):
        x = example_input
    else:
        x = torch.zeros(*example_input)
    if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != x.shape[3]:
        raise ConfigError(f"example_input must be a square N×3×H×W image batch, got shape {tuple(x.shape)}")
    return x.detach().to(device=p.device, dtype=p.dtype)


def _batches(data: Any, example: torch.Tensor, max_batches: int) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Normalise Taylor data: a tensor, (x, y), or an iterable of (x, y) batches."""
    if data is None:
        return [(example, None)]
    if isinstance(data, torch.Tensor):
        return [(data, None)]
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor) and data[0].ndim == 4:
        return [(data[0], data[1])]
    out = []
    for i, item in enumerate(data):
        if i >= max_batches:
            break
        x, y = (item[0], item[1]) if isinstance(item, (tuple, list)) else (item, None)
        out.append((x, y))
    if not out:
        raise PruningError("the data given for Taylor importance holds no batches")
    return out


def _taylor_gradients(model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor | None]]) -> None:
    """Accumulate dL/dw over ``batches`` (eval mode: BN statistics stay untouched). Without labels the model's own
    predictions are the targets, which still ranks channels by their first-order effect on the output."""
    dev = next(model.parameters()).device
    model.eval()
    model.zero_grad(set_to_none=True)
    with torch.enable_grad():
        for x, y in batches:
            x = x.to(dev)
            logits = model(x)
            valid = y is not None and bool((torch.as_tensor(y) >= 0).all())
            target = torch.as_tensor(y).to(dev) if valid else logits.detach().argmax(1)
            F.cross_entropy(logits, target).backward()


def _channel_out_of_range(x: float) -> bool:
    return not (isinstance(x, (int, float)) and math.isfinite(x) and 0.0 < x < 1.0)


def _pruner_class():
    import torch_pruning as tp

    class _FlooredPruner(tp.pruner.BasePruner):
        """BasePruner whose ``round_to`` never rounds a group down to zero channels (upstream then skips the
        group entirely, so a higher ratio could prune *less*): a group keeps at least ``round_to`` channels."""

        def _round_to(self, n_pruned, current_channels, round_to):
            n = super()._round_to(n_pruned, current_channels, round_to)
            if current_channels - n < round_to:
                n = max(current_channels - round_to, 0)
            return n

    return _FlooredPruner


class _Pruning:
    """One pruning run on a private copy of the model (used once in ratio mode, per trial in target mode)."""

    def __init__(self, base: ResNet, example: torch.Tensor, *, importance: str, global_pruning: bool,
                 round_to: int | None, iterative_steps: int, ignored_names: list[str], taylor_batches: list,
                 max_pruning_ratio: float):
        self.model = copy.deepcopy(base).eval()
        self.example = example
        self.importance_name = importance
        self.importance = _importance(importance)
        self.global_pruning = global_pruning
        self.round_to = round_to
        self.iterative_steps = iterative_steps
        self.ignored, _ = resolve_ignored_layers(self.model, ignored_names)
        self.taylor_batches = taylor_batches
        self.max_pruning_ratio = max_pruning_ratio
        self.pruner = None

    def run(self, ratio: float) -> ResNet:
        m = self.model
        with torch.enable_grad():  # the dependency graph is traced through autograd
            self.pruner = _pruner_class()(
                m, self.example, importance=self.importance, global_pruning=self.global_pruning,
                pruning_ratio=ratio, max_pruning_ratio=self.max_pruning_ratio,
                iterative_steps=self.iterative_steps, ignored_layers=[m.fc, *self.ignored],
                round_to=self.round_to,
            )
        for _ in range(self.iterative_steps):
            if self.importance_name == "taylor":
                _taylor_gradients(m, self.taylor_batches)
            self.pruner.step()
        m.zero_grad(set_to_none=True)
        return m


def _spatial_sizes(model: nn.Module, example: torch.Tensor) -> dict[nn.Module, int]:
    """Output H×W of every conv (does not change with pruning): the MAC cost of one channel."""
    sizes: dict[nn.Module, int] = {}
    hooks = [m.register_forward_hook(lambda mod, i, o: sizes.__setitem__(mod, int(o.shape[-1] * o.shape[-2])))
             for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model.eval()(example[:1])
    finally:
        for h in hooks:
            h.remove()
    return sizes


def _group_slice_macs(pr, group, n: int, hw: dict[nn.Module, int]) -> int:
    """MACs saved by removing ``n`` channels of ``group`` (convs and the classifier's input; BN costs no MACs)."""
    saved = 0
    for dep, _ in group:
        mod = dep.target.module
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1]
            if pr.DG.is_out_channel_pruning_fn(dep.handler):
                saved += n * (mod.in_channels // mod.groups) * k * hw[mod]
            elif pr.DG.is_in_channel_pruning_fn(dep.handler):
                saved += n * (mod.out_channels // mod.groups) * k * hw[mod]
        elif isinstance(mod, nn.Linear) and pr.DG.is_in_channel_pruning_fn(dep.handler):
            saved += n * mod.out_features
    return saved


def _refine_to_target(run: _Pruning, macs_now: int, target: int, tol: float, input_size: int,
                      max_steps: int = 400) -> tuple[int, int]:
    """Remove ``round_to``-channel slices (least important first, among slices that do not overshoot the window)
    until MACs are within ``tol`` of ``target``. Returns (steps, macs)."""
    pr, m = run.pruner, run.model
    step = run.round_to or 1
    hw = _spatial_sizes(m, run.example)
    ignored_all = list(pr.ignored_layers)  # fc + the user's layers, expanded to submodules by the pruner
    low = target * (1 - tol)
    steps = 0
    for _ in range(max_steps):
        if macs_now <= target * (1 + tol):
            break
        if run.importance_name == "taylor":
            _taylor_gradients(m, run.taylor_batches)
        best = None  # (score, saved, group root, pruning fn, idxs)
        fallback = None
        for group in pr.DG.get_all_groups(ignored_layers=ignored_all, root_module_types=pr.root_module_types):
            root = group[0].dep.target.module
            fn = group[0].dep.handler
            chans = pr.DG.get_out_channels(root)
            if chans is None or chans - step < max(step, 1):
                continue
            imp = run.importance(group)
            if imp is None:
                continue
            order = torch.argsort(imp)
            idxs = order[:step].tolist()
            saved = _group_slice_macs(pr, group, step, hw)
            if saved <= 0:
                continue
            # importance per MAC saved: cheap-to-lose channels that buy many MACs go first
            score = float(imp[order[:step]].mean()) / saved
            cand = (score, saved, root, fn, idxs)
            if macs_now - saved >= low:
                if best is None or score < best[0]:
                    best = cand
            elif fallback is None or saved < fallback[1]:
                fallback = cand
        choice = best or fallback
        if choice is None:
            break
        _, saved, root, fn, idxs = choice
        g = pr.DG.get_pruning_group(root, fn, idxs)
        if not pr.DG.check_pruning_group(g):
            break
        g.prune()
        steps += 1
        macs_now = count_macs(m, input_size)
        if best is None:  # the smallest slice overshot the window: nothing finer is possible
            break
    m.zero_grad(set_to_none=True)
    return steps, macs_now


def rebuild_resnet(model: ResNet) -> ResNet:
    """A fresh :class:`ResNet` built from ``model``'s per-conv widths and loaded with its weights (strict).

    This is how a pruned model becomes config + safetensors: its ``arch.widths`` are exactly what
    ``save_model`` records, and the rebuilt module has no trace of the pruning library."""
    from resnet_opt.resnet.io import nonstandard_widths

    widths = nonstandard_widths(model)
    try:
        extra = {"fused": True} if getattr(model.arch, "fused", False) else {}  # BN-folded layout (optimize.fuse)
        fresh = ResNet(model.arch.depth, num_classes=model.arch.num_classes, widths=widths, stem=model.arch.stem,
                       **extra)
        fresh.load_state_dict(model.state_dict(), strict=True)
    except (RuntimeError, ValueError) as e:  # ConfigError is a ValueError
        raise PruningError(f"the pruned model cannot be rebuilt from its widths: {str(e).splitlines()[0]}") from e
    p = next(model.parameters())
    return fresh.to(device=p.device, dtype=p.dtype).train(model.training)


# ----------------------------------------------------------------------------------------------- API
def _check_prune_args(model: Any, ratio: float | None, target_macs: Any, importance: str, round_to: int | None,
                      iterative_steps: int, global_pruning: bool, max_pruning_ratio: float | None,
                      macs_tolerance: float) -> tuple[str, float]:
    """Every check of :func:`prune`'s arguments, before any work: (importance name, max pruning ratio)."""
    if not isinstance(model, ResNet):
        raise PruningError(f"prune expects a resnet_opt ResNet, got {type(model).__name__}")
    if (ratio is None) == (target_macs is None):
        raise ConfigError("give exactly one of ratio or target_macs")
    if ratio is not None and _channel_out_of_range(ratio):
        raise ConfigError(f"pruning ratio must be strictly between 0 and 1, got {ratio}")
    imp_name = str(importance).strip().lower()
    _importance(imp_name)  # validates the name
    if round_to is not None and (not isinstance(round_to, int) or round_to < 1):
        raise ConfigError(f"round_to must be a positive integer or None, got {round_to!r}")
    if not isinstance(iterative_steps, int) or iterative_steps < 1:
        raise ConfigError(f"iterative_steps must be at least 1, got {iterative_steps!r}")
    if max_pruning_ratio is None:
        max_pruning_ratio = 0.9 if global_pruning else 1.0
    if not 0.0 < max_pruning_ratio <= 1.0:
        raise ConfigError(f"max_pruning_ratio must be in (0, 1], got {max_pruning_ratio}")
    if not 0.0 < macs_tolerance < 1.0:
        raise ConfigError(f"macs_tolerance must be in (0, 1), got {macs_tolerance}")
    return imp_name, max_pruning_ratio


def _rebuilt(pruned: ResNet, x: torch.Tensor, num_classes: int) -> ResNet:
    """The pruned model rebuilt as a plain ResNet of the new widths, checked to give the pruned model's outputs."""
    if pruned.fc.out_features != num_classes:
        raise PruningError("internal error: the classifier lost outputs")
    rebuilt = rebuild_resnet(pruned).eval()
    with torch.no_grad():
        a, b = pruned.eval()(x[:1]), rebuilt(x[:1])
    if not torch.allclose(a, b, rtol=1e-4, atol=1e-5):
        raise PruningError(f"the rebuilt pruned model disagrees with the pruned one (max diff {(a - b).abs().max():.3g})")
    return rebuilt


def prune(
    model: ResNet,
    example_input: torch.Tensor | int | Sequence[int] | None = None,
    *,
    ratio: float | None = None,
    target_macs: int | float | str | None = None,
    importance: str = "l2",
    global_pruning: bool = False,
    round_to: int | None = 8,
    iterative_steps: int = 1,
    ignored_layers: Sequence[str | nn.Module] | None = None,
    data: Any = None,
    taylor_batches: int = 4,
    max_pruning_ratio: float | None = None,
    macs_tolerance: float = MACS_TOLERANCE,
    log: Callable[[str], None] | None = None,
) -> tuple[ResNet, PruneResult]:
    """Prune output channels of ``model`` (left untouched: a deep copy is pruned) and return
    ``(pruned ResNet, PruneResult)``.

    ``example_input``: an N×3×S×S tensor (or the size S) used to trace the graph and count MACs (default 224).
    Exactly one of ``ratio`` (fraction of channels removed, in (0, 1)) and ``target_macs`` (e.g. ``2e9`` or
    ``"500M"``; the result lands within ``macs_tolerance`` of it) must be given. ``importance``: ``l1``/``l2``
    (filter norm of each group's root conv), ``group`` (group L2 magnitude over all coupled layers) or ``taylor``
    (first-order Taylor; gradients from ``data`` — a tensor, an (x, y) pair or an iterable of labelled batches,
    first ``taylor_batches`` used — or, without data, from ``example_input`` with the model's own predictions
    as targets). ``ignored_layers``: layer names (``"conv1"``, ``"layer4.2.conv3"``) or modules whose output
    channels, and every channel tied to them, are kept. ``fc`` always keeps its outputs. ``round_to``: each group
    keeps a multiple of it (at least ``round_to`` channels). ``max_pruning_ratio`` caps what one layer may lose
    (default: 1.0 for local pruning, 0.9 with ``global_pruning``, where ranking could otherwise empty a layer).
    """
    t0 = time.perf_counter()
    imp_name, max_pruning_ratio = _check_prune_args(model, ratio, target_macs, importance, round_to, iterative_steps,
                                                    global_pruning, max_pruning_ratio, macs_tolerance)
    _, ignored_names = resolve_ignored_layers(model, ignored_layers)

    base = copy.deepcopy(model).eval()
    x = _example(example_input, base)
    size = int(x.shape[-1])
    macs_before, params_before = count_macs(base, size), count_params(base)
    target = parse_macs(target_macs) if target_macs is not None else None
    if target is not None and target >= macs_before:
        raise ConfigError(f"target MACs {format_macs(target)} is not below the model's {format_macs(macs_before)} "
                          f"at {size}×{size}")
    batches = _batches(data, x, taylor_batches) if imp_name == "taylor" else []
    imp_data = "" if imp_name != "taylor" else ("example input, model predictions as targets" if data is None
                                                else f"{len(batches)} batch(es) of the given data")

    def make_run() -> _Pruning:
        return _Pruning(base, x, importance=imp_name, global_pruning=global_pruning, round_to=round_to,
                        iterative_steps=iterative_steps, ignored_names=ignored_names, taylor_batches=batches,
                        max_pruning_ratio=max_pruning_ratio)

    search: list[dict[str, float]] = []
    refine_steps = 0
    if target is None:
        run = make_run()
        pruned = run.run(float(ratio))
        used_ratio = float(ratio)
    else:
        pruned, used_ratio, refine_steps = _search_target(make_run, target, macs_before, size, macs_tolerance,
                                                          search, log)

    rebuilt = _rebuilt(pruned, x, model.arch.num_classes)
    macs_after, params_after = count_macs(rebuilt, size), count_params(rebuilt)
    if macs_after >= macs_before:
        raise PruningError("nothing was pruned: every prunable group is ignored or too small for round_to")
    if target is not None and abs(macs_after - target) > macs_tolerance * target:
        raise PruningError(f"could not reach {format_macs(target)} MACs within {macs_tolerance:.0%}: closest is "
                           f"{format_macs(macs_after)} (ignored layers or round_to={round_to} limit how far it can go)")
    rebuilt.train(model.training)
    result = PruneResult(
        mode="ratio" if target is None else "target_macs", ratio=used_ratio, target_macs=target,
        importance=imp_name, global_pruning=bool(global_pruning), round_to=round_to, iterative_steps=iterative_steps,
        ignored_layers=ignored_names, input_size=size, macs_before=macs_before, macs_after=macs_after,
        params_before=params_before, params_after=params_after, widths=dict(rebuilt.arch.widths),
        importance_data=imp_data, search=search, refine_steps=refine_steps, seconds=time.perf_counter() - t0,
    )
    return rebuilt, result


def _search_target(make_run: Callable[[], _Pruning], target: int, macs_before: int, size: int, tol: float,
                   search: list[dict[str, float]], log: Callable[[str], None] | None) -> tuple[ResNet, float, int]:
    """Bisection on the ratio (MACs fall as the ratio grows), then slice-wise refinement into the window."""
    def trial(r: float) -> tuple[_Pruning, int]:
        run = make_run()
        run.run(r)
        macs = count_macs(run.model, size)
        search.append({"ratio": r, "macs": macs})
        if log:
            log(f"ratio {r:.4f}: {format_macs(macs)} MACs (target {format_macs(target)})")
        return run, macs

    def within(m: int) -> bool:
        return abs(m - target) <= tol * target

    lo, hi = 0.0, _MAX_SEARCH_RATIO  # macs(lo) > target; macs(hi) unknown
    best_above: tuple[float, _Pruning, int] | None = None  # the trial with the fewest MACs still above the target
    run_hi, macs_hi = trial(hi)
    if within(macs_hi):
        return run_hi.model, hi, 0
    if macs_hi > target:
        best_above = (hi, run_hi, macs_hi)
        lo = hi
    else:
        for _ in range(14):
            mid = round((lo + hi) / 2, 6)
            run, macs = trial(mid)
            if within(macs):
                return run.model, mid, 0
            if macs > target:
                lo, best_above = mid, (mid, run, macs)
            else:
                hi = mid
            if hi - lo < 1e-3:
                break
    if best_above is None:  # even the smallest tried ratio undershoots: refine from a light prune
        r = max(lo, 1e-3)
        run, macs = trial(r)
        if macs <= target:
            raise PruningError(f"cannot reach {format_macs(target)} MACs: a ratio of {r} already gives {format_macs(macs)}")
        best_above = (r, run, macs)
    r, run, macs = best_above  # each trial owns its model copy and live pruner: refine it in place
    steps, macs = _refine_to_target(run, macs, target, tol, size)
    if log:
        log(f"refined with {steps} slice(s) of round_to channels: {format_macs(macs)} MACs")
    return run.model, r, steps
