"""BatchNorm folding: conv + BN -> one conv with a bias, in the stem, every block and every downsample path.

:func:`fuse_bn` returns a NEW model and leaves its input untouched. The fused model is still a
:class:`~resnet_opt.resnet.ResNet` (``arch.fused`` is True): its BN slots hold ``nn.Identity`` and its convs carry the
folded bias, so it saves and loads as an ordinary model folder (``config.json`` records ``"fused": true``).

The ReLUs stay separate modules on purpose. Folding a ReLU into a float conv changes nothing numerically; the pattern
matters only to a quantizer, and both quantizers used here match it themselves: onnxruntime absorbs the Relu into
``QLinearConv`` (asymmetric uint8 activations), and torch.ao FX fuses ``conv -> relu`` into ``ConvReLU2d`` once the
Identity placeholders are dropped from the traced graph (:func:`strip_identities`). For torch.ao *eager-mode*
quantization, :func:`fuse_for_eager_quantization` produces the explicit conv(+bn)(+relu) intrinsic modules.

The arithmetic is torch's own (``torch.nn.utils.fusion.fuse_conv_bn_weights``), done in float64 and stored as
float32, so the fused model matches the unfused one in eval mode to float32 rounding.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from resnet_opt.core.errors import ConfigError
from resnet_opt.resnet.model import ResNet, conv_bn_pairs

__all__ = ["fuse_bn", "fused_pairs", "strip_identities", "fuse_for_eager_quantization", "max_rel_diff"]


def fused_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """The (conv, bn) module-name pairs :func:`fuse_bn` folds (BN modules only)."""
    return [(c, b) for c, b in conv_bn_pairs(model) if isinstance(model.get_submodule(b), nn.BatchNorm2d)]


@torch.no_grad()
def fuse_bn(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm into the conv before it; return a new eval-mode model (the input is left untouched).

    * a resnet_opt ``ResNet`` (pruned widths included) -> a ``ResNet`` with ``arch.fused = True``;
    * an already fused ``ResNet`` -> a copy;
    * any other module -> ``torch.fx.experimental.optimization.fuse`` (needs a symbolically traceable model).

    BN running statistics are used, so the result equals the input model in eval mode (not in training mode)."""
    if not isinstance(model, nn.Module):
        raise ConfigError(f"fuse_bn expects a torch nn.Module, got {type(model).__name__}")
    if not isinstance(model, ResNet):
        from torch.fx.experimental.optimization import fuse as fx_fuse

        try:
            return fx_fuse(copy.deepcopy(model).eval().float().cpu(), inplace=True)
        except Exception as e:  # noqa: BLE001 - FX tracing raises many types
            raise ConfigError(f"cannot fuse {type(model).__name__}: not traceable by torch.fx ({str(e).splitlines()[0]})") from e
    if model.arch.fused:
        return copy.deepcopy(model).eval()

    from torch.nn.utils.fusion import fuse_conv_bn_weights

    src = model
    fused = ResNet(src.arch.depth, num_classes=src.arch.num_classes, widths=dict(src.arch.widths), fused=True,
                   stem=src.arch.stem)
    sd = {k: v.detach().clone().float().cpu() for k, v in src.state_dict().items()}
    for conv_name, bn_name in fused_pairs(src):
        conv: nn.Conv2d = src.get_submodule(conv_name)  # type: ignore[assignment]
        bn: nn.BatchNorm2d = src.get_submodule(bn_name)  # type: ignore[assignment]
        if not bn.track_running_stats or bn.running_mean is None or bn.running_var is None:
            raise ConfigError(f"{bn_name} has no running statistics; cannot fold it into {conv_name}")
        d = torch.float64
        w, b = fuse_conv_bn_weights(
            conv.weight.detach().to(d), conv.bias.detach().to(d) if conv.bias is not None else None,
            bn.running_mean.detach().to(d), bn.running_var.detach().to(d), bn.eps,
            bn.weight.detach().to(d) if bn.weight is not None else None,
            bn.bias.detach().to(d) if bn.bias is not None else None)
        sd[f"{conv_name}.weight"] = w.detach().float().cpu()
        sd[f"{conv_name}.bias"] = b.detach().float().cpu()
        for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            sd.pop(f"{bn_name}.{k}", None)
    fused.load_state_dict(sd, strict=True)
    return fused.eval()


def strip_identities(model: nn.Module) -> torch.fx.GraphModule:
    """Symbolically trace ``model`` and drop its ``nn.Identity`` calls (the BN placeholders of a fused ResNet), so
    pattern matchers see ``conv -> relu`` directly."""
    gm = torch.fx.symbolic_trace(model)
    for node in list(gm.graph.nodes):
        if node.op == "call_module" and isinstance(gm.get_submodule(node.target), nn.Identity):
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)
    gm.graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    return gm


def _fusion_groups(model: ResNet) -> list[list[str]]:
    """conv(+bn)(+relu) name groups for torch.ao.quantization.fuse_modules (eager mode)."""
    mods = dict(model.named_modules())
    groups: list[list[str]] = []
    for conv, bn in conv_bn_pairs(model):
        parent, _, leaf = conv.rpartition(".")
        if conv == "conv1":
            relu = "relu"  # stem
        elif leaf.startswith("conv"):
            relu = f"{parent}.relu{leaf[len('conv'):]}"  # relu1 / relu2 follow conv1 / conv2; conv3 has none
        else:
            relu = ""  # downsample path: no ReLU
        g = [conv] + [n for n, kind in ((bn, nn.BatchNorm2d), (relu, nn.ReLU)) if isinstance(mods.get(n), kind)]
        if len(g) > 1:
            groups.append(g)
    return groups


def fuse_for_eager_quantization(model: ResNet) -> nn.Module:
    """A copy with conv+bn(+relu) fused into torch.ao intrinsic modules (``ConvReLU2d`` ...), the form eager-mode
    torch.ao quantization wants. Not saveable as a model folder (use :func:`fuse_bn` for that)."""
    from torch.ao.quantization import fuse_modules

    if not isinstance(model, ResNet):
        raise ConfigError("fuse_for_eager_quantization expects a resnet_opt ResNet")
    m = copy.deepcopy(model).eval()
    return fuse_modules(m, _fusion_groups(m), inplace=False)


@torch.no_grad()
def max_rel_diff(a: nn.Module, b: nn.Module, x: torch.Tensor) -> float:
    """max |a(x) - b(x)| / max |a(x)| in eval mode (the equivalence measure of a fusion)."""
    ya, yb = a.eval()(x).double(), b.eval()(x).double()
    return float((ya - yb).abs().max() / ya.abs().max().clamp_min(1e-12))
