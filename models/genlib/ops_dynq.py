"""onnxruntime's dynamic quantization and com.microsoft contrib ops: quantize_dynamic output
(DynamicQuantizeLinear, MatMulInteger, ConvInteger) of small float models built here, and
one fixture per contrib op the quantizer and transformer optimizer emit. Registered into the
ops2 family (models/ops/<name>/); imported by gen.py before the ops2 fixtures are built.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from .ops2 import F32, Fx, N, f32, fixture, init

MS = "com.microsoft"


def _quantize_dynamic(nodes, inits, in_shape, out_shape, op_types):
    """quantize_dynamic (int8 weights) of a float graph; returns its nodes and initializers."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    g = helper.make_graph(nodes, "float", [helper.make_tensor_value_info("input", F32, in_shape)],
                          [helper.make_tensor_value_info("output", F32, out_shape)], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "f.onnx", Path(d) / "q.onnx"
        onnx.save(m, src)
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=op_types)
        q = onnx.load(dst)
    return list(q.graph.node), list(q.graph.initializer)


@fixture("dynq_mlp")
def _dynq_mlp(rng):
    w1, b1, w2 = f32(rng.normal(0, 0.5, (4, 8))), f32(rng.normal(0, 0.1, 8)), f32(rng.normal(0, 0.5, (8, 3)))
    nodes = [N("MatMul", ["input", "w1"], ["h"]), N("Add", ["h", "b1"], ["h1"]), N("Relu", ["h1"], ["r"]),
             N("MatMul", ["r", "w2"], ["output"])]
    nodes, inits = _quantize_dynamic(nodes, [init("w1", w1), init("b1", b1), init("w2", w2)], [1, 4], [1, 3], ["MatMul"])
    return Fx(nodes, inits, [1, 4], [("output", F32)], "DynamicQuantizeLinear MatMulInteger",
              "onnxruntime quantize_dynamic (int8 weights) of MatMul-Add-Relu-MatMul: DynamicQuantizeLinear "
              "(scale and zero point from the data), MatMulInteger, Cast, Mul by the data-dependent scale")


@fixture("dynq_conv")
def _dynq_conv(rng):
    w, b = f32(rng.normal(0, 0.4, (3, 1, 3, 3))), f32(rng.normal(0, 0.1, 3))
    nodes = [N("Conv", ["input", "w", "b"], ["c"], pads=[1, 1, 1, 1]), N("Relu", ["c"], ["output"])]
    nodes, inits = _quantize_dynamic(nodes, [init("w", w), init("b", b)], [1, 1, 5, 5], [1, 3, 5, 5], ["Conv"])
    return Fx(nodes, inits, [1, 1, 5, 5], [("output", F32)], "DynamicQuantizeLinear ConvInteger",
              "onnxruntime quantize_dynamic of Conv(3x3, pad 1)+Relu: DynamicQuantizeLinear, ConvInteger")


@fixture("dynq_linear")
def _dynq_single(rng):
    nodes = [N("DynamicQuantizeLinear", ["input"], ["y", "s", "z"]), N("Cast", ["y"], ["output"], to=F32),
             N("Cast", ["z"], ["zp"], to=F32), N("Identity", ["s"], ["scale"])]
    return Fx(nodes, [], [1, 8], [("output", F32), ("scale", F32), ("zp", F32)], "DynamicQuantizeLinear",
              "DynamicQuantizeLinear alone: codes, scale, zero point (all-zero row: scale 1/255)",
              specials=[lambda n: np.zeros(n), lambda n: np.resize([0.5, 1.0, 2.0, 0.25], n),
                        lambda n: np.resize([-1.0, -2.0, -0.5, -3.0], n)])


def _ms(name, nodes, inits, shape, outs, op, tests, **kw):
    return Fx(nodes, inits, shape, outs, op, tests, ms_opset=1, **kw)


