"""Exact rewrites that give a QDQ ONNX graph written by another tool (the dynamo exporter on a torchao PT2E graph:
``resnet-opt qat``) the layout of onnxruntime's own quantizer (``quantize_static``, the PTQ artifact), so onnxruntime
(and OpenVINO) fuse it into the same integer kernels.

* :func:`fold_relu_into_quantize` — ``Relu -> QuantizeLinear`` becomes ``QuantizeLinear`` when the ReLU's output
  feeds QuantizeLinear nodes only and each has a positive scale and its zero point at the lowest value of its type
  (uint8 0, int8 -128). Exact: for ``x < 0``, ``round(x / s) + zp <= zp = qmin`` saturates to ``qmin``, which is
  ``Q(Relu(x)) = Q(0) = zp``; for ``x >= 0`` nothing changes. With any other zero point (int8 symmetric activations,
  zp 0) ReLU is not redundant and stays.
* :func:`quantize_float_biases` — a Conv / Gemm whose input and weight come through DequantizeLinear and whose bias is
  a float initializer gets the bias as int32 at scale ``input_scale * weight_scale`` (per output channel) through a
  DequantizeLinear, the form ``quantize_static`` writes and QLinearConv / QGemm consume. For Conv this is the
  computation onnxruntime's own bias quantization does when it loads such a graph (its integer kernels take an int32
  bias at that scale); the rounding error is at most half of ``input_scale * weight_scale`` per channel, far below
  one step of the output quantization.
* :func:`canonical_pooling` — ``ReduceMean(axes=[2, 3] or [-2, -1], keepdims=1)`` on a 4-D tensor becomes
  ``GlobalAveragePool`` and ``Reshape(N×C×1×1 -> [-1, C])`` becomes ``Flatten(axis=1)`` (the same values), the
  operators onnxruntime has quantized kernels for (QLinearGlobalAveragePool).

:func:`ptq_like_qdq` applies all three to a file. Only initializers are read (no constant folding); a node whose
constants are not initializers is left as it is.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["fold_relu_into_quantize", "quantize_float_biases", "canonical_pooling", "ptq_like_qdq",
           "relu_before_quantize"]


def _qmin(data_type: int) -> int | None:
    from onnx import TensorProto

    return {TensorProto.UINT8: 0, TensorProto.INT8: -128}.get(data_type)


def _index(graph) -> tuple[dict[str, Any], dict[str, Any], dict[str, list[Any]]]:
    inits = {i.name: i for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    users: dict[str, list[Any]] = {}
    for n in graph.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    return inits, producer, users


def _array(inits: dict[str, Any], name: str) -> np.ndarray | None:
    from onnx import numpy_helper

    return numpy_helper.to_array(inits[name]) if name in inits else None


def _attr(node, name: str, default: Any = None) -> Any:
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _redundant_before(q, inits: dict[str, Any]) -> bool:
    """True when QuantizeLinear ``q`` clamps at 0 exactly as a ReLU before it would."""
    scale = _array(inits, q.input[1]) if len(q.input) > 1 else None
    if scale is None or not np.all(scale > 0):
        return False
    if len(q.input) < 3 or not q.input[2]:
        return True  # no zero point: uint8, zero point 0
    zp = inits.get(q.input[2])
    if zp is None:
        return False
    qmin = _qmin(zp.data_type)
    return qmin is not None and bool(np.all(_array(inits, q.input[2]) == qmin))


def fold_relu_into_quantize(model) -> int:
    """Remove every ReLU that the QuantizeLinear nodes after it make redundant (see the module docstring); returns
    how many were removed."""
    g = model.graph
    inits, _, users = _index(g)
    outputs = {o.name for o in g.output}
    removed = 0
    for n in list(g.node):
        if n.op_type != "Relu" or n.output[0] in outputs:
            continue
        after = users.get(n.output[0], [])
        if not after or not all(c.op_type == "QuantizeLinear" and c.input[0] == n.output[0]
                                and _redundant_before(c, inits) for c in after):
            continue
        for c in after:
            c.input[0] = n.input[0]
        g.node.remove(n)
        removed += 1
    return removed


def relu_before_quantize(model) -> int:
    """How many ReLU nodes feed a QuantizeLinear (what :func:`fold_relu_into_quantize` looks for)."""
    _, _, users = _index(model.graph)
    return sum(1 for n in model.graph.node if n.op_type == "Relu"
               and any(c.op_type == "QuantizeLinear" for c in users.get(n.output[0], [])))


def quantize_float_biases(model) -> int:
    """Float biases of DQ-fed Conv / Gemm as int32 DequantizeLinear (see the module docstring); returns how many."""
    from onnx import helper, numpy_helper

    g = model.graph
    inits, producer, _ = _index(g)
    new_nodes = []
    done = 0
    for n in g.node:
        if n.op_type not in ("Conv", "Gemm") or len(n.input) < 3 or n.input[2] not in inits:
            continue
        bias = _array(inits, n.input[2])
        if bias is None or bias.dtype != np.float32 or bias.ndim != 1:
            continue
        dx, dw = producer.get(n.input[0]), producer.get(n.input[1])
        if not (dx is not None and dw is not None and dx.op_type == "DequantizeLinear"
                and dw.op_type == "DequantizeLinear" and dw.input[0] in inits):
            continue
        sx, sw = _array(inits, dx.input[1]), _array(inits, dw.input[1])
        if sx is None or sw is None or sx.size != 1:
            continue
        if sw.size > 1 and (_attr(dw, "axis", 1) != 0 or sw.size != bias.size):
            continue
        if n.op_type == "Gemm" and (_attr(n, "transB", 0) != 1 or _attr(n, "transA", 0) != 0
                                    or _attr(n, "alpha", 1.0) != 1.0 or _attr(n, "beta", 1.0) != 1.0):
            continue
        scale = np.broadcast_to(np.float32(sx.reshape(())) * sw.astype(np.float32).reshape(-1), bias.shape)
        scale = np.ascontiguousarray(scale, dtype=np.float32)
        if not np.all(scale > 0):
            continue
        q = np.round(bias.astype(np.float64) / scale.astype(np.float64))
        if np.abs(q).max(initial=0) > 2 ** 31 - 1:
            continue
        base = n.input[2]
        names = (f"{base}_int32", f"{base}_int32_scale", f"{base}_int32_zero_point", f"{base}_dequantized")
        g.initializer.extend([numpy_helper.from_array(q.astype(np.int32), names[0]),
                              numpy_helper.from_array(scale, names[1]),
                              numpy_helper.from_array(np.zeros(bias.shape, np.int32), names[2])])
        new_nodes.append(helper.make_node("DequantizeLinear", list(names[:3]), [names[3]],
                                          name=f"{base}_DequantizeLinear", axis=0))
        n.input[2] = names[3]
        done += 1
    for d in reversed(new_nodes):  # their inputs are initializers: first in the node list keeps it sorted
        g.node.insert(0, d)
    used = {i for n in g.node for i in n.input}
    keep = [i for i in g.initializer if i.name in used or i.name in {x.name for x in g.input}]
    if len(keep) != len(g.initializer):
        del g.initializer[:]
        g.initializer.extend(keep)
    return done


def canonical_pooling(model) -> int:
    """ReduceMean over H, W (keepdims) -> GlobalAveragePool; Reshape of N×C×1×1 to [-1, C] -> Flatten(axis=1).
    Returns how many nodes were replaced."""
    import onnx
    from onnx import helper

    g = model.graph
    inits, _, _ = _index(g)
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - no shapes: nothing is rewritten
        return 0
    shapes = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    done = 0
    for i, n in enumerate(list(g.node)):
        shape = shapes.get(n.input[0]) if n.input else None
        if n.op_type == "ReduceMean" and shape is not None and len(shape) == 4 and _attr(n, "keepdims", 1) == 1:
            axes = _array(inits, n.input[1]) if len(n.input) > 1 and n.input[1] else _attr(n, "axes")
            if axes is None or sorted(int(a) % 4 for a in np.asarray(axes).reshape(-1)) != [2, 3]:
                continue
            new = helper.make_node("GlobalAveragePool", [n.input[0]], list(n.output), name=n.name)
        elif n.op_type == "Reshape" and shape is not None and len(shape) == 4 and shape[2:] == [1, 1] \
                and shape[1] is not None and len(n.input) > 1:
            target = _array(inits, n.input[1])
            if target is None or [int(t) for t in target.reshape(-1)] != [-1, shape[1]]:
                continue
            new = helper.make_node("Flatten", [n.input[0]], list(n.output), name=n.name, axis=1)
        else:
            continue
        pos = list(g.node).index(n)
        g.node.remove(n)
        g.node.insert(pos, new)
        done += 1
    return done


def ptq_like_qdq(path: str | os.PathLike) -> dict[str, int]:
    """Apply the three rewrites to the ONNX file at ``path`` in place (checked by ``onnx.checker`` before it is
    written back); returns what each did."""
    import onnx

    path = Path(path)
    model = onnx.load(str(path))
    stats = {"relu_folded_into_quantize": fold_relu_into_quantize(model),
             "biases_as_int32": quantize_float_biases(model),
             "pooling_canonicalized": canonical_pooling(model)}
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return stats
