"""ai.onnx.ml fixtures beyond the tree ensembles: linear models, SVMs and the preprocessing
steps of scikit-learn pipelines, as skl2onnx exports them, plus hand-built nodes for the
attributes skl2onnx does not exercise. Registered into the ops2 family (same layout and
runner: models/ops/ml_<name>/); imported by gen.py before the ops2 fixtures are built.

Deterministic: estimators use fixed data sets and random_state=0.
"""

from __future__ import annotations

import numpy as np
from onnx import helper

from .ops2 import BOOL, F32, I64, ML, Fx, N, _int_grid, _skl2onnx, _skl_version, f32, fixture, i64, init

IRIS = (0.0, 8.0)


def _iris():
    from sklearn.datasets import load_iris
    x, y = load_iris(return_X_y=True)
    return x.astype(np.float32), y


def _diabetes():
    from sklearn.datasets import load_diabetes
    d = load_diabetes(scaled=False)
    return d.data[:, [0, 2, 3, 8]].astype(np.float32), d.target


def _skl(est, classifier, tests, op, domain=IRIS, **kw):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    final = convert_sklearn(est, initial_types=[("input", FloatTensorType([1, 4]))],
                            target_opset={"": 13, ML: 3}).graph.output[0].name
    rename = {final: "output"}
    try:
        nodes, inits, outs = _skl2onnx(est, rename, classifier)
    except (NameError, AssertionError):  # no zipmap option (LinearSVC, ...), or initializers
        nodes, inits, outs = _skl2onnx_plain(est, rename, classifier)
    return Fx(nodes, inits, [1, 4], outs, op, tests, domain=domain, ml_opset=3,
              meta={"exporter": _skl_version()}, **kw)


def _skl2onnx_plain(est, rename, classifier):
    import onnx
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    try:
        m = convert_sklearn(est, initial_types=[("input", FloatTensorType([1, 4]))], target_opset={"": 13, ML: 3},
                            options={id(est): {"zipmap": False}} if classifier else None)
    except NameError:
        m = convert_sklearn(est, initial_types=[("input", FloatTensorType([1, 4]))], target_opset={"": 13, ML: 3})
    nodes = []
    for n in m.graph.node:
        n = onnx.NodeProto.FromString(n.SerializeToString())
        for field_ in (n.input, n.output):
            for i, v in enumerate(field_):
                field_[i] = rename.get(v, v)
        nodes.append(n)
    return nodes, list(m.graph.initializer), [(rename.get(o.name, o.name), o.type.tensor_type.elem_type) for o in m.graph.output]


# ------------------------------------------------------------------ linear models
@fixture("ml_linear_regressor")
def _linreg(rng):
    from sklearn.linear_model import LinearRegression
    x, y = _diabetes()
    return _skl(LinearRegression().fit(x, y), False,
                "sklearn LinearRegression on raw diabetes [age, bmi, bp, s5] via skl2onnx -> LinearRegressor",
                "LinearRegressor", domain=(0, 150))


@fixture("ml_linear_regressor_2t")
def _linreg2(rng):
    coef = f32(rng.normal(0, 0.5, 8)).tolist()
    node = helper.make_node("LinearRegressor", ["input"], ["output"], domain=ML, coefficients=coef,
                            intercepts=[0.25, -1.5], targets=2)
    return Fx([node], [], [1, 4], [("output", F32)], "LinearRegressor",
              "hand-built LinearRegressor, targets=2, intercepts [0.25, -1.5]", ml_opset=1)


@fixture("ml_logreg_binary")
def _logreg_bin(rng):
    from sklearn.linear_model import LogisticRegression
    x, y = _iris()
    return _skl(LogisticRegression().fit(x, y == 2), True,
                "sklearn LogisticRegression, iris virginica-vs-rest -> LinearClassifier (one coefficient "
                "row, labels [0,1], LOGISTIC): label, probabilities [1-p, p]", "LinearClassifier")


@fixture("ml_logreg_pipeline")
def _logreg_multi(rng):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    x, y = _iris()
    return _skl(make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y), True,
                "sklearn StandardScaler + multinomial LogisticRegression on iris -> Scaler, "
                "LinearClassifier (SOFTMAX), Normalizer (L1): label, probabilities", "LinearClassifier")


