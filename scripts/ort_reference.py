#!/usr/bin/env python3
"""Reference outputs from onnxruntime for an EZKL-style model folder.

usage: ort_reference.py MODEL.onnx INPUT.json

Reads `input_data` (one flat list per graph input, in graph order), reshapes each list to the
input's declared shape (symbolic dimensions become 1, or whatever makes the element count
fit), casts to the declared element type, runs onnxruntime with graph optimisations off, and
prints {"outputs": [[flat floats], ...], "shapes": [[dims], ...]} on stdout. A sequence of
maps (a ZipMap of class probabilities) is given as the matrix of its values.
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper


def main():
    model_path, input_path = sys.argv[1], sys.argv[2]
    model = onnx.load(model_path)
    inits = {t.name for t in model.graph.initializer}
    graph_inputs = [i for i in model.graph.input if i.name not in inits]
    data = json.load(open(input_path))["input_data"]
    if len(data) != len(graph_inputs):
        sys.exit(f"input.json gives {len(data)} inputs, the model has {len(graph_inputs)}")
    feeds = {}
    for vi, flat in zip(graph_inputs, data):
        tt = vi.type.tensor_type
        dims = [d.dim_value if d.dim_value > 0 else -1 for d in tt.shape.dim]
        flat = np.asarray(flat, dtype=np.float64).ravel()
        known = int(np.prod([d for d in dims if d > 0])) if dims else 1
        free = [i for i, d in enumerate(dims) if d < 0]
        for j, i in enumerate(free):
            dims[i] = (flat.size // known) if j == 0 and known and flat.size % known == 0 else 1
        dtype = helper.tensor_dtype_to_np_dtype(tt.elem_type)
        arr = flat.reshape(dims) if dims else flat.reshape(())
        feeds[vi.name] = arr.astype(dtype)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    sess = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    outs = [as_tensor(o) for o in sess.run(None, feeds)]
    json.dump({"outputs": [o.ravel().tolist() for o in outs],
               "shapes": [list(np.shape(o)) for o in outs]}, sys.stdout)


def as_tensor(o):
    """A tensor output as float64; a sequence of maps (skl2onnx's ZipMap of class
    probabilities) as the matrix of its values, in each map's key order."""
    if isinstance(o, list) and o and isinstance(o[0], dict):
        return np.asarray([[float(v) for v in d.values()] for d in o], dtype=np.float64)
    return np.asarray(o, dtype=np.float64)


if __name__ == "__main__":
    main()
