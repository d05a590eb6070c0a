#!/usr/bin/env python3
"""Print an ONNX model's nodes and initializers (with which TensorProto field holds
the data). Usage: models/.venv/bin/python models/show.py models/digits_cnn_int8/model.onnx"""

import sys

import numpy as np
import onnx
from onnx import numpy_helper

FIELDS = ("raw_data", "float_data", "int32_data", "int64_data", "double_data")


def show(path: str) -> None:
    m = onnx.load(path)
    print(f"== {path}: ir {m.ir_version}, opsets "
          + ", ".join(f"{o.domain or 'ai.onnx'}:{o.version}" for o in m.opset_import))
    for io, vals in (("input", m.graph.input), ("output", m.graph.output)):
        for v in vals:
            t = v.type.tensor_type
            dims = [d.dim_value or d.dim_param for d in t.shape.dim]
            print(f"  {io} {v.name}: {onnx.TensorProto.DataType.Name(t.elem_type)} {dims}")
    for n in m.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        dom = f"{n.domain}." if n.domain else ""
        print(f"  {dom}{n.op_type}({', '.join(n.input)}) -> {', '.join(n.output)} {attrs or ''}")
    for t in m.graph.initializer:
        a = numpy_helper.to_array(t)
        fields = [f for f in FIELDS if len(getattr(t, f))] or ["empty"]
        preview = np.array2string(a.ravel()[:4], precision=6, separator=",")
        print(f"  init {t.name}: {onnx.TensorProto.DataType.Name(t.data_type)} {list(t.dims)} "
              f"[{'+'.join(fields)}] {preview}{' ...' if a.size > 4 else ''}")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        show(p)
