"""FP32 -> FP16 conversion of an ONNX graph, written with the ``onnx`` library only.

Why our own: ``onnxconverter-common`` is not a dependency, and exporting ``model.half()`` from torch folds
BatchNorm into the convolutions in half precision. Here the FP32 export (BN already folded in FP32 by the exporter)
is converted afterwards, so each weight is rounded to FP16 exactly once.

What the conversion does:

* every FLOAT initializer and ``Constant`` tensor becomes FLOAT16 (values clipped to ±65504, the FP16 range);
* ``Cast(to=FLOAT)`` nodes become ``Cast(to=FLOAT16)``;
* with ``keep_io_types=True`` (the default) the graph keeps FLOAT32 inputs and outputs: a ``Cast`` to FLOAT16
  follows each float input and a ``Cast`` back to FLOAT precedes each float output, so callers feed and read
  float32 exactly as with the FP32 artifact (the casts cost next to nothing against the convolutions);
* only operators known to be safe in FP16 are accepted (the ResNet set and common neighbours); any other operator
  raises :class:`ExportError` instead of producing a graph that silently computes something else.

On a GPU (CUDA / TensorRT providers) this halves weight memory and uses Tensor Cores. On CPU, onnxruntime runs
FP16 nodes through its FP32 kernels (it inserts casts itself): correct, not faster — the FP16 artifact is for GPUs,
and is validated on the CPU provider only to prove it computes the same function.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from resnet_opt.core.errors import ExportError

FP16_MAX = float(np.finfo(np.float16).max)

# Operators whose float inputs and outputs may all be FP16 (ONNX type constraint T includes tensor(float16)).
FP16_SAFE_OPS = frozenset({
    "Add", "Sub", "Mul", "Div", "Relu", "Clip", "Conv", "ConvTranspose", "BatchNormalization", "MaxPool",
    "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Flatten", "Reshape", "Gemm", "MatMul", "Identity",
    "Concat", "Squeeze", "Unsqueeze", "Transpose", "Softmax", "LogSoftmax", "ReduceMean", "Sigmoid", "HardSigmoid",
    "HardSwish", "Shape", "Gather", "Slice", "Constant", "Cast", "Pad", "Dropout", "Max", "Min", "Sum", "Mean",
})


def _to_fp16_tensor(t: TensorProto) -> TensorProto:
    arr = numpy_helper.to_array(t).astype(np.float32)
    arr16 = np.clip(arr, -FP16_MAX, FP16_MAX).astype(np.float16)
    return numpy_helper.from_array(arr16, t.name)


def convert_float_to_float16(model: onnx.ModelProto, *, keep_io_types: bool = True) -> onnx.ModelProto:
    """Return a copy of ``model`` computing in FP16 (see the module docstring). Raises ExportError on
    operators outside :data:`FP16_SAFE_OPS` or on graphs with subgraphs / external data."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    bad = sorted({n.op_type for n in g.node if n.domain not in ("", "ai.onnx") or n.op_type not in FP16_SAFE_OPS})
    if bad:
        raise ExportError(f"FP16 conversion does not support operator(s) {', '.join(bad)}")
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in g.node for a in n.attribute):
        raise ExportError("FP16 conversion does not support graphs with subgraphs (If/Loop/Scan)")

    # initializers and constants
    for i, init in enumerate(g.initializer):
        if init.data_location == TensorProto.EXTERNAL:
            raise ExportError("FP16 conversion needs the weights inside the .onnx file (no external data)")
        if init.data_type == TensorProto.FLOAT:
            g.initializer[i].CopyFrom(_to_fp16_tensor(init))
    for n in g.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value" and a.t.data_type == TensorProto.FLOAT:
                    a.t.CopyFrom(_to_fp16_tensor(a.t))
                elif a.name in ("value_float", "value_floats"):
                    raise ExportError("FP16 conversion: Constant with value_float(s) is not supported")
        elif n.op_type == "Cast":
            for a in n.attribute:
                if a.name == "to" and a.i == TensorProto.FLOAT:
                    a.i = TensorProto.FLOAT16
    init_names = {t.name for t in g.initializer}

    # graph inputs / outputs
    def is_float(vi: onnx.ValueInfoProto) -> bool:
        return vi.type.tensor_type.elem_type == TensorProto.FLOAT

    new_nodes: list[onnx.NodeProto] = []
    out_nodes: list[onnx.NodeProto] = []
    for vi in g.input:
        if vi.name in init_names or not is_float(vi):
            continue
        if keep_io_types:
            inner = f"{vi.name}_fp16"
            for n in g.node:
                for k, name in enumerate(n.input):
                    if name == vi.name:
                        n.input[k] = inner
            new_nodes.append(helper.make_node("Cast", [vi.name], [inner], to=TensorProto.FLOAT16,
                                              name=f"cast_{vi.name}_to_fp16"))
        else:
            vi.type.tensor_type.elem_type = TensorProto.FLOAT16
    for vi in g.output:
        if not is_float(vi):
            continue
        if keep_io_types:
            inner = f"{vi.name}_fp16"
            for n in g.node:
                for k, name in enumerate(n.output):
                    if name == vi.name:
                        n.output[k] = inner
                for k, name in enumerate(n.input):  # an output that is also consumed inside the graph
                    if name == vi.name:
                        n.input[k] = inner
            out_nodes.append(helper.make_node("Cast", [inner], [vi.name], to=TensorProto.FLOAT,
                                              name=f"cast_{vi.name}_to_fp32"))
        else:
            vi.type.tensor_type.elem_type = TensorProto.FLOAT16
    nodes = new_nodes + list(g.node) + out_nodes
    del g.node[:]
    g.node.extend(nodes)
    # intermediate types are re-derived by shape inference
    del g.value_info[:]
    try:
        m = onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
    except Exception as e:  # noqa: BLE001 - onnx raises several types
        raise ExportError(f"FP16 conversion produced an inconsistent graph: {str(e).strip().splitlines()[0]}") from e
    return m
