"""Single-op (or few-op) fixtures for importer tests, float and QDQ-int8."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
from onnx import helper

from .common import (N_SAMPLES, describe, f32_io, init, make_model, quantize, round8,
                     save_model, write_fixture)

N_OP_CALIB = 64


def _w(rng, *shape, scale=0.5):
    return (rng.normal(0, scale, shape)).astype(np.float32)


def op_add(rng):
    # x -> Gemm A (16->8), x -> Gemm B (16->8); y = A + B
    nodes = [
        helper.make_node("Gemm", ["input", "a.weight", "a.bias"], ["a"], name="gemm_a", transB=1),
        helper.make_node("Gemm", ["input", "b.weight", "b.bias"], ["b"], name="gemm_b", transB=1),
        helper.make_node("Add", ["a", "b"], ["output"], name="add"),
    ]
    inits = [init("a.weight", _w(rng, 8, 16)), init("a.bias", _w(rng, 8, scale=0.1)),
             init("b.weight", _w(rng, 8, 16)), init("b.bias", _w(rng, 8, scale=0.1))]
    return nodes, inits, [1, 16], [1, 8]


def op_clip(rng):
    nodes = [
        helper.make_node("Gemm", ["input", "fc.weight", "fc.bias"], ["fc"], name="fc", transB=1),
        helper.make_node("Clip", ["fc", "clip.min", "clip.max"], ["output"], name="clip"),
    ]
    inits = [init("fc.weight", _w(rng, 8, 16, scale=1.0)), init("fc.bias", _w(rng, 8)),
             init("clip.min", np.array(0.0, np.float32)), init("clip.max", np.array(6.0, np.float32))]
    return nodes, inits, [1, 16], [1, 8]


def op_avgpool(rng):
    nodes = [helper.make_node("AveragePool", ["input"], ["output"], name="avgpool",
                              kernel_shape=[2, 2], strides=[2, 2])]
    return nodes, [], [1, 2, 6, 6], [1, 2, 3, 3]


def op_global_avgpool(rng):
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["conv"], name="conv",
                         kernel_shape=[1, 1]),
        helper.make_node("GlobalAveragePool", ["conv"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["output"], name="flatten", axis=1),
    ]
    inits = [init("conv.weight", _w(rng, 4, 3, 1, 1)), init("conv.bias", _w(rng, 4, scale=0.1))]
    return nodes, inits, [1, 3, 4, 4], [1, 4]


def op_maxpool_pad(rng):
    nodes = [helper.make_node("MaxPool", ["input"], ["output"], name="maxpool",
                              kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])]
    return nodes, [], [1, 2, 7, 7], [1, 2, 4, 4]


def op_conv_stride(rng):
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["conv"], name="conv",
                         kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["output"], name="relu"),
    ]
    inits = [init("conv.weight", _w(rng, 4, 3, 3, 3, scale=0.3)),
             init("conv.bias", _w(rng, 4, scale=0.1))]
    return nodes, inits, [1, 3, 9, 9], [1, 4, 5, 5]


def op_matmul_reshape(rng):
    nodes = [
        helper.make_node("Reshape", ["input", "shape"], ["flat"], name="reshape"),
        helper.make_node("MatMul", ["flat", "mm.weight"], ["mm"], name="matmul"),
        helper.make_node("Add", ["mm", "mm.bias"], ["output"], name="add_bias"),
    ]
    inits = [init("shape", np.array([1, 32], np.int64)), init("mm.weight", _w(rng, 32, 5, scale=0.3)),
             init("mm.bias", _w(rng, 5, scale=0.1))]
    return nodes, inits, [1, 2, 4, 4], [1, 5]


OPS = {
    "add": op_add,
    "clip": op_clip,
    "avgpool": op_avgpool,
    "global_avgpool": op_global_avgpool,
    "maxpool_pad": op_maxpool_pad,
    "conv_stride": op_conv_stride,
    "matmul_reshape": op_matmul_reshape,
}


def generate_ops(root: Path, log=print) -> dict:
    """Write root/<name>/ and root/<name>_int8/ for every op fixture."""
    info = {}
    for name, build in OPS.items():
        seed = zlib.crc32(name.encode())  # stable across runs (unlike hash())
        rng = np.random.default_rng(seed)
        nodes, inits, in_shape, out_shape = build(rng)
        model = make_model(nodes, [f32_io("input", in_shape)], [f32_io("output", out_shape)],
                           inits, f"op_{name}")
        size = int(np.prod(in_shape))
        test_x = round8(rng.normal(0, 1, (N_SAMPLES, size)))
        calib = rng.normal(0, 1, (N_OP_CALIB, size)).astype(np.float32)

        fdir = root / name
        save_model(model, fdir / "model.onnx")
        fres = write_fixture(fdir, in_shape, test_x)
        qdir = root / f"{name}_int8"
        # ForceQuantizeNoInputCheck: otherwise ORT leaves a lone MaxPool/AveragePool
        # (whose input is a float graph input) unquantized.
        quantize(fdir / "model.onnx", qdir / "model.onnx", calib, in_shape, qdq=True,
                 per_channel=False, extra_options={"ForceQuantizeNoInputCheck": True})
        qres = write_fixture(qdir, in_shape, test_x)
        for d, res in ((fdir, fres), (qdir, qres)):
            info[d.name] = {**describe(d / "model.onnx"), **res}
        log(f"  ops/{name}: float ops {info[name]['ops']}")
        log(f"  ops/{name}_int8: ops {info[name + '_int8']['ops']}")
    return info
