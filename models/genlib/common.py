"""Shared helpers: data, JSON writing, ONNX saving, ORT inference, quantization."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)

OPSET = 13
IR_VERSION = 8  # oldest IR that carries opset 13; keeps importers' life simple
N_SAMPLES = 16  # number of fixed test images in samples.json
N_CALIB = 300  # number of training digits used for calibration


# --------------------------------------------------------------------- data
def load_digits_split():
    """sklearn digits, scaled to [0,1], fixed 70/30 split (seed 0)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)  # k/16 is exact in float32
    y = d.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.3, random_state=0)


def round8(a) -> np.ndarray:
    """Round to 8 significant digits, return float32.

    The JSON files store the 8-digit decimal; parsing it as f64 and casting
    to f32 gives exactly the float32 value we fed to onnxruntime.
    """
    a = np.asarray(a, dtype=np.float64)
    flat = [float(f"{v:.8g}") for v in a.ravel()]
    return np.array(flat, dtype=np.float32).reshape(a.shape)


def _num(v) -> str:
    return repr(float(f"{float(v):.8g}"))  # e.g. "0.0625", "1.0", "-3.2e-05"


def _dump(v, indent: int = 0) -> str:
    pad = "  " * indent
    if isinstance(v, dict):
        items = [f'{pad}  {json.dumps(k)}: {_dump(x, indent + 1).lstrip()}' for k, x in v.items()]
        return pad + "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(v, (list, tuple)) and v and isinstance(v[0], (list, tuple)):
        rows = [pad + "  " + _dump(r) for r in v]
        return pad + "[\n" + ",\n".join(rows) + "\n" + pad + "]"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_dump(x) for x in v) + "]"
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return _num(v)
    return json.dumps(v)


def write_json(path: Path, obj) -> None:
    path.write_text(_dump(obj) + "\n")


# --------------------------------------------------------------------- onnx
def make_model(nodes, inputs, outputs, initializers, name: str) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=initializers)
    model = helper.make_model(
        graph,
        producer_name="zkinfer-models",
        producer_version="1",
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def init(name: str, arr) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(arr), name)


def f32_io(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, list(shape))


def save_model(model: onnx.ModelProto, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString(deterministic=True))


# --------------------------------------------------------------------- ort
def session(model_path: Path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])


def run_one(sess: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    """x: one example with the model's full input shape (batch 1)."""
    inp = sess.get_inputs()[0].name
    return sess.run(None, {inp: x.astype(np.float32)})[0]


def run_many(sess, xs: np.ndarray, shape) -> np.ndarray:
    return np.stack([run_one(sess, x.reshape(shape)).ravel() for x in xs])


# --------------------------------------------------------------------- quant
class ListReader(CalibrationDataReader):
    def __init__(self, input_name: str, xs: np.ndarray, shape):
        self.input_name = input_name
        self.items = [x.reshape(shape).astype(np.float32) for x in xs]
        self.i = 0

    def get_next(self):
        if self.i >= len(self.items):
            return None
        self.i += 1
        return {self.input_name: self.items[self.i - 1]}

    def rewind(self):
        self.i = 0


def quantize(float_path: Path, out_path: Path, calib: np.ndarray, shape, *, qdq: bool,
             per_channel: bool, reduce_range: bool = False, extra_options=None) -> None:
    """quantize_static with uint8 activations / int8 weights, MinMax calibration."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="zkq_"))
    root_logger = logging.getLogger()
    old_level = root_logger.level
    root_logger.setLevel(logging.ERROR)  # silence "consider pre-processing" warnings
    try:
        tmp_out = tmp / "q.onnx"
        quantize_static(
            str(float_path),
            str(tmp_out),
            ListReader("input", calib, shape),
            quant_format=QuantFormat.QDQ if qdq else QuantFormat.QOperator,
            per_channel=per_channel,
            reduce_range=reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options=extra_options,
        )
        model = onnx.load(str(tmp_out))
        onnx.checker.check_model(model)
        save_model(model, out_path)
    finally:
        root_logger.setLevel(old_level)
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------- fixtures
def write_fixture(folder: Path, shape, test_x: np.ndarray, test_y=None) -> dict:
    """Write input.json / expected.json / samples.json for folder/model.onnx.

    test_x: [n, prod(shape)] float32 inputs, already exactly representable by
    their 8-significant-digit JSON form (see round8). test_x[0] is the single
    example; all n go to samples.json.
    """
    sess = session(folder / "model.onnx")
    x0 = test_x[0]
    y0 = run_one(sess, x0.reshape(shape)).ravel()
    write_json(folder / "input.json", {"input_data": [x0.tolist()]})
    write_json(folder / "expected.json",
               {"output_data": [y0.tolist()], "argmax": [int(np.argmax(y0))]})
    outs = run_many(sess, test_x, shape)
    samples = {"inputs": test_x.tolist(), "outputs": outs.tolist()}
    if test_y is not None:
        samples["labels"] = [int(v) for v in test_y]
    write_json(folder / "samples.json", samples)
    return {"argmax0": int(np.argmax(y0)), "sample_argmax": outs.argmax(1).tolist()}


# --------------------------------------------------------------------- describe
def describe(path: Path) -> dict:
    m = onnx.load(str(path))
    ops = [n.op_type for n in m.graph.node]
    params = 0
    qparams = 0
    storage: dict[str, set] = {}
    for t in m.graph.initializer:
        n = int(np.prod(t.dims)) if len(t.dims) else 1
        is_q = t.name.endswith(("_scale", "_zero_point")) or "scale" in t.name.lower() \
            or "zero_point" in t.name.lower()
        if is_q:
            qparams += n
            kind = "scale" if "scale" in t.name.lower() else "zero_point"
            fields = [f for f in ("raw_data", "float_data", "int32_data", "int64_data")
                      if len(getattr(t, f))]
            dt = onnx.TensorProto.DataType.Name(t.data_type)
            storage.setdefault(kind, set()).add(f"{dt}:{'+'.join(fields) or 'empty'}")
        else:
            params += n
    return {
        "ops": ops,
        "params": params,
        "quant_params": qparams,
        "opsets": {o.domain or "ai.onnx": o.version for o in m.opset_import},
        "ir_version": m.ir_version,
        "qparam_storage": {k: sorted(v) for k, v in storage.items()},
        "bytes": os.path.getsize(path),
    }