@fixture("ms_dynamic_quantize_matmul")
def _dqmm(rng):
    wq = np.clip(np.round(rng.normal(0, 40, (4, 5))), -127, 127).astype(np.int8)
    inits = [init("wq", wq), init("ws", f32([0.01])), init("wz", np.array([0], np.int8)), init("bias", f32(rng.normal(0, 0.1, 5)))]
    node = helper.make_node("DynamicQuantizeMatMul", ["input", "wq", "ws", "wz", "bias"], ["output"], domain=MS)
    return _ms("dqmm", [node], inits, [1, 4], [("output", F32)], "DynamicQuantizeMatMul",
               "com.microsoft DynamicQuantizeMatMul (int8 weights, scale 0.01, bias)")


@fixture("ms_matmul_integer_to_float")
def _mmitf(rng):
    wq = np.clip(np.round(rng.normal(0, 40, (4, 3))), -127, 127).astype(np.int8)
    nodes = [N("QuantizeLinear", ["input", "xs", "xz"], ["xq"]),
             helper.make_node("MatMulIntegerToFloat", ["xq", "wq", "xs", "ws", "xz", "wz", "bias"], ["output"], domain=MS)]
    inits = [init("xs", f32(1 / 32)), init("xz", np.array(128, np.uint8)), init("wq", wq), init("ws", f32(0.02)),
             init("wz", np.array(0, np.int8)), init("bias", f32(rng.normal(0, 0.1, 3)))]
    return _ms("mmitf", nodes, inits, [1, 4], [("output", F32)], "MatMulIntegerToFloat",
               "QuantizeLinear (uint8, zp 128) then com.microsoft MatMulIntegerToFloat with bias")


@fixture("ms_fused_matmul")
def _fmm(rng):
    w = f32(rng.normal(0, 0.5, (3, 4)))
    node = helper.make_node("FusedMatMul", ["input", "w"], ["output"], domain=MS, transB=1, alpha=0.5)
    return _ms("fmm", [node], [init("w", w)], [1, 4], [("output", F32)], "FusedMatMul",
               "com.microsoft FusedMatMul, transB=1, alpha=0.5")


@fixture("ms_gelu")
def _msgelu(rng):
    node = helper.make_node("Gelu", ["input"], ["output"], domain=MS)
    return _ms("gelu", [node], [], [1, 8], [("output", F32)], "Gelu", "com.microsoft Gelu (erf form)", domain=(-6, 6))


@fixture("ms_fast_gelu")
def _msfgelu(rng):
    node = helper.make_node("FastGelu", ["input", "b"], ["output"], domain=MS)
    return _ms("fgelu", [node], [init("b", f32(rng.normal(0, 0.5, 8)))], [1, 8], [("output", F32)], "FastGelu",
               "com.microsoft FastGelu (tanh form) with a bias", domain=(-6, 6))


@fixture("ms_bias_gelu")
def _msbgelu(rng):
    node = helper.make_node("BiasGelu", ["input", "b"], ["output"], domain=MS)
    return _ms("bgelu", [node], [init("b", f32(rng.normal(0, 0.5, 8)))], [1, 8], [("output", F32)], "BiasGelu",
               "com.microsoft BiasGelu (erf form of x + bias)", domain=(-6, 6))


@fixture("ms_skip_layer_norm")
def _msskip(rng):
    nodes = [N("Mul", ["input", "k"], ["skip"]),
             helper.make_node("SkipLayerNormalization", ["input", "skip", "gamma", "beta", "bias"], ["output"],
                              domain=MS, epsilon=1e-5)]
    inits = [init("k", f32(rng.normal(0, 1, (1, 2, 8)))), init("gamma", f32(rng.normal(1, 0.2, 8))),
             init("beta", f32(rng.normal(0, 0.2, 8))), init("bias", f32(rng.normal(0, 0.2, 8)))]
    return _ms("skip", nodes, inits, [1, 2, 8], [("output", F32)], "SkipLayerNormalization",
               "com.microsoft SkipLayerNormalization(x, x*k, gamma, beta, bias), epsilon 1e-5")


