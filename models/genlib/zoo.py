"""The export zoo: models as common tools write them, for `zkinfer check-suite models/zoo`.

Each folder models/zoo/<name>/ holds model.onnx (the tool's output, unedited), input.json
({"input_data": [...], "output_data": [...]}: a real or seeded sample and onnxruntime's
outputs for it) and meta.json (what made it). Families:
- skl_*: scikit-learn estimators and pipelines through skl2onnx with its default options
  (ZipMap on classifiers' probabilities, a symbolic batch dimension);
- net_*: small float networks built with onnx.helper (a CNN, an LSTM, a transformer encoder
  layer), and onnxruntime's quantizers on them: quantize_static (QDQ and QOperator formats,
  calibrated on seeded data) and quantize_dynamic.
Deterministic: fixed data sets and seeds; estimators use random_state=0.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

F32 = TensorProto.FLOAT


def _versions():
    import skl2onnx
    import sklearn
    return {"onnx": onnx.__version__, "onnxruntime": ort.__version__, "scikit-learn": sklearn.__version__,
            "skl2onnx": skl2onnx.__version__}


def _ort(path: Path, feeds: dict):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    outs = []
    for o in sess.run(None, feeds):
        if isinstance(o, list) and o and isinstance(o[0], dict):
            o = [[float(v) for v in d.values()] for d in o]
        outs.append(np.asarray(o, dtype=np.float64).ravel().tolist())
    return outs


def _write(root: Path, name: str, model: onnx.ModelProto, x: np.ndarray, what: str, log):
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString(deterministic=True))
    inp = model.graph.input[0].name
    outs = _ort(path, {inp: x.astype(np.float32)})
    (folder / "input.json").write_text(json.dumps({"input_data": [x.ravel().astype(float).tolist()], "output_data": outs}) + "\n")
    ops = sorted({(n.domain or "ai.onnx") + ":" + n.op_type for n in model.graph.node})
    (folder / "meta.json").write_text(json.dumps({"what": what, "ops": ops, "versions": _versions()}, indent=1) + "\n")
    log(f"  zoo/{name}: {len(model.graph.node)} nodes, {', '.join(o.split(':')[1] for o in ops)}")


# ------------------------------------------------------------------ scikit-learn
def _skl(est, n_features):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    m = convert_sklearn(est, initial_types=[("input", FloatTensorType([None, n_features]))],
                        target_opset={"": 17, "ai.onnx.ml": 3})
    m.graph.name = "skl2onnx"  # (skl2onnx names the graph with a random uuid: the only edit)
    return m


def _sklearn(root: Path, log):
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine
    from sklearn.decomposition import PCA
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, Normalizer, StandardScaler
    from sklearn.svm import SVC, SVR, LinearSVC
    from sklearn.tree import DecisionTreeClassifier

    def data(loader):
        x, y = loader(return_X_y=True)
        return x.astype(np.float32), y

    cancer, wine, iris, diab, digits = data(load_breast_cancer), data(load_wine), data(load_iris), data(load_diabetes), data(load_digits)
    cases = [
        ("skl_logreg_breast_cancer", cancer, make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
         "StandardScaler + LogisticRegression, breast cancer (30 features, 2 classes): credit/fraud-style scoring"),
        ("skl_linear_svc_wine", wine, LinearSVC(random_state=0, max_iter=5000),
         "LinearSVC, wine (13 raw features, 3 classes; skl2onnx cannot convert it at the end of a Pipeline)"),
        ("skl_svc_rbf_iris", iris, SVC(kernel="rbf"), "SVC (RBF kernel, one-vs-one), iris"),
        ("skl_svr_diabetes", diab, make_pipeline(StandardScaler(), SVR(kernel="rbf", C=50.0)),
         "StandardScaler + SVR (RBF), diabetes regression"),
        ("skl_ridge_diabetes", diab, Ridge(alpha=1.0), "Ridge regression, diabetes (raw features)"),
        ("skl_random_forest_breast_cancer", cancer, RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0),
         "RandomForestClassifier (10 trees, depth 5), breast cancer"),
        ("skl_gbr_diabetes", diab, GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0),
         "GradientBoostingRegressor (30 trees, depth 3), diabetes"),
        ("skl_decision_tree_wine", wine, DecisionTreeClassifier(max_depth=4, random_state=0),
         "DecisionTreeClassifier (depth 4), wine"),
        ("skl_mlp_digits", digits, make_pipeline(MinMaxScaler(), MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0)),
         "MinMaxScaler + MLPClassifier (64-32-10, ReLU, softmax), digits"),
        ("skl_pca_logreg_digits", digits, make_pipeline(PCA(n_components=16, random_state=0), LogisticRegression(max_iter=2000)),
         "PCA (16 components) + multinomial LogisticRegression, digits"),
        ("skl_normalizer_sgd_wine", wine, make_pipeline(Normalizer(), SGDClassifier(loss="log_loss", random_state=0)),
         "Normalizer (L2) + SGDClassifier (log loss), wine"),
        ("skl_imputer_scaler_logreg_iris", iris, make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression()),
         "SimpleImputer + StandardScaler + LogisticRegression, iris"),
    ]
    import warnings
    for name, (x, y), est, what in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(x, y)
        m = _skl(est, x.shape[1])
        _write(root, name, m, x[len(x) // 3:len(x) // 3 + 1], f"scikit-learn {what}, via skl2onnx (default options)", log)


# ------------------------------------------------------------------ networks and quantizers
def _model(nodes, inits, in_shape, out_name, opset=17):
    g = helper.make_graph(nodes, "net", [helper.make_tensor_value_info("input", F32, in_shape)],
                          [helper.make_tensor_value_info(out_name, F32, None)],
                          initializer=[numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _cnn(rng):
    w = {"c1.w": rng.normal(0, 0.4, (4, 1, 3, 3)), "c1.b": rng.normal(0, 0.1, 4),
         "c2.w": rng.normal(0, 0.25, (8, 4, 3, 3)), "c2.b": rng.normal(0, 0.1, 8),
         "fc.w": rng.normal(0, 0.35, (10, 8)), "fc.b": rng.normal(0, 0.1, 10)}
    n = helper.make_node
    nodes = [n("Conv", ["input", "c1.w", "c1.b"], ["a"], pads=[1, 1, 1, 1]), n("Relu", ["a"], ["b"]),
             n("MaxPool", ["b"], ["c"], kernel_shape=[2, 2], strides=[2, 2]),
             n("Conv", ["c", "c2.w", "c2.b"], ["d"], pads=[1, 1, 1, 1]), n("Relu", ["d"], ["e"]),
             n("GlobalAveragePool", ["e"], ["f"]), n("Flatten", ["f"], ["g"]),
             n("Gemm", ["g", "fc.w", "fc.b"], ["logits"], transB=1), n("Softmax", ["logits"], ["output"], axis=1)]
    return _model(nodes, w, [1, 1, 12, 12], "output"), [1, 1, 12, 12]


def _lstm(rng):
    h, f, t = 8, 3, 6
    w = {"W": rng.normal(0, 0.4, (1, 4 * h, f)), "R": rng.normal(0, 0.3, (1, 4 * h, h)), "B": rng.normal(0, 0.1, (1, 8 * h)),
         "fc.w": rng.normal(0, 0.4, (2, h)), "fc.b": rng.normal(0, 0.1, 2), "shape": np.array([1, h])}
    n = helper.make_node
    nodes = [n("LSTM", ["input", "W", "R", "B"], ["", "y_h"], hidden_size=h), n("Reshape", ["y_h", "shape_i"], ["hl"]),
             n("Gemm", ["hl", "fc.w", "fc.b"], ["output"], transB=1)]
    m = _model(nodes, {k: v for k, v in w.items() if k != "shape"}, [t, 1, f], "output")
    m.graph.initializer.append(numpy_helper.from_array(np.array([1, h], np.int64), "shape_i"))
    return m, [t, 1, f]


def _encoder(rng):
    """One post-norm transformer encoder layer (seq 8, d 16, 2 heads, ffn 32), erf GELU written
    out as exporters write it."""
    s, d, hds, ff = 8, 16, 2, 32
    dh = d // hds
    w = {f"{k}.w": rng.normal(0, 1 / np.sqrt(d), (d, d)) for k in "qkvo"}
    w.update({f"{k}.b": rng.normal(0, 0.05, d) for k in "qkvo"})
    w.update({"f1.w": rng.normal(0, 1 / np.sqrt(d), (d, ff)), "f1.b": rng.normal(0, 0.05, ff),
              "f2.w": rng.normal(0, 1 / np.sqrt(ff), (ff, d)), "f2.b": rng.normal(0, 0.05, d),
              "ln1.g": 1 + rng.normal(0, 0.05, d), "ln1.b": rng.normal(0, 0.05, d),
              "ln2.g": 1 + rng.normal(0, 0.05, d), "ln2.b": rng.normal(0, 0.05, d),
              "scale": np.array(1 / np.sqrt(dh)), "sqrt2": np.array(np.sqrt(2.0)), "one": np.array(1.0), "half": np.array(0.5)})
    n = helper.make_node
    nodes = []
    for k in "qkv":
        nodes += [n("MatMul", ["input", f"{k}.w"], [f"{k}0"]), n("Add", [f"{k}0", f"{k}.b"], [f"{k}1"]),
                  n("Reshape", [f"{k}1", "heads"], [f"{k}2"]), n("Transpose", [f"{k}2"], [f"{k}h"], perm=[0, 2, 1, 3])]
    nodes += [n("Transpose", ["kh"], ["kt"], perm=[0, 1, 3, 2]), n("MatMul", ["qh", "kt"], ["sc0"]), n("Mul", ["sc0", "scale"], ["sc"]),
              n("Softmax", ["sc"], ["p"], axis=-1), n("MatMul", ["p", "vh"], ["ctx0"]), n("Transpose", ["ctx0"], ["ctx1"], perm=[0, 2, 1, 3]),
              n("Reshape", ["ctx1", "merge"], ["ctx"]), n("MatMul", ["ctx", "o.w"], ["o0"]), n("Add", ["o0", "o.b"], ["o1"]),
              n("Add", ["o1", "input"], ["r1"]), n("LayerNormalization", ["r1", "ln1.g", "ln1.b"], ["h1"], axis=-1, epsilon=1e-5),
              n("MatMul", ["h1", "f1.w"], ["f0"]), n("Add", ["f0", "f1.b"], ["f1"]),
              n("Div", ["f1", "sqrt2"], ["g0"]), n("Erf", ["g0"], ["g1"]), n("Add", ["g1", "one"], ["g2"]), n("Mul", ["f1", "g2"], ["g3"]),
              n("Mul", ["g3", "half"], ["g4"]), n("MatMul", ["g4", "f2.w"], ["f2"]), n("Add", ["f2", "f2.b"], ["f3"]),
              n("Add", ["f3", "h1"], ["r2"]), n("LayerNormalization", ["r2", "ln2.g", "ln2.b"], ["output"], axis=-1, epsilon=1e-5)]
    m = _model(nodes, w, [1, s, d], "output")
    m.graph.initializer.extend([numpy_helper.from_array(np.array([1, s, hds, dh], np.int64), "heads"),
                                numpy_helper.from_array(np.array([1, s, d], np.int64), "merge")])
    return m, [1, s, d]


class _Reader:
    def __init__(self, shape, rng, n=16):
        self.rows = iter([{"input": rng.normal(0, 1, shape).astype(np.float32)} for _ in range(n)])

    def get_next(self):
        return next(self.rows, None)


def _quantized(m, shape, rng, how):
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "f.onnx", Path(d) / "q.onnx"
        onnx.save(m, src)
        if how == "dynamic":
            # (DefaultTensorType: values after contrib ops have no inferred type)
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, extra_options={"DefaultTensorType": TensorProto.FLOAT})
        else:
            fmt = QuantFormat.QDQ if how == "qdq" else QuantFormat.QOperator
            quantize_static(str(src), str(dst), _Reader(shape, rng), quant_format=fmt,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
        return onnx.load(dst)


def _ort_optimized(m):
    from onnxruntime.transformers.optimizer import optimize_model
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "f.onnx"
        onnx.save(m, src)
        m = optimize_model(str(src), model_type="bert", num_heads=2, hidden_size=16, opt_level=0).model
    if not any(o.domain == "com.microsoft" for o in m.opset_import):
        m.opset_import.append(helper.make_opsetid("com.microsoft", 1))  # (the optimizer omits it)
    return m


def _networks(root: Path, log):
    import logging
    logging.getLogger().setLevel(logging.ERROR)
    for base, build, seed in [("cnn", _cnn, 1), ("lstm", _lstm, 2), ("encoder", _encoder, 3)]:
        rng = np.random.default_rng(seed)
        m, shape = build(rng)
        x = np.round(rng.normal(0, 1, shape), 4)
        _write(root, f"net_{base}_f32", m, x, f"float {base} built with onnx.helper (seed {seed})", log)
        if base == "encoder":
            # onnxruntime's transformer optimizer (BERT fusions: BiasGelu, SkipLayerNormalization;
            # this attention block is written without the mask its Attention fusion looks for)
            opt = _ort_optimized(m)
            _write(root, "net_encoder_ortopt", opt, x, "onnxruntime.transformers optimize_model (bert, 2 heads, hidden 16) "
                   "of net_encoder_f32", log)
            q = _quantized(opt, shape, np.random.default_rng(seed + 100), "dynamic")
            _write(root, "net_encoder_ortopt_dynamic", q, x, "onnxruntime quantize_dynamic of net_encoder_ortopt", log)
        for how in ["dynamic", "qdq", "qop"]:
            q = _quantized(m, shape, np.random.default_rng(seed + 100), how)
            what = {"dynamic": "onnxruntime quantize_dynamic (int8 weights)",
                    "qdq": "onnxruntime quantize_static, QDQ format, int8, calibrated on 16 seeded inputs",
                    "qop": "onnxruntime quantize_static, QOperator format, int8, calibrated on 16 seeded inputs"}[how]
            _write(root, f"net_{base}_{how}", q, x, f"{what} of net_{base}_f32", log)


def generate_zoo(root: Path, log=print):
    root.mkdir(parents=True, exist_ok=True)
    _sklearn(root, log)
    _networks(root, log)