@fixture("ml_linear_svc")
def _linsvc(rng):
    from sklearn.svm import LinearSVC
    x, y = _iris()
    return _skl(LinearSVC(random_state=0).fit(x, y), True,
                "sklearn LinearSVC on iris (3 classes, one-vs-rest) -> LinearClassifier NONE: label, scores",
                "LinearClassifier")


@fixture("ml_linear_svc_binary")
def _linsvc_bin(rng):
    from sklearn.svm import LinearSVC
    x, y = _iris()
    return _skl(LinearSVC(random_state=0).fit(x, y == 1), True,
                "sklearn LinearSVC, iris versicolor-vs-rest -> LinearClassifier (scores [-s, s]) + "
                "ArrayFeatureExtractor (column 1): label, decision score", "LinearClassifier")


def _linclf(name, pt, coef, intercepts, labels, domain, tests):
    node = helper.make_node("LinearClassifier", ["input"], ["output", "scores"], domain=ML, coefficients=coef,
                            intercepts=intercepts, classlabels_ints=labels, post_transform=pt)
    return Fx([node], [], [1, 4], [("output", I64), ("scores", F32)], "LinearClassifier", tests,
              domain=domain, ml_opset=1)


@fixture("ml_linear_classifier_softmax_zero")
def _lc_sz(rng):
    coef = [1.0, -0.5, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, -0.75, 0.5, 1.0, -1.0]
    return _linclf("sz", "SOFTMAX_ZERO", coef, [0.5, 0.0, -0.25], [3, 5, 7], (-2, 2),
                   "hand-built LinearClassifier, labels [3,5,7], SOFTMAX_ZERO (the second class scores exactly 0: "
                   "zero coefficients, zero intercept)")


@fixture("ml_linear_classifier_probit")
def _lc_probit(rng):
    coef = [0.2, 0.1, -0.1, 0.15, -0.2, 0.1, 0.2, -0.05]
    return _linclf("probit", "PROBIT", coef, [0.3, 0.5], [0, 1], (0, 1),
                   "hand-built LinearClassifier, PROBIT of scores in (0, 1)")


# ------------------------------------------------------------------ SVMs
def _svr(kernel, rng, **kw):
    from sklearn.svm import SVR
    x, y = _iris()
    return _skl(SVR(kernel=kernel, **kw).fit(x[::3], y[::3]), False,
                f"sklearn SVR(kernel={kernel!r}{''.join(f', {k}={v!r}' for k, v in kw.items())}) on every "
                "third iris row (class as target) -> SVMRegressor", "SVMRegressor")


@fixture("ml_svr_linear")
def _svr_lin(rng):
    return _svr("linear", rng)


@fixture("ml_svr_rbf")
def _svr_rbf(rng):
    return _svr("rbf", rng)


@fixture("ml_svr_poly")
def _svr_poly(rng):
    return _svr("poly", rng, degree=3, gamma=0.05, coef0=1.0)


@fixture("ml_svr_sigmoid")
def _svr_sig(rng):
    return _svr("sigmoid", rng, gamma=0.01, coef0=0.5)


def _svc(kernel, binary, **kw):
    from sklearn.svm import SVC
    x, y = _iris()
    yy = (y == 1) if binary else y
    what = "versicolor-vs-rest" if binary else "3 classes, one-vs-one votes and skl2onnx's ovr decision-function nodes"
    return _skl(SVC(kernel=kernel, **kw).fit(x[::3], yy[::3]), True,
                f"sklearn SVC(kernel={kernel!r}{''.join(f', {k}={v!r}' for k, v in kw.items())}) on every third "
                f"iris row, {what} -> SVMClassifier: label, scores", "SVMClassifier")


@fixture("ml_svc_rbf")
def _svc_rbf(rng):
    return _svc("rbf", False)


@fixture("ml_svc_linear_binary")
def _svc_lin_bin(rng):
    return _svc("linear", True)


@fixture("ml_svc_poly")
def _svc_poly(rng):
    return _svc("poly", False, degree=2, gamma=0.1, coef0=1.0)


# ------------------------------------------------------------------ preprocessing
@fixture("ml_scaler_minmax")
def _minmax(rng):
    from sklearn.preprocessing import MinMaxScaler
    x, _ = _iris()
    return _skl(MinMaxScaler().fit(x), False, "sklearn MinMaxScaler on iris -> Scaler", "Scaler")