def _qlinear_unary(name, op, attrs, tests):
    @fixture(name)
    def build(rng):
        s_in, s_out = 1 / 32, 1 / 256
        nodes = [N("QuantizeLinear", ["input", "xs", "xz"], ["xq"]),
                 helper.make_node(op, ["xq", "xs", "xz", "ys", "yz"], ["yq"], domain=MS, **attrs),
                 N("DequantizeLinear", ["yq", "ys", "yz"], ["output"])]
        inits = [init("xs", f32(s_in)), init("xz", np.array(0, np.int8)), init("ys", f32(s_out)),
                 init("yz", np.array(-128 if op == "QLinearSigmoid" else 0, np.int8))]
        return _ms(name, nodes, inits, [1, 16], [("output", F32)], op, tests,
                   domain=(-128 * s_in, 127 * s_in), kind="int8", q_scale=s_in)


_qlinear_unary("ms_qlinear_sigmoid_int8", "QLinearSigmoid", {}, "com.microsoft QLinearSigmoid, int8 in/out")
_qlinear_unary("ms_qlinear_leakyrelu_int8", "QLinearLeakyRelu", {"alpha": 0.1}, "com.microsoft QLinearLeakyRelu alpha 0.1")


@fixture("ms_qlinear_mul_int8")
def _qmul(rng):
    s = 1 / 16
    nodes = [N("QuantizeLinear", ["input", "xs", "xz"], ["xq"]),
             helper.make_node("QLinearMul", ["xq", "xs", "xz", "wq", "ws", "wz", "ys", "yz"], ["yq"], domain=MS),
             N("DequantizeLinear", ["yq", "ys", "yz"], ["output"])]
    wq = np.clip(np.round(rng.normal(0, 40, (1, 8))), -127, 127).astype(np.int8)
    inits = [init("xs", f32(s)), init("xz", np.array(0, np.int8)), init("wq", wq), init("ws", f32(1 / 64)),
             init("wz", np.array(3, np.int8)), init("ys", f32(1 / 16)), init("yz", np.array(-5, np.int8))]
    return _ms("qmul", nodes, inits, [1, 8], [("output", F32)], "QLinearMul",
               "com.microsoft QLinearMul of x (int8) and a constant int8 tensor", domain=(-128 * s, 127 * s), kind="int8", q_scale=s)


@fixture("ms_qlinear_concat_int8")
def _qcat(rng):
    s = 1 / 16
    nodes = [N("QuantizeLinear", ["input", "xs", "xz"], ["xq"]),
             N("Mul", ["input", "two"], ["x2"]),
             N("QuantizeLinear", ["x2", "x2s", "x2z"], ["x2q"]),
             helper.make_node("QLinearConcat", ["ys", "yz", "xq", "xs", "xz", "x2q", "x2s", "x2z"], ["yq"], domain=MS, axis=1),
             N("DequantizeLinear", ["yq", "ys", "yz"], ["output"])]
    inits = [init("xs", f32(s)), init("xz", np.array(0, np.int8)), init("two", f32(2.0)), init("x2s", f32(1 / 8)),
             init("x2z", np.array(2, np.int8)),
             init("ys", f32(1 / 8)), init("yz", np.array(0, np.int8))]
    return _ms("qcat", nodes, inits, [1, 8], [("output", F32)], "QLinearConcat",
               "com.microsoft QLinearConcat of x and 2x, int8 with their own scales and zero points", domain=(-128 * s, 127 * s),
               kind="int8", q_scale=s)


def _attention(name, causal, tests):
    @fixture(name)
    def build(rng):
        d, heads = 8, 2
        w, b = f32(rng.normal(0, 1 / np.sqrt(d), (d, 3 * d))), f32(rng.normal(0, 0.1, 3 * d))
        node = helper.make_node("Attention", ["input", "w", "b"], ["output"], domain=MS, num_heads=heads,
                                unidirectional=1 if causal else 0)
        return _ms(name, [node], [init("w", w), init("b", b)], [1, 4, d], [("output", F32)], "Attention", tests,
                   domain=(-2, 2))


_attention("ms_attention", False, "com.microsoft Attention, 2 heads, sequence 4, hidden 8, no mask")
_attention("ms_attention_causal", True, "com.microsoft Attention, unidirectional (causal), 2 heads")
