"""Size sweep for the EZKL comparison: the same three architectures at growing size, so that
the prove-time and memory ratios come out as a curve over k rather than a median of tiny
models (`compare.py --sweep mlp,cnn,attention`).

- mlp: Gemm + Relu layers, input 64 -> hidden width w (two hidden layers) -> 10;
- cnn: 3x3 Conv + Relu + 2x2 MaxPool stages, then a Gemm to 10 (synth-cnn's structure);
- attention: one post-norm transformer encoder layer (single head; Q, K, V, output
  projections, Softmax, residuals, LayerNormalization, a Relu feed-forward of 2d) on a
  [1, seq, d] input.

Weights are seeded normal(0, 1/sqrt(fan-in)), inputs normal(0, 1) rounded to 4 digits, so every
run builds the same models. Only onnx and numpy are needed (built with onnx.helper).
"""
from pathlib import Path
import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# (name suffix, parameters), smallest first; each architecture spans about k 12 to 21 in zkinfer
SIZES = {
    "mlp": [("w64", 64), ("w256", 256), ("w512", 512), ("w1024", 1024), ("w2048", 2048)],
    "cnn": [("1x16x16-4-8", ((1, 16, 16), (4, 8))), ("1x28x28-8-16", ((1, 28, 28), (8, 16))),
            ("3x32x32-16-32", ((3, 32, 32), (16, 32))), ("3x32x32-32-64", ((3, 32, 32), (32, 64))),
            ("3x64x64-32-64", ((3, 64, 64), (32, 64)))],
    "attention": [("s8-d16", (8, 16)), ("s16-d32", (16, 32)), ("s32-d64", (32, 64)), ("s64-d64", (64, 64)),
                  ("s64-d128", (64, 128))],
}


def _init(name, a):
    return numpy_helper.from_array(np.asarray(a, dtype=np.float32), name)


def _model(nodes, inits, in_shape, out_shape):
    g = helper.make_graph(nodes, "sweep", [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(in_shape))],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, list(out_shape))], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def mlp(rng, w):
    dims = [64, w, w, 10]
    nodes, inits, x = [], [], "input"
    for i in range(len(dims) - 1):
        last = i == len(dims) - 2
        inits += [_init(f"w{i}", rng.normal(0, 1 / np.sqrt(dims[i]), (dims[i + 1], dims[i]))), _init(f"b{i}", rng.normal(0, 0.05, dims[i + 1]))]
        g = "output" if last else f"g{i}"
        nodes.append(helper.make_node("Gemm", [x, f"w{i}", f"b{i}"], [g], transB=1))
        if not last:
            nodes.append(helper.make_node("Relu", [g], [f"h{i}"]))
            x = f"h{i}"
    return _model(nodes, inits, [1, 64], [1, 10]), [1, 64]


def cnn(rng, spec):
    (c, h, w), channels = spec
    nodes, inits, x = [], [], "input"
    for i, co in enumerate(channels):
        inits += [_init(f"k{i}", rng.normal(0, 1 / np.sqrt(9 * c), (co, c, 3, 3))), _init(f"kb{i}", rng.normal(0, 0.05, co))]
        nodes += [helper.make_node("Conv", [x, f"k{i}", f"kb{i}"], [f"c{i}"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1], dilations=[1, 1]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"]),
                  helper.make_node("MaxPool", [f"r{i}"], [f"p{i}"], kernel_shape=[2, 2], strides=[2, 2])]
        x, c, h, w = f"p{i}", co, h // 2, w // 2
    flat = c * h * w
    inits += [_init("fw", rng.normal(0, 1 / np.sqrt(flat), (10, flat))), _init("fb", rng.normal(0, 0.05, 10)),
              numpy_helper.from_array(np.array([1, flat], np.int64), "flat")]
    nodes += [helper.make_node("Reshape", [x, "flat"], ["f"]), helper.make_node("Gemm", ["f", "fw", "fb"], ["output"], transB=1)]
    return _model(nodes, inits, [1, *spec[0]], [1, 10]), [1, *spec[0]]


def attention(rng, spec):
    s, d = spec
    ff = 2 * d
    mat = lambda a, b: rng.normal(0, 1 / np.sqrt(a), (a, b))
    inits = [_init(f"{k}.w", mat(d, d)) for k in "qkvo"] + [_init(f"{k}.b", rng.normal(0, 0.05, d)) for k in "qkvo"]
    inits += [_init("f1.w", mat(d, ff)), _init("f1.b", rng.normal(0, 0.05, ff)), _init("f2.w", mat(ff, d)), _init("f2.b", rng.normal(0, 0.05, d)),
              _init("ln1.g", 1 + rng.normal(0, 0.05, d)), _init("ln1.b", rng.normal(0, 0.05, d)),
              _init("ln2.g", 1 + rng.normal(0, 0.05, d)), _init("ln2.b", rng.normal(0, 0.05, d)), _init("scale", 1 / np.sqrt(d))]
    n = helper.make_node
    nodes = []
    for k in "qkv":
        nodes += [n("MatMul", ["input", f"{k}.w"], [f"{k}0"]), n("Add", [f"{k}0", f"{k}.b"], [k])]
    nodes += [n("Transpose", ["k"], ["kt"], perm=[0, 2, 1]), n("MatMul", ["q", "kt"], ["sc0"]), n("Mul", ["sc0", "scale"], ["sc"]),
              n("Softmax", ["sc"], ["p"], axis=-1), n("MatMul", ["p", "v"], ["ctx"]), n("MatMul", ["ctx", "o.w"], ["o0"]),
              n("Add", ["o0", "o.b"], ["o1"]), n("Add", ["o1", "input"], ["r1"]),
              n("LayerNormalization", ["r1", "ln1.g", "ln1.b"], ["h1"], axis=-1, epsilon=1e-5),
              n("MatMul", ["h1", "f1.w"], ["f0"]), n("Add", ["f0", "f1.b"], ["f1"]), n("Relu", ["f1"], ["g"]),
              n("MatMul", ["g", "f2.w"], ["f2"]), n("Add", ["f2", "f2.b"], ["f3"]), n("Add", ["f3", "h1"], ["r2"]),
              n("LayerNormalization", ["r2", "ln2.g", "ln2.b"], ["output"], axis=-1, epsilon=1e-5)]
    return _model(nodes, inits, [1, s, d], [1, s, d]), [1, s, d]


BUILD = {"mlp": mlp, "cnn": cnn, "attention": attention}


def generate(root: Path, archs, max_points=None):
    """Writes root/ARCH-SIZE/{model.onnx,input.json}; returns the folders, smallest first per
    architecture."""
    out = []
    for a in archs:
        if a not in BUILD:
            raise SystemExit(f"--sweep: unknown architecture `{a}` (mlp, cnn, attention)")
        for i, (suffix, spec) in enumerate(SIZES[a][:max_points]):
            rng = np.random.default_rng(1000 + i)
            m, shape = BUILD[a](rng, spec)
            d = root / f"{a}-{suffix}"
            d.mkdir(parents=True, exist_ok=True)
            onnx.save(m, d / "model.onnx")
            x = np.round(rng.normal(0, 1, shape), 4)
            (d / "input.json").write_text(json.dumps({"input_data": [x.reshape(-1).tolist()]}))
            out.append(d)
    return out