def _normalizer(norm):
    from sklearn.preprocessing import Normalizer
    x, _ = _iris()
    return _skl(Normalizer(norm=norm).fit(x), False,
                f"sklearn Normalizer(norm={norm!r}) -> Normalizer {norm.upper()}; signed inputs (MAX divides "
                "by the row's largest value, sign kept; an all-zero row stays zero)", "Normalizer", domain=(-4, 4))


@fixture("ml_normalizer_max")
def _norm_max(rng):
    return _normalizer("max")


@fixture("ml_normalizer_l1")
def _norm_l1(rng):
    return _normalizer("l1")


@fixture("ml_normalizer_l2")
def _norm_l2(rng):
    return _normalizer("l2")


@fixture("ml_binarizer")
def _binarizer(rng):
    from sklearn.preprocessing import Binarizer
    x, _ = _iris()
    return _skl(Binarizer(threshold=0.5).fit(x), False, "sklearn Binarizer(threshold=0.5) -> Binarizer",
                "Binarizer", domain=(-2, 2), specials=[lambda n: np.resize([0.5, 0.5, -0.5, 1.0], n)])


@fixture("ml_imputer")
def _imputer(rng):
    node = helper.make_node("Imputer", ["input"], ["output"], domain=ML,
                            imputed_value_floats=[1.5, -2.0, 3.25, 0.5], replaced_value_float=0.0)
    return Fx([node], [], [1, 4], [("output", F32)], "Imputer",
              "hand-built Imputer replacing exact zeros with per-feature values [1.5, -2, 3.25, 0.5]",
              ml_opset=1, specials=[_int_grid])


@fixture("ml_imputer_nan")
def _imputer_nan(rng):
    from sklearn.impute import SimpleImputer
    x, _ = _iris()
    return _skl(SimpleImputer(strategy="mean").fit(x), False,
                "sklearn SimpleImputer(mean) -> Imputer with replaced_value NaN (identity on finite inputs)",
                "Imputer")


@fixture("ml_array_feature_extractor")
def _afe(rng):
    node = N("ArrayFeatureExtractor", ["input", "idx"], ["output"])
    node.domain = ML
    return Fx([node], [init("idx", i64([3, 0, 0]))], [1, 4], [("output", F32)], "ArrayFeatureExtractor",
              "hand-built ArrayFeatureExtractor, indices [3, 0, 0] (repeats)", ml_opset=1)


@fixture("ml_feature_vectorizer")
def _fv(rng):
    nodes = [N("Slice", ["input", "s0", "s1", "ax"], ["a"]), N("Slice", ["input", "s1", "s4", "ax"], ["b"]),
             helper.make_node("FeatureVectorizer", ["b", "a"], ["output"], domain=ML, inputdimensions=[2, 3])]
    inits = [init("s0", i64([0])), init("s1", i64([1])), init("s4", i64([4])), init("ax", i64([1]))]
    return Fx(nodes, inits, [1, 4], [("output", F32)], "FeatureVectorizer",
              "FeatureVectorizer of x[:, 1:4] cut to 2 columns and x[:, 0:1] padded to 3", ml_opset=1)


@fixture("ml_one_hot_encoder")
def _ohe(rng):
    nodes = [N("Round", ["input"], ["r"]), N("Cast", ["r"], ["c"], to=I64),
             helper.make_node("OneHotEncoder", ["c"], ["output"], domain=ML, cats_int64s=[-1, 0, 2], zeros=1)]
    return Fx(nodes, [], [1, 4], [("output", F32)], "OneHotEncoder",
              "OneHotEncoder(cats [-1, 0, 2], zeros=1) of round(x) as int64 -> [1, 4, 3]", ml_opset=1,
              domain=(-3, 3), specials=[_int_grid])


@fixture("ml_label_encoder")
def _le(rng):
    nodes = [N("Round", ["input"], ["r"]), N("Cast", ["r"], ["c"], to=I64),
             helper.make_node("LabelEncoder", ["c"], ["output"], domain=ML, keys_int64s=[-2, -1, 0, 1, 3],
                              values_floats=[0.5, -1.25, 2.0, 4.5, -3.0], default_float=7.0)]
    return Fx(nodes, [], [1, 4], [("output", F32)], "LabelEncoder",
              "LabelEncoder int64 -> float (keys [-2,-1,0,1,3], default 7) of round(x)", ml_opset=2,
              domain=(-3, 3), specials=[_int_grid])


_ = (BOOL,)
