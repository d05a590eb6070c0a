"""Second family of single-op fixtures ("ops2"): one ONNX op (plus the few
helper nodes it needs) per model, written to models/ops/<name>/.

Every model has one float32 graph input "input"; where an op needs a second
operand it is derived in-graph (Gemm(x), Slice(x), a comparison, ...) or is an
initializer. The first graph output is always "output". Ops with several
outputs (TopK, Split, LSTM/GRU/RNN) also write "outputs_all" in samples.json.
Bool and integer outputs are written as 0.0/1.0 and integer-valued floats.

Deterministic: seeds are crc32("ops2/" + name); ORT runs single-threaded with
ORT_DISABLE_ALL (common.session); models are serialized deterministically.
See models/ops/INDEX.md (written by this module) for the list.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, shape_inference

from onnx import numpy_helper

from .common import N_SAMPLES, _dump, round8, save_model, session, write_json

F32, I64, I32, I8, BOOL = (TensorProto.FLOAT, TensorProto.INT64, TensorProto.INT32,
                           TensorProto.INT8, TensorProto.BOOL)
INT64_MIN = np.iinfo(np.int64).min


def f32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def i64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.int64)


def init(name: str, arr) -> onnx.TensorProto:
    """Initializer that keeps rank 0 (common.init's np.ascontiguousarray turns a
    0-d array into shape [1])."""
    a = np.asarray(arr)
    return numpy_helper.from_array(a.copy(order="C"), name)


def N(op: str, ins, outs, **attrs) -> onnx.NodeProto:
    return helper.make_node(op, list(ins), list(outs), **attrs)


@dataclass
class Fx:
    """One fixture: graph pieces, sample domain and documentation."""
    nodes: list
    inits: list
    in_shape: list
    outputs: list  # [(name, elem_type)], first is "output"
    op: str  # the op under test (for INDEX.md)
    tests: str  # what it tests (for INDEX.md)
    opset: int = 13
    domain: tuple = (-4.0, 4.0)
    kind: str = "normal"  # normal | positive | int8
    q_scale: float | None = None  # int8: input scale (inputs are k * q_scale, k in [-128,127])
    specials: list = field(default_factory=list)  # extra rows: callables size -> array
    ml_opset: int | None = None  # also import ai.onnx.ml at this version (tree ensembles)
    ms_opset: int | None = None  # also import com.microsoft at this version (contrib ops)
    meta: dict = field(default_factory=dict)  # extra meta.json keys (only where set)


# ------------------------------------------------------------------ registry
FIXTURES: dict[str, Callable[[np.random.Generator], Fx]] = {}


def fixture(name: str):
    def reg(fn):
        assert name not in FIXTURES, name
        FIXTURES[name] = fn
        return fn
    return reg


def _w(rng, *shape, scale=0.5) -> np.ndarray:
    return round8(rng.normal(0, scale, shape))


def _gemm(rng, x: str, out: str, n_in: int, n_out: int, prefix: str = "fc"):
    """Gemm(x, W^T) + b, with W ~ N(0, 1/n_in) so the output keeps x's scale."""
    nodes = [N("Gemm", [x, f"{prefix}.weight", f"{prefix}.bias"], [out], transB=1)]
    inits = [init(f"{prefix}.weight", _w(rng, n_out, n_in, scale=1.0 / np.sqrt(n_in))),
             init(f"{prefix}.bias", _w(rng, n_out, scale=0.1))]
    return nodes, inits


# ------------------------------------------------------------------ specials
def _half_grid(size):  # -4, -3.5, ..., 3.5 (tiled): ties for Round, integers for Floor/Ceil
    return np.resize(np.arange(-4.0, 4.0, 0.5), size)


def _near_half(size):  # 1e-6 either side of the .5 ties and of the integers
    base = np.array([0.5, -0.5, 1.5, -2.5, 1.0, -1.0, 2.5, -3.0])
    return np.resize(np.stack([base + 1e-6, base - 1e-6], 1).ravel(), size)


def _tiny(size):  # tiny values of both signs and exact zeros
    return np.resize(np.array([0.0, 1e-6, -1e-6, 1e-3, -1e-3, 0.0, 1e-4, -1e-4]), size)


def _ties(size):  # repeated maxima / minima in every row (ArgMax/TopK tie breaking)
    return np.resize(np.array([1.0, 3.0, -2.0, 3.0, 0.5, -2.0]), size)


def _int_grid(size):  # exact integers (Equal after Round; Cast truncation)
    return np.resize(np.arange(-3.0, 4.0, 1.0), size)


# ------------------------------------------------------------------ unary
UNARY = [
    # name, op, domain, attrs, opset, kind, specials, tests
    ("sigmoid", "Sigmoid", (-6, 6), {}, 13, "normal", [], "logistic on [-6,6] (saturating tails)"),
    ("tanh", "Tanh", (-4, 4), {}, 13, "normal", [], "tanh on [-4,4]"),
    ("exp", "Exp", (-4, 4), {}, 13, "normal", [], "exp on [-4,4] (0.018 .. 54.6)"),
    ("log", "Log", (0.01, 10), {}, 13, "positive", [], "natural log on positive [0.01,10] (no zeros: log 0 = -inf)"),
    ("sqrt", "Sqrt", (0, 16), {}, 13, "positive", [], "sqrt on [0,16] incl. exact 0"),
    ("reciprocal", "Reciprocal", (0.1, 10), {}, 13, "positive", [], "1/x on positive [0.1,10]"),
    ("erf", "Erf", (-3, 3), {}, 13, "normal", [], "erf on [-3,3]"),
    ("gelu", "Gelu", (-6, 6), {"approximate": "none"}, 20, "normal", [],
     "Gelu-20, approximate=\"none\" (exact erf form)"),
    ("gelu_tanh", "Gelu", (-6, 6), {"approximate": "tanh"}, 20, "normal", [],
     "Gelu-20, approximate=\"tanh\""),
    ("relu", "Relu", (-6, 6), {}, 13, "normal", [], "max(x,0)"),
    ("leakyrelu", "LeakyRelu", (-6, 6), {"alpha": 0.1}, 13, "normal", [],
     "alpha=0.1 (non-default, ONNX default 0.01)"),
    ("elu", "Elu", (-6, 6), {"alpha": 0.5}, 13, "normal", [], "alpha=0.5 (non-default)"),
    ("selu", "Selu", (-6, 6), {}, 13, "normal", [],
     "default alpha=1.67326319, gamma=1.05070102 (attributes absent, as PyTorch exports)"),
    ("celu", "Celu", (-6, 6), {"alpha": 2.0}, 13, "normal", [], "alpha=2.0 (non-default)"),
    ("hardsigmoid", "HardSigmoid", (-6, 6), {"alpha": 1.0 / 6.0, "beta": 0.5}, 13, "normal", [],
     "alpha=1/6, beta=0.5 (PyTorch form; ONNX default alpha is 0.2)"),
    ("hardswish", "HardSwish", (-6, 6), {}, 14, "normal", [], "x*max(0,min(1,x/6+1/2)), opset 14 op"),
    ("mish", "Mish", (-6, 6), {}, 18, "normal", [], "x*tanh(softplus(x)), opset 18 op"),
    ("softplus", "Softplus", (-6, 6), {}, 13, "normal", [], "log(1+exp(x))"),
    ("softsign", "Softsign", (-6, 6), {}, 13, "normal", [], "x/(1+|x|)"),
    ("abs", "Abs", (-4, 4), {}, 13, "normal", [_tiny], "|x| incl. zeros and tiny values"),
    ("neg", "Neg", (-4, 4), {}, 13, "normal", [], "-x"),
    ("sign", "Sign", (-4, 4), {}, 13, "normal", [_tiny], "sign incl. exact 0 -> 0 and +-1e-6"),
    ("floor", "Floor", (-4, 4), {}, 13, "normal", [_half_grid, _near_half],
     "floor incl. exact integers, halves and +-1e-6 around them"),
    ("ceil", "Ceil", (-4, 4), {}, 13, "normal", [_half_grid, _near_half],
     "ceil incl. exact integers, halves and +-1e-6 around them"),
    ("round", "Round", (-4, 4), {}, 13, "normal", [_half_grid, _near_half],
     "round half to EVEN (0.5->0, 1.5->2, -2.5->-2) plus values 1e-6 off the ties"),
]


def _make_unary(name, op, domain, attrs, opset, kind, specials, tests):
    shape = [1, 16]

    def build(rng):
        return Fx([N(op, ["input"], ["output"], **attrs)], [], shape, [("output", F32)], op, tests,
                  opset=opset, domain=domain, kind=kind, specials=specials)
    fixture(name)(build)


for _row in UNARY:
    _make_unary(*_row)


@fixture("softmax")
def _softmax(rng):
    return Fx([N("Softmax", ["input"], ["output"], axis=-1)], [], [1, 4, 8], [("output", F32)],
              "Softmax", "axis=-1 on [1,4,8] (opset-13 semantics: one axis, not 2-D coercion)",
              domain=(-8, 8))


@fixture("logsoftmax")
def _logsoftmax(rng):
    return Fx([N("LogSoftmax", ["input"], ["output"], axis=-1)], [], [1, 4, 8], [("output", F32)],
              "LogSoftmax", "axis=-1 on [1,4,8]", domain=(-8, 8))


@fixture("prelu")
def _prelu(rng):
    slope = f32([0.25, 0.01, 0.5, 2.0]).reshape(4, 1, 1)
    return Fx([N("PRelu", ["input", "slope"], ["output"])], [init("slope", slope)], [1, 4, 2, 2],
              [("output", F32)], "PRelu",
              "per-channel slope [4,1,1] = [0.25,0.01,0.5,2.0] broadcast over [1,4,2,2] (PyTorch layout)",
              domain=(-6, 6))


@fixture("relu6_clip")
def _relu6(rng):
    return Fx([N("Clip", ["input", "clip.min", "clip.max"], ["output"])],
              [init("clip.min", f32(0.0)), init("clip.max", f32(6.0))], [1, 16], [("output", F32)],
              "Clip", "Relu6 = Clip(x, 0, 6), min/max as scalar initializers; samples hit 0 and 6 exactly",
              domain=(-10, 10),
              specials=[lambda n: np.resize(f32([0, 6, -0.0, 6.0000005, 5.9999995, 1e-6, -1e-6, 3]), n)])


@fixture("gelu_erf")
def _gelu_erf(rng):
    nodes = [N("Div", ["input", "sqrt2"], ["d"]), N("Erf", ["d"], ["e"]),
             N("Add", ["e", "one"], ["e1"]), N("Mul", ["input", "e1"], ["m"]),
             N("Mul", ["m", "half"], ["output"])]
    inits = [init("sqrt2", f32(1.4142135623730951)), init("one", f32(1.0)), init("half", f32(0.5))]
    return Fx(nodes, inits, [1, 16], [("output", F32)], "Div Erf Add Mul Mul",
              "GELU decomposed exactly as torch.onnx exports it (opset 13): x*(1+erf(x/sqrt2))*0.5",
              domain=(-6, 6))


@fixture("gelu_tanh_decomposed")
def _gelu_tanh_dec(rng):
    nodes = [N("Pow", ["input", "three"], ["x3"]), N("Mul", ["x3", "c"], ["cx3"]),
             N("Add", ["input", "cx3"], ["inner"]), N("Mul", ["inner", "k"], ["scaled"]),
             N("Tanh", ["scaled"], ["t"]), N("Add", ["t", "one"], ["t1"]),
             N("Mul", ["input", "half"], ["hx"]), N("Mul", ["hx", "t1"], ["output"])]
    inits = [init("three", f32(3.0)), init("c", f32(0.044715)), init("k", f32(np.sqrt(2 / np.pi))),
             init("one", f32(1.0)), init("half", f32(0.5))]
    return Fx(nodes, inits, [1, 16], [("output", F32)], "Pow Mul Add Mul Tanh Add Mul Mul",
              "tanh-GELU decomposed as HF 'gelu_new' exports it: 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3)))",
              domain=(-6, 6))


# ------------------------------------------------------------------ binary / elementwise
@fixture("mul_gemm")
def _mul_gemm(rng):
    g, gi = _gemm(rng, "input", "a", 16, 16)
    return Fx(g + [N("Mul", ["input", "a"], ["output"])], gi, [1, 16], [("output", F32)], "Mul",
              "Mul of two activations: x * Gemm(x)", domain=(-3, 3))


@fixture("mul_const")
def _mul_const(rng):
    return Fx([N("Mul", ["input", "c"], ["output"])], [init("c", _w(rng, 16, scale=1.0))], [1, 16],
              [("output", F32)], "Mul", "x * constant vector [16] (broadcast over batch)",
              domain=(-4, 4))


@fixture("div_const")
def _div_const(rng):
    c = round8(rng.uniform(0.5, 4.0, 16) * np.where(rng.random(16) < 0.5, -1, 1))
    return Fx([N("Div", ["input", "c"], ["output"])], [init("c", c)], [1, 16], [("output", F32)],
              "Div", "x / constant vector [16], |c| in [0.5,4], mixed signs", domain=(-4, 4))


@fixture("div_elementwise")
def _div_elem(rng):
    g, gi = _gemm(rng, "input", "a", 16, 16)
    nodes = g + [N("Abs", ["a"], ["abs"]), N("Add", ["abs", "half"], ["den"]),
                 N("Div", ["input", "den"], ["output"])]
    return Fx(nodes, gi + [init("half", f32(0.5))], [1, 16], [("output", F32)], "Div",
              "x / (|Gemm(x)| + 0.5): elementwise Div of two activations, denominator >= 0.5",
              domain=(-4, 4))


@fixture("div_one_plus_sq")
def _div_sq(rng):
    nodes = [N("Mul", ["input", "input"], ["sq"]), N("Add", ["sq", "one"], ["den"]),
             N("Div", ["input", "den"], ["output"])]
    return Fx(nodes, [init("one", f32(1.0))], [1, 16], [("output", F32)], "Div",
              "x / (1 + x*x): Div with in-graph denominator >= 1", domain=(-6, 6))


def _pow(name, exp, domain, kind, tests):
    @fixture(name)
    def build(rng):
        return Fx([N("Pow", ["input", "exponent"], ["output"])], [init("exponent", f32(exp))],
                  [1, 16], [("output", F32)], "Pow", tests, domain=domain, kind=kind)


_pow("pow_2", 2.0, (-4, 4), "normal", "x^2, scalar float exponent initializer")
_pow("pow_half", 0.5, (0, 16), "positive", "x^0.5 on [0,16] incl. 0")
_pow("pow_3", 3.0, (-3, 3), "normal", "x^3 on [-3,3] (negative bases)")


for _name, _op in (("min_elementwise", "Min"), ("max_elementwise", "Max")):
    def _mk(op):
        def build(rng):
            g, gi = _gemm(rng, "input", "a", 16, 16)
            return Fx(g + [N(op, ["input", "a"], ["output"])], gi, [1, 16], [("output", F32)], op,
                      f"elementwise {op}(x, Gemm(x)) of two activations", domain=(-4, 4))
        return build
    fixture(_name)(_mk(_op))


@fixture("where")
def _where(rng):
    g, gi = _gemm(rng, "input", "a", 16, 16)
    nodes = g + [N("Greater", ["input", "zero"], ["cond"]),
                 N("Where", ["cond", "input", "a"], ["output"])]
    return Fx(nodes, gi + [init("zero", f32(0.0))], [1, 16], [("output", F32)], "Where",
              "Where(x > 0, x, Gemm(x)); zeros sample takes the else branch", domain=(-4, 4))


@fixture("less")
def _less(rng):
    c = _w(rng, 16, scale=1.5)
    return Fx([N("Less", ["input", "thr"], ["output"])], [init("thr", c)], [1, 16], [("output", BOOL)],
              "Less", "x < constant thresholds -> bool; one sample equals the thresholds exactly (all false)",
              domain=(-4, 4), specials=[lambda n, c=c: c.astype(np.float64)])


@fixture("greater")
def _greater(rng):
    g, gi = _gemm(rng, "input", "a", 16, 16)
    return Fx(g + [N("Greater", ["input", "a"], ["output"])], gi, [1, 16], [("output", BOOL)],
              "Greater", "x > Gemm(x) -> bool (two activations)", domain=(-4, 4))


@fixture("equal")
def _equal(rng):
    c = f32(rng.integers(-2, 3, 16))
    nodes = [N("Round", ["input"], ["r"]), N("Equal", ["r", "c"], ["output"])]
    return Fx(nodes, [init("c", c)], [1, 16], [("output", BOOL)], "Equal",
              "Equal(Round(x), integer constants) -> bool; integer-grid samples give exact hits",
              domain=(-3, 3), specials=[_int_grid, lambda n, c=c: c.astype(np.float64)])


def _bool_pair():
    """a = x > 0, b = |x| < 1."""
    nodes = [N("Greater", ["input", "zero"], ["a"]), N("Abs", ["input"], ["abs"]),
             N("Less", ["abs", "one"], ["b"])]
    return nodes, [init("zero", f32(0.0)), init("one", f32(1.0))]


for _name, _op in (("and", "And"), ("or", "Or"), ("xor", "Xor")):
    def _mk_logic(op):
        def build(rng):
            nodes, inits = _bool_pair()
            return Fx(nodes + [N(op, ["a", "b"], ["output"])], inits, [1, 16], [("output", BOOL)], op,
                      f"{op}(x > 0, |x| < 1) on bools from comparisons", domain=(-3, 3),
                      specials=[lambda n: np.resize(f32([0, 1, -1, 0.5, -0.5, 2, -2, 1e-6]), n)])
        return build
    fixture(_name)(_mk_logic(_op))


@fixture("not")
def _not(rng):
    return Fx([N("Greater", ["input", "zero"], ["a"]), N("Not", ["a"], ["output"])],
              [init("zero", f32(0.0))], [1, 16], [("output", BOOL)], "Not", "Not(x > 0) -> bool",
              domain=(-3, 3))


def _row_slice():
    """s = x[:, 0:1, :] -> [1,1,4] from x [1,4,4]."""
    return ([N("Slice", ["input", "s.starts", "s.ends", "s.axes"], ["row"])],
            [init("s.starts", i64([0])), init("s.ends", i64([1])), init("s.axes", i64([1]))])


@fixture("add_broadcast")
def _add_bc(rng):
    nodes, inits = _row_slice()
    return Fx(nodes + [N("Add", ["input", "row"], ["output"])], inits, [1, 4, 4], [("output", F32)],
              "Add", "[1,4,4] + [1,1,4] (second operand = Slice of the input, broadcast on axis 1)")


@fixture("sub_broadcast")
def _sub_bc(rng):
    nodes, inits = _row_slice()
    return Fx(nodes + [N("Sub", ["row", "input"], ["output"])], inits, [1, 4, 4], [("output", F32)],
              "Sub", "[1,1,4] - [1,4,4] (broadcast on the FIRST operand; operand order matters)")


# ------------------------------------------------------------------ reductions
RED_SHAPE = [1, 4, 6]


def _reduce(name, op, axes, keepdims, opset, axes_as_input, tests=""):
    @fixture(name)
    def build(rng):
        inits = []
        ins = ["input"]
        attrs = {"keepdims": keepdims}
        if axes is not None:
            if axes_as_input:
                ins.append("axes")
                inits.append(init("axes", i64(axes)))
            else:
                attrs["axes"] = list(axes)
        form = ("axes input" if axes_as_input else "axes attribute") if axes is not None else "no axes"
        t = f"{op} axes={list(axes) if axes is not None else 'all'} keepdims={keepdims}, opset {opset} ({form})"
        return Fx([N(op, ins, ["output"], **attrs)], inits, RED_SHAPE, [("output", F32)], op,
                  t + (f"; {tests}" if tests else ""), opset=opset, domain=(-4, 4))


_reduce("reducesum", "ReduceSum", [-1], 1, 13, True)
_reduce("reducesum_nokeep", "ReduceSum", [1], 0, 13, True)
_reduce("reducesum_all", "ReduceSum", None, 0, 13, True, "rank-0 output (scalar)")
_reduce("reducemean", "ReduceMean", [-1], 1, 13, False)
_reduce("reducemean_nokeep", "ReduceMean", [1, 2], 0, 13, False, "two axes")
_reduce("reducemax", "ReduceMax", [-1], 0, 13, False)
_reduce("reducemin", "ReduceMin", [1], 1, 13, False)
_reduce("reducel1", "ReduceL1", [-1], 1, 13, False)
_reduce("reducel2", "ReduceL2", [-1], 0, 13, False)
_reduce("reducesumsquare", "ReduceSumSquare", [1], 1, 13, False)
_reduce("reducelogsumexp", "ReduceLogSumExp", [-1], 1, 13, False)
_reduce("reducemean_op18", "ReduceMean", [-1], 1, 18, True)
_reduce("reducemax_op18", "ReduceMax", [1], 0, 18, True)
_reduce("reducelogsumexp_op18", "ReduceLogSumExp", [-1], 0, 18, True)


def _arg(name, op, axis, keepdims, last, tests):
    @fixture(name)
    def build(rng):
        attrs = {"axis": axis, "keepdims": keepdims}
        if last:
            attrs["select_last_index"] = 1
        return Fx([N(op, ["input"], ["output"], **attrs)], [], RED_SHAPE, [("output", I64)], op, tests,
                  domain=(-4, 4), specials=[_ties])


_arg("argmax", "ArgMax", -1, 1, False, "axis=-1 keepdims=1 -> int64; ties (zeros, repeated max) pick the FIRST index")
_arg("argmax_last", "ArgMax", -1, 0, True, "axis=-1 keepdims=0 select_last_index=1: ties pick the LAST index")
_arg("argmin", "ArgMin", 1, 0, False, "axis=1 keepdims=0 -> int64 [1,6]; ties pick the first index")


def _topk(name, largest, tests):
    @fixture(name)
    def build(rng):
        return Fx([N("TopK", ["input", "k"], ["output", "indices"], axis=-1, largest=largest, sorted=1)],
                  [init("k", i64([3]))], [1, 2, 8], [("output", F32), ("indices", I64)], "TopK", tests,
                  domain=(-4, 4), specials=[_ties])


_topk("topk", 1, "k=3 (int64 [1] initializer), axis=-1, largest: outputs values and int64 indices; "
      "equal values -> lower index first")
_topk("topk_smallest", 0, "k=3, largest=0 (3 smallest, ascending)")


@fixture("cumsum")
def _cumsum(rng):
    return Fx([N("CumSum", ["input", "axis"], ["output"])], [init("axis", i64(-1))], RED_SHAPE,
              [("output", F32)], "CumSum", "axis=-1 (int64 scalar initializer), inclusive, forward")


@fixture("cumsum_exclusive_reverse")
def _cumsum2(rng):
    return Fx([N("CumSum", ["input", "axis"], ["output"], exclusive=1, reverse=1)], [init("axis", i64(1))],
              RED_SHAPE, [("output", F32)], "CumSum", "axis=1, exclusive=1, reverse=1")


# ------------------------------------------------------------------ norms
@fixture("batchnorm")
def _bn(rng):
    c = 3
    inits = [init("bn.scale", _w(rng, c, scale=1.0)), init("bn.bias", _w(rng, c, scale=0.5)),
             init("bn.mean", _w(rng, c, scale=1.0)), init("bn.var", round8(rng.uniform(0.25, 2.0, c)))]
    return Fx([N("BatchNormalization", ["input", "bn.scale", "bn.bias", "bn.mean", "bn.var"], ["output"],
                 epsilon=1e-5)], inits, [1, 3, 4, 4], [("output", F32)], "BatchNormalization",
              "inference mode, constant scale/bias/mean/var [3], epsilon=1e-5")


@fixture("layernorm")
def _ln(rng):
    inits = [init("ln.scale", round8(1 + 0.3 * rng.normal(size=8))), init("ln.bias", _w(rng, 8, scale=0.3))]
    return Fx([N("LayerNormalization", ["input", "ln.scale", "ln.bias"], ["output"], axis=-1, epsilon=1e-5)],
              inits, [1, 4, 8], [("output", F32)], "LayerNormalization",
              "opset 17, axis=-1 over [1,4,8], scale/bias [8], epsilon=1e-5; constant rows -> output = bias",
              opset=17)


@fixture("layernorm_decomposed")
def _ln_dec(rng):
    nodes = [N("ReduceMean", ["input"], ["mean"], axes=[-1], keepdims=1),
             N("Sub", ["input", "mean"], ["d"]),
             N("Pow", ["d", "two"], ["d2"]),
             N("ReduceMean", ["d2"], ["var"], axes=[-1], keepdims=1),
             N("Add", ["var", "eps"], ["ve"]),
             N("Sqrt", ["ve"], ["std"]),
             N("Div", ["d", "std"], ["n"]),
             N("Mul", ["n", "ln.scale"], ["ns"]),
             N("Add", ["ns", "ln.bias"], ["output"])]
    inits = [init("two", f32(2.0)), init("eps", f32(1e-5)),
             init("ln.scale", round8(1 + 0.3 * rng.normal(size=8))), init("ln.bias", _w(rng, 8, scale=0.3))]
    return Fx(nodes, inits, [1, 4, 8], [("output", F32)],
              "ReduceMean Sub Pow ReduceMean Add Sqrt Div Mul Add",
              "LayerNorm as torch.onnx exports it below opset 17")


@fixture("instancenorm")
def _in(rng):
    inits = [init("in.scale", round8(1 + 0.3 * rng.normal(size=3))), init("in.bias", _w(rng, 3, scale=0.3))]
    return Fx([N("InstanceNormalization", ["input", "in.scale", "in.bias"], ["output"], epsilon=1e-5)],
              inits, [1, 3, 4, 4], [("output", F32)], "InstanceNormalization",
              "per (n,c) over H,W, scale/bias [3], epsilon=1e-5")


# ------------------------------------------------------------------ shape ops
@fixture("concat")
def _concat(rng):
    return Fx([N("Concat", ["input", "c", "input"], ["output"], axis=1)], [init("c", _w(rng, 1, 1, 4))],
              [1, 2, 4], [("output", F32)], "Concat",
              "Concat(x, const [1,1,4], x) on axis 1 -> [1,5,4]: constant operand, input used twice")


@fixture("concat_neg_axis")
def _concat2(rng):
    return Fx([N("Neg", ["input"], ["n"]), N("Concat", ["n", "input"], ["output"], axis=-1)], [],
              [1, 2, 4], [("output", F32)], "Concat", "Concat(-x, x) on axis -1 -> [1,2,8]")


@fixture("slice_steps")
def _slice(rng):
    inits = [init("starts", i64([1, -3])), init("ends", i64([7, 100])), init("axes", i64([2, 1])),
             init("steps", i64([2, 1]))]
    return Fx([N("Slice", ["input", "starts", "ends", "axes", "steps"], ["output"])], inits, [1, 4, 8],
              [("output", F32)], "Slice",
              "axes=[2,1] (unsorted), starts=[1,-3], ends=[7,100] (clamped), steps=[2,1] -> [1,3,3]")


@fixture("slice_reverse")
def _slice_rev(rng):
    inits = [init("starts", i64([-1, 6])), init("ends", i64([INT64_MIN, 0])), init("axes", i64([1, 2])),
             init("steps", i64([-1, -2]))]
    return Fx([N("Slice", ["input", "starts", "ends", "axes", "steps"], ["output"])], inits, [1, 4, 8],
              [("output", F32)], "Slice",
              "negative steps: axis 1 reversed (start -1, end INT64_MIN as torch.flip exports), "
              "axis 2 start 6 end 0 step -2 -> [1,4,3]")


@fixture("split")
def _split(rng):
    return Fx([N("Split", ["input", "split"], ["output", "output1"], axis=-1)], [init("split", i64([2, 6]))],
              [1, 2, 8], [("output", F32), ("output1", F32)], "Split",
              "opset 13, split=[2,6] as int64 input, axis=-1 -> [1,2,2] and [1,2,6]")


@fixture("split_equal")
def _split_eq(rng):
    return Fx([N("Split", ["input"], ["output", "output1"], axis=1)], [],
              [1, 4, 4], [("output", F32), ("output1", F32)], "Split",
              "no split input: equal halves on axis 1 -> 2 x [1,2,4]")


@fixture("gather_axis0")
def _gather0(rng):
    return Fx([N("Gather", ["input", "idx"], ["output"], axis=0)], [init("idx", i64([4, 0, -1, 2]))],
              [6, 4], [("output", F32)], "Gather",
              "axis=0 on [6,4] (leading dim is not a batch of 1), indices [4,0,-1,2] incl. negative -> [4,4]")


@fixture("gather_axis1")
def _gather1(rng):
    return Fx([N("Gather", ["input", "idx"], ["output"], axis=1)], [init("idx", i64([[0, 2], [5, -2]]))],
              [1, 6, 4], [("output", F32)], "Gather", "axis=1, 2-D indices [[0,2],[5,-2]] -> [1,2,2,4]")


@fixture("gather_scalar")
def _gather_s(rng):
    return Fx([N("Gather", ["input", "idx"], ["output"], axis=1)], [init("idx", i64(-1))],
              [1, 4, 8], [("output", F32)], "Gather",
              "axis=1, rank-0 index -1 (last token, rank drops) -> [1,8]")


@fixture("gatherelements")
def _gather_el(rng):
    idx = i64([[[0, 3], [-1, 1], [2, -4]]])
    return Fx([N("GatherElements", ["input", "idx"], ["output"], axis=2)], [init("idx", idx)],
              [1, 3, 4], [("output", F32)], "GatherElements",
              "axis=2, const indices [1,3,2] incl. negatives -> [1,3,2]")


@fixture("gathernd")
def _gather_nd(rng):
    idx = i64([[0, 2], [0, 0], [0, 1]])
    return Fx([N("GatherND", ["input", "idx"], ["output"])], [init("idx", idx)], [1, 3, 4],
              [("output", F32)], "GatherND", "batch_dims=0, indices [3,2] -> slices [3,4]")


# ------------------------------------------------------------------ scatter
def _pair_positions(cond: str, out: str):
    """Run-time ScatterND indices [1,4,2] = (0, 2j + Cast(cond_j)), j = 0..3, from a bool [1,4]:
    each column lands in its own pair {2j, 2j+1}, so the 4 positions are always distinct."""
    nodes = [N("Cast", [cond], [f"{out}.bit"], to=I64),
             N("Add", [f"{out}.bit", f"{out}.base"], [f"{out}.col"]),
             N("Unsqueeze", [f"{out}.col", f"{out}.axes"], [f"{out}.col3"]),
             N("Concat", [f"{out}.row", f"{out}.col3"], [out], axis=-1)]
    inits = [init(f"{out}.base", i64([0, 2, 4, 6])), init(f"{out}.axes", i64([-1])),
             init(f"{out}.row", np.zeros((1, 4, 1), np.int64))]
    return nodes, inits


@fixture("scatternd")
def _scatternd(rng):
    g, gi = _gemm(rng, "input", "data", 8, 8)
    nodes = g + [N("Slice", ["input", "h.starts", "h.ends", "h.axes"], ["head"]),
                 N("Slice", ["input", "t.starts", "t.ends", "h.axes"], ["tail"]),
                 N("Greater", ["head", "zero"], ["pos"])]
    inits = gi + [init("h.starts", i64([0])), init("h.ends", i64([4])), init("h.axes", i64([1])),
                  init("t.starts", i64([4])), init("t.ends", i64([8])), init("zero", f32(0.0))]
    pn, pi = _pair_positions("pos", "idx")
    return Fx(nodes + pn + [N("ScatterND", ["data", "idx", "tail"], ["output"])], inits + pi, [1, 8],
              [("output", F32)], "ScatterND",
              "opset 13, data = Gemm(x) [1,8], run-time indices [1,4,2] = (0, 2j + Cast(x_j > 0)) "
              "for j=0..3 (Greater/Cast/Add/Unsqueeze/Concat; distinct by construction), updates = "
              "x[:,4:8]; the 4 other positions keep Gemm(x); zeros row -> all even positions",
              domain=(-4, 4), specials=[_tiny])


@fixture("scatternd_const_data")
def _scatternd_cd(rng):
    nodes = [N("ConstantOfShape", ["shape"], ["data"], value=helper.make_tensor("value", F32, [1], [0.0])),
             N("Slice", ["input", "e.starts", "s.ends", "s.axes", "s.steps"], ["even"]),
             N("Slice", ["input", "o.starts", "s.ends", "s.axes", "s.steps"], ["odd"]),
             N("Greater", ["odd", "even"], ["pos"]),
             N("Max", ["even", "odd"], ["upd"])]
    inits = [init("shape", i64([1, 8])), init("e.starts", i64([0])), init("o.starts", i64([1])),
             init("s.ends", i64([8])), init("s.axes", i64([1])), init("s.steps", i64([2]))]
    pn, pi = _pair_positions("pos", "idx")
    return Fx(nodes + pn + [N("ScatterND", ["data", "idx", "upd"], ["output"])], inits + pi, [1, 8],
              [("output", F32)], "ScatterND",
              "opset 13, data = ConstantOfShape([1,8], 0.0) (constant zeros, as tf2onnx exports "
              "tf.scatter_nd), run-time indices (0, 2j + Cast(x_2j+1 > x_2j)), updates = "
              "Max(x_2j, x_2j+1): MaxUnpool-like, each pair's max kept in place, the other zeroed; "
              "equal pairs pick the even slot",
              domain=(-4, 4), specials=[lambda n: np.resize(f32([1, 1, -2, -2, 0, 0, 3, 3]), n), _ties])


@fixture("scatternd_slices")
def _scatternd_sl(rng):
    nodes = [N("Slice", ["input", "c.starts", "c.ends", "c.axes"], ["col0"]),
             N("Reshape", ["col0", "pairs.shape"], ["pairs"]),
             N("Slice", ["pairs", "c.starts", "c.ends", "c.axes"], ["a"]),
             N("Slice", ["pairs", "c.ends", "b.ends", "c.axes"], ["b"]),
             N("Greater", ["a", "b"], ["pos"]),
             N("Cast", ["pos"], ["bit"], to=I64),
             N("Add", ["bit", "base"], ["idx"]),
             N("Slice", ["input", "c.ends", "u.ends", "r.axes"], ["rows"]),
             N("Neg", ["rows"], ["upd"]),
             N("ScatterND", ["input", "idx", "upd"], ["output"])]
    inits = [init("c.starts", i64([0])), init("c.ends", i64([1])), init("c.axes", i64([1])),
             init("b.ends", i64([2])), init("pairs.shape", i64([2, 2])), init("base", i64([[0], [2]])),
             init("u.ends", i64([3])), init("r.axes", i64([0]))]
    return Fx(nodes, inits, [4, 3], [("output", F32)], "ScatterND",
              "opset 13, slice updates (index depth 1 < rank 2): data = x [4,3], run-time row indices "
              "[2,1] = [[Cast(x00 > x10)], [2 + Cast(x20 > x30)]], updates = -x[1:3] [2,3] (whole rows)",
              domain=(-4, 4), specials=[_ties])


@fixture("scatterelements")
def _scatter_el(rng):
    nodes = [N("TopK", ["input", "k"], ["vals", "idx"], axis=1, largest=1, sorted=1),
             N("Mul", ["vals", "scale"], ["upd"]),
             N("ScatterElements", ["input", "idx", "upd"], ["output"], axis=1)]
    return Fx(nodes, [init("k", i64([3])), init("scale", f32([-1.0, 0.5, 2.0]))], [3, 6], [("output", F32)],
              "ScatterElements",
              "opset 13 (no reduction attr), axis=1 on [3,6]: run-time indices = TopK(x, 3) indices "
              "(distinct within each row; ties -> lower index first), updates = top-3 values * "
              "[-1, 0.5, 2]; the 3 other entries per row keep x",
              domain=(-4, 4), specials=[_ties])


@fixture("scatterelements_const_idx")
def _scatter_el_c(rng):
    idx = i64([[0, 5], [-1, 2], [3, -6]])
    nodes = [N("Slice", ["input", "starts", "ends", "axes"], ["cols"]), N("Neg", ["cols"], ["upd"]),
             N("ScatterElements", ["input", "idx", "upd"], ["output"], axis=1, reduction="none")]
    inits = [init("idx", idx), init("starts", i64([2])), init("ends", i64([4])), init("axes", i64([1]))]
    return Fx(nodes, inits, [3, 6], [("output", F32)], "ScatterElements",
              "opset 16, reduction=\"none\" (explicit), axis=1, constant indices [3,2] = "
              "[[0,5],[-1,2],[3,-6]] incl. negatives (-1 -> 5, -6 -> 0), updates = -x[:,2:4]",
              opset=16, domain=(-4, 4))


@fixture("scatterelements_onehot")
def _scatter_el_oh(rng):
    nodes = [N("ArgMax", ["input"], ["am"], axis=1, keepdims=1),
             N("Shape", ["input"], ["shape"]),
             N("ConstantOfShape", ["shape"], ["zeros"], value=helper.make_tensor("value", F32, [1], [0.0])),
             N("ScatterElements", ["zeros", "am", "ones"], ["output"], axis=1)]
    return Fx(nodes, [init("ones", np.ones((3, 1), np.float32))], [3, 6], [("output", F32)],
              "ScatterElements",
              "opset 13, one-hot of the row argmax: ScatterElements(ConstantOfShape(Shape(x), 0), "
              "ArgMax(x, axis=1, keepdims=1) [3,1], ones [3,1], axis=1) -> [3,6] (torch "
              "zeros_like(x).scatter_(1, x.argmax(1, keepdim=True), 1.0)); ties -> first index",
              domain=(-4, 4), specials=[_ties])


@fixture("transpose")
def _transpose(rng):
    return Fx([N("Transpose", ["input"], ["output"], perm=[0, 2, 3, 1])], [], [1, 2, 3, 4],
              [("output", F32)], "Transpose", "perm=[0,2,3,1] (NCHW->NHWC) -> [1,3,4,2]")


def _pad(name, mode, tests):
    @fixture(name)
    def build(rng):
        ins = ["input", "pads"]
        inits = [init("pads", i64([0, 0, 1, 2, 0, 0, 2, 1]))]
        if mode == "constant":
            ins.append("value")
            inits.append(init("value", f32(1.5)))
        return Fx([N("Pad", ins, ["output"], mode=mode)], inits, [1, 2, 3, 3], [("output", F32)], "Pad",
                  f"opset 13 (pads input), mode={mode}, pads H 1/2 W 2/1 (asymmetric) -> [1,2,6,6]; " + tests)


_pad("pad_constant", "constant", "constant_value 1.5 (non-zero)")
_pad("pad_reflect", "reflect", "reflect excludes the edge")
_pad("pad_edge", "edge", "edge replicates the border")


@fixture("squeeze")
def _squeeze(rng):
    return Fx([N("Squeeze", ["input", "axes"], ["output"])], [init("axes", i64([2]))], [1, 4, 1, 4],
              [("output", F32)], "Squeeze", "opset 13 axes input [2]: [1,4,1,4] -> [1,4,4]")


@fixture("unsqueeze")
def _unsqueeze(rng):
    return Fx([N("Unsqueeze", ["input", "axes"], ["output"])], [init("axes", i64([1, -1]))], [1, 4, 4],
              [("output", F32)], "Unsqueeze",
              "opset 13 axes input [1,-1] (negative = relative to OUTPUT rank): [1,4,4] -> [1,1,4,4,1]")


@fixture("expand")
def _expand(rng):
    return Fx([N("Expand", ["input", "shape"], ["output"])], [init("shape", i64([2, 1, 4, 3]))], [1, 4, 1],
              [("output", F32)], "Expand", "[1,4,1] expanded by shape [2,1,4,3] (rank grows) -> [2,1,4,3]")


@fixture("tile")
def _tile(rng):
    return Fx([N("Tile", ["input", "repeats"], ["output"])], [init("repeats", i64([1, 2, 2]))], [1, 2, 3],
              [("output", F32)], "Tile", "repeats [1,2,2]: [1,2,3] -> [1,4,6]")


@fixture("identity")
def _identity(rng):
    return Fx([N("Identity", ["input"], ["output"])], [], [1, 16], [("output", F32)], "Identity", "y = x")


@fixture("cast")
def _cast(rng):
    return Fx([N("Cast", ["input"], ["output"], to=F32)], [], [1, 16], [("output", F32)], "Cast",
              "float -> float (no-op Cast)")


@fixture("cast_int_roundtrip")
def _cast_int(rng):
    return Fx([N("Cast", ["input"], ["i"], to=I32), N("Cast", ["i"], ["output"], to=F32)], [], [1, 16],
              [("output", F32)], "Cast",
              "float -> int32 -> float: truncation toward zero (-1.5 -> -1, 1.999 -> 1)",
              domain=(-5, 5), specials=[_half_grid, _near_half, _int_grid])


@fixture("shape_constantofshape")
def _shape_cos(rng):
    nodes = [N("Shape", ["input"], ["shape"]),
             N("ConstantOfShape", ["shape"], ["c"], value=helper.make_tensor("value", F32, [1], [1.5])),
             N("Add", ["input", "c"], ["output"])]
    return Fx(nodes, [], [1, 2, 4], [("output", F32)], "Shape ConstantOfShape",
              "x + ConstantOfShape(Shape(x), value=1.5): int64 shape tensor feeding a constant")


@fixture("resize_nearest")
def _resize_n(rng):
    return Fx([N("Resize", ["input", "", "scales"], ["output"], mode="nearest",
                 coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
              [init("scales", f32([1, 1, 2, 2]))], [1, 2, 3, 3], [("output", F32)], "Resize",
              "opset 13, scales [1,1,2,2], empty roi input, nearest + asymmetric + floor (torch Upsample "
              "nearest export) -> [1,2,6,6]")


@fixture("resize_linear")
def _resize_l(rng):
    return Fx([N("Resize", ["input", "", "scales"], ["output"], mode="linear",
                 coordinate_transformation_mode="half_pixel")],
              [init("scales", f32([1, 1, 2, 2]))], [1, 2, 3, 3], [("output", F32)], "Resize",
              "opset 13, scales [1,1,2,2], bilinear, half_pixel (edge-clamped) -> [1,2,6,6]")


@fixture("convtranspose")
def _convt(rng):
    inits = [init("w", _w(rng, 2, 3, 3, 3, scale=0.4)), init("b", _w(rng, 3, scale=0.1))]
    return Fx([N("ConvTranspose", ["input", "w", "b"], ["output"], kernel_shape=[3, 3], strides=[2, 2],
                 pads=[1, 1, 1, 1], output_padding=[1, 1])], inits, [1, 2, 3, 3], [("output", F32)],
              "ConvTranspose",
              "2->3 channels, W [C_in=2,C_out=3,3,3], stride 2, pads 1, output_padding 1, bias -> [1,3,6,6]")


@fixture("conv1d")
def _conv1d(rng):
    inits = [init("w", _w(rng, 3, 2, 3, scale=0.4)), init("b", _w(rng, 3, scale=0.1))]
    return Fx([N("Conv", ["input", "w", "b"], ["output"], kernel_shape=[3], pads=[1, 1])], inits,
              [1, 2, 10], [("output", F32)], "Conv", "1-D Conv 2->3, k=3, pad 1, bias: [1,2,10] -> [1,3,10]")


@fixture("conv1d_dilated")
def _conv1d_d(rng):
    inits = [init("w", _w(rng, 3, 2, 3, scale=0.4))]
    return Fx([N("Conv", ["input", "w"], ["output"], kernel_shape=[3], pads=[2, 2], strides=[2],
                 dilations=[2])], inits, [1, 2, 10], [("output", F32)], "Conv",
              "1-D Conv no bias, k=3, dilation 2, stride 2, pad 2 -> [1,3,5]")


@fixture("lppool")
def _lppool(rng):
    return Fx([N("LpPool", ["input"], ["output"], kernel_shape=[2, 2], strides=[2, 2], p=2)], [],
              [1, 2, 4, 4], [("output", F32)], "LpPool", "p=2 (sqrt of sum of squares), 2x2 stride 2 -> [1,2,2,2]")


@fixture("depthtospace")
def _d2s(rng):
    return Fx([N("DepthToSpace", ["input"], ["output"], blocksize=2, mode="DCR")], [], [1, 8, 2, 2],
              [("output", F32)], "DepthToSpace", "blocksize 2, mode DCR (default) -> [1,2,4,4]")


@fixture("depthtospace_crd")
def _d2s_crd(rng):
    return Fx([N("DepthToSpace", ["input"], ["output"], blocksize=2, mode="CRD")], [], [1, 8, 2, 2],
              [("output", F32)], "DepthToSpace", "blocksize 2, mode CRD (pixel shuffle) -> [1,2,4,4]")


@fixture("spacetodepth")
def _s2d(rng):
    return Fx([N("SpaceToDepth", ["input"], ["output"], blocksize=2)], [], [1, 2, 4, 4],
              [("output", F32)], "SpaceToDepth", "blocksize 2 -> [1,8,2,2]")


@fixture("trilu_upper")
def _triu(rng):
    return Fx([N("Trilu", ["input"], ["output"])], [], [1, 4, 4], [("output", F32)], "Trilu",
              "opset 14, upper (default), no k input (k=0)", opset=14)


@fixture("trilu_lower")
def _tril(rng):
    return Fx([N("Trilu", ["input", "k"], ["output"], upper=0)], [init("k", i64(-1))], [1, 4, 5],
              [("output", F32)], "Trilu", "opset 14, upper=0, k=-1 (strictly lower) on non-square [1,4,5]",
              opset=14)


@fixture("range_add")
def _range(rng):
    inits = [init("start", f32(-2.0)), init("limit", f32(6.0)), init("delta", f32(0.5))]
    return Fx([N("Range", ["start", "limit", "delta"], ["r"]), N("Add", ["input", "r"], ["output"])], inits,
              [1, 16], [("output", F32)], "Range",
              "x + Range(-2.0, 6.0, 0.5) (16 floats from constant scalar inputs, broadcast to [1,16])")


@fixture("eyelike")
def _eyelike(rng):
    return Fx([N("EyeLike", ["input"], ["eye"], k=1), N("Mul", ["input", "eye"], ["output"])], [], [4, 6],
              [("output", F32)], "EyeLike", "x * EyeLike(x, k=1) on 2-D [4,6]: keeps the first superdiagonal")


# ------------------------------------------------------------------ attention
@fixture("matmul_xxt")
def _xxt(rng):
    return Fx([N("Transpose", ["input"], ["xt"], perm=[0, 2, 1]), N("MatMul", ["input", "xt"], ["output"])],
              [], [1, 4, 8], [("output", F32)], "MatMul",
              "batched MatMul of two activations: x [1,4,8] @ x^T [1,8,4] -> [1,4,4]", domain=(-3, 3))


def _attention(rng, causal: bool):
    t, d = 4, 8
    s = 1.0 / np.sqrt(d)
    inits = [init("wq", _w(rng, d, d, scale=s)), init("wk", _w(rng, d, d, scale=s)),
             init("wv", _w(rng, d, d, scale=s)), init("scale", f32(np.sqrt(d)))]
    nodes = [N("MatMul", ["input", "wq"], ["q"]), N("MatMul", ["input", "wk"], ["k"]),
             N("MatMul", ["input", "wv"], ["v"]), N("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
             N("MatMul", ["q", "kt"], ["scores"]), N("Div", ["scores", "scale"], ["scaled"])]
    last = "scaled"
    if causal:
        mask = np.triu(np.full((t, t), -10000.0, np.float32), 1)[None]
        inits.append(init("mask", mask))
        nodes.append(N("Add", ["scaled", "mask"], ["masked"]))
        last = "masked"
    nodes += [N("Softmax", [last], ["attn"], axis=-1), N("MatMul", ["attn", "v"], ["output"])]
    what = " + additive causal mask (-10000 above the diagonal)" if causal else ""
    return Fx(nodes, inits, [1, t, d], [("output", F32)], "MatMul Transpose Div Softmax",
              f"single-head attention T=4 d=8: q,k,v = x W; softmax(q k^T / sqrt(8)){what} v", domain=(-3, 3))


fixture("attention")(lambda rng: _attention(rng, False))
fixture("attention_causal")(lambda rng: _attention(rng, True))


# ------------------------------------------------------------------ recurrent
SEQ, IN, HID = 3, 5, 4


def _rnn(name, op, gates, extra_attrs, outs, tests):
    @fixture(name)
    def build(rng):
        inits = [init("W", _w(rng, 1, gates * HID, IN)), init("R", _w(rng, 1, gates * HID, HID)),
                 init("B", _w(rng, 1, 2 * gates * HID, scale=0.2))]
        node = N(op, ["input", "W", "R", "B"], [o for o, _ in outs], hidden_size=HID, **extra_attrs)
        return Fx([node], inits, [SEQ, 1, IN], outs, op, tests, domain=(-2, 2))


_rnn("lstm", "LSTM", 4, {}, [("output", F32), ("Y_h", F32), ("Y_c", F32)],
     "forward LSTM, seq 3, batch 1, input 5, hidden 4, gates iofc, W/R/B given, zero initial state; "
     "outputs Y [3,1,1,4], Y_h, Y_c [1,1,4]")
_rnn("gru", "GRU", 3, {"linear_before_reset": 1}, [("output", F32), ("Y_h", F32)],
     "forward GRU, linear_before_reset=1 (as PyTorch exports), gates zrh; outputs Y [3,1,1,4], Y_h [1,1,4]")
_rnn("gru_lbr0", "GRU", 3, {}, [("output", F32), ("Y_h", F32)],
     "forward GRU, linear_before_reset=0 (ONNX default)")
_rnn("rnn", "RNN", 1, {}, [("output", F32), ("Y_h", F32)],
     "forward vanilla RNN, tanh; outputs Y [3,1,1,4], Y_h [1,1,4]")


# ------------------------------------------------------------------ int8 QDQ
def _qdq(name, op, attrs, shape, s_in, s_out, zp_out, tests):
    @fixture(name)
    def build(rng):
        nodes = [N("QuantizeLinear", ["input", "x_scale", "x_zero_point"], ["xq"]),
                 N("DequantizeLinear", ["xq", "x_scale", "x_zero_point"], ["xdq"]),
                 N(op, ["xdq"], ["y"], **attrs),
                 N("QuantizeLinear", ["y", "y_scale", "y_zero_point"], ["yq"]),
                 N("DequantizeLinear", ["yq", "y_scale", "y_zero_point"], ["output"])]
        inits = [init("x_scale", f32(s_in)), init("x_zero_point", np.array(0, np.int8)),
                 init("y_scale", f32(s_out)), init("y_zero_point", np.array(zp_out, np.int8))]
        lo, hi = -128 * s_in, 127 * s_in
        return Fx(nodes, inits, shape, [("output", F32)], f"QuantizeLinear DequantizeLinear {op}",
                  f"int8 QDQ: Q/DQ(x_scale={s_in:g}, zp 0) -> {op} -> Q/DQ(y_scale={np.float32(s_out):.8g}, "
                  f"zp {zp_out}); " + tests,
                  domain=(lo, hi), kind="int8", q_scale=s_in)


_qdq("sigmoid_int8", "Sigmoid", {}, [1, 16], 3 / 64, 1 / 256, -128, "output grid 1/256 over [0,1)")
_qdq("tanh_int8", "Tanh", {}, [1, 16], 1 / 32, 1 / 128, 0, "output grid 1/128 over [-1,1)")
_qdq("exp_int8", "Exp", {}, [1, 16], 1 / 32, 53 / 255, -128, "input [-4,3.97], output [0,53]")
_qdq("softmax_int8", "Softmax", {"axis": -1}, [1, 4, 8], 1 / 16, 1 / 256, -128,
     "axis=-1; a dominant entry saturates at 127 -> 0.99609375")


# ------------------------------------------------------------------ tree ensembles (ai.onnx.ml)
# Trained with scikit-learn on its bundled data sets, converted with skl2onnx
# (pinned in requirements.txt); only the nodes are kept, with the graph output
# renamed to "output" (label / prediction). Thresholds are float32 (skl2onnx
# casts sklearn's float64 midpoints), compared as x <= t (BRANCH_LEQ).
TREE_LEAF_SPECIALS = 4  # real data rows
TREE_THR_SPECIALS = 4  # rows with one feature exactly on a split threshold
FAR = 1e4  # "far outside the data range" rows: all -FAR, all +FAR


def _ort_bytes(model: onnx.ModelProto):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _skl2onnx(est, rename: dict, classifier: bool):
    """skl2onnx graph of est (input "input" float [1,4], opsets {"": 13, ai.onnx.ml: 3}),
    ZipMap disabled; returns (nodes, initializers, [(output, type)])."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    m = convert_sklearn(est, initial_types=[("input", FloatTensorType([1, 4]))],
                        target_opset={"": 13, ML: 3},
                        options={id(est): {"zipmap": False}} if classifier else None)
    assert [i.name for i in m.graph.input] == ["input"] and not m.graph.initializer
    nodes = []
    for n in m.graph.node:
        assert n.op_type != "ZipMap"
        n = onnx.NodeProto.FromString(n.SerializeToString())
        for field_ in (n.input, n.output):
            for i, v in enumerate(field_):
                field_[i] = rename.get(v, v)
        nodes.append(n)
    outs = [(rename.get(o.name, o.name), o.type.tensor_type.elem_type) for o in m.graph.output]
    assert outs[0][0] == "output", outs
    return nodes, [], outs


def _attr(node, name):
    return next(helper.get_attribute_value(a) for a in node.attribute if a.name == name)


def _tree_rows(name, fx: Fx, x: np.ndarray, data_rows: list, data_name: str) -> Fx:
    """Fill fx.specials: TREE_LEAF_SPECIALS real rows, TREE_THR_SPECIALS threshold rows (a real
    row with one feature set to a float32 split threshold, chosen so that BRANCH_LT would give a
    different output than BRANCH_LEQ), all -FAR, all +FAR. Descriptions go to meta.special_rows."""
    tree = next(n for n in fx.nodes if n.op_type.startswith("TreeEnsemble"))
    modes = [m.decode() for m in _attr(tree, "nodes_modes")]
    assert set(modes) == {"BRANCH_LEQ", "LEAF"}, set(modes)
    lt_tree = onnx.NodeProto.FromString(tree.SerializeToString())
    for a in lt_tree.attribute:
        if a.name == "nodes_modes":
            a.strings[:] = [b"BRANCH_LT" if m == "BRANCH_LEQ" else m.encode() for m in modes]
    lt_fx = Fx([lt_tree if n is tree else n for n in fx.nodes], fx.inits, fx.in_shape, fx.outputs, fx.op,
               fx.tests, opset=fx.opset, ml_opset=fx.ml_opset)
    leq, lt = _ort_bytes(build_model(name, fx)), _ort_bytes(build_model(name, lt_fx))

    def run(sess, row):
        return [np.asarray(o) for o in sess.run(None, {"input": row.reshape(fx.in_shape).astype(np.float32)})]

    rows, notes = [], []
    for r in data_rows[:TREE_LEAF_SPECIALS]:
        assert np.array_equal(round8(x[r]), x[r])
        rows.append(x[r])
        notes.append(f"{data_name} row {r}")
    feats, vals = _attr(tree, "nodes_featureids"), _attr(tree, "nodes_values")
    tids, nids = _attr(tree, "nodes_treeids"), _attr(tree, "nodes_nodeids")
    seen = set()
    for i, m in enumerate(modes):
        if len(rows) == TREE_LEAF_SPECIALS + TREE_THR_SPECIALS:
            break
        t = np.float32(vals[i])
        if m == "LEAF" or (feats[i], t) in seen or round8(t) != t:
            continue
        seen.add((feats[i], t))
        for r in range(len(x)):
            row = x[r].copy()
            row[feats[i]] = t
            a, b = run(leq, row), run(lt, row)
            if any(not np.array_equal(p, q) for p, q in zip(a, b)):
                rows.append(row)
                notes.append(f"{data_name} row {r} with x[{feats[i]}] = {float(t):.8g} = threshold of "
                             f"tree {tids[i]} node {nids[i]} (LEQ and LT differ)")
                break
    assert len(rows) == TREE_LEAF_SPECIALS + TREE_THR_SPECIALS, (name, len(rows))
    rows += [np.full(4, -FAR, np.float32), np.full(4, FAR, np.float32)]
    notes += [f"all {-FAR:g}", f"all {FAR:g}"]
    fx.specials = [lambda n, r=r: r.astype(np.float64) for r in rows]
    fx.meta["special_rows"] = {str(6 + k): v for k, v in enumerate(notes)}
    return fx


def _skl_version():
    import skl2onnx
    import sklearn
    return f"scikit-learn {sklearn.__version__}, skl2onnx {skl2onnx.__version__}"


@fixture("tree_classifier")
def _tree_clf(rng):
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier
    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    est = DecisionTreeClassifier(max_depth=4, random_state=0).fit(x, y)
    nodes, inits, outs = _skl2onnx(est, {"label": "output"}, True)
    proba = est.predict_proba(x)
    fx = Fx(nodes, inits, [1, 4], outs, "TreeEnsembleClassifier",
            "sklearn DecisionTreeClassifier(max_depth=4) on iris (4 features, 3 classes) via skl2onnx "
            "(zipmap=False): one tree, nodes_modes BRANCH_LEQ/LEAF (x <= float32 threshold -> true "
            "branch), class_weights = leaf class fractions, classlabels_int64s [0,1,2], post_transform "
            "NONE; outputs label int64 [1] (`output`) and probabilities [1,3]; samples: iris rows, "
            "threshold rows, +-1e4",
            domain=(-2, 10), ml_opset=3, meta={"exporter": _skl_version()})
    # setosa, versicolor, virginica, and the first row that lands in an impure leaf
    impure = int(np.flatnonzero(proba.max(1) < 1)[0])
    return _tree_rows("tree_classifier", fx, x, [0, 60, 110, impure], "iris")


@fixture("forest_regressor")
def _forest_reg(rng):
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import RandomForestRegressor
    d = load_diabetes(scaled=False)
    cols = [0, 2, 3, 8]  # age, bmi, bp, s5 (raw units)
    x = d.data[:, cols].astype(np.float32)
    est = RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0, n_jobs=1).fit(x, d.target)
    nodes, inits, outs = _skl2onnx(est, {"variable": "output"}, False)
    fx = Fx(nodes, inits, [1, 4], outs, "TreeEnsembleRegressor",
            "sklearn RandomForestRegressor(n_estimators=3, max_depth=3) on raw diabetes features "
            "[age, bmi, bp, s5] via skl2onnx, ai.onnx.ml opset 1 (as skl2onnx declares it): 3 trees, "
            "BRANCH_LEQ/LEAF, aggregate_function absent (= SUM) with target_weights = leaf mean / 3 "
            "(the average is folded into the weights), n_targets 1, no base_values, post_transform NONE "
            "-> [1,1]; samples: diabetes rows, threshold rows, +-1e4",
            domain=(-10, 150), ml_opset=1, meta={"exporter": _skl_version()})
    return _tree_rows("forest_regressor", fx, x, [0, 1, 2, 3], "diabetes (raw)")


@fixture("gbdt_classifier")
def _gbdt_clf(rng):
    from sklearn.datasets import load_iris
    from sklearn.ensemble import GradientBoostingClassifier
    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    yb = (y == 2).astype(np.int64)  # virginica vs rest: prior 1/3 -> base_values = log(1/2)
    est = GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=0).fit(x, yb)
    nodes, inits, outs = _skl2onnx(est, {"label": "output"}, True)
    p = est.predict_proba(x)[:, 1]
    fx = Fx(nodes, inits, [1, 4], outs, "TreeEnsembleClassifier",
            "sklearn GradientBoostingClassifier(n_estimators=5, max_depth=2), binary iris "
            "virginica-vs-rest, via skl2onnx (zipmap=False): 5 trees, BRANCH_LEQ/LEAF, "
            "classlabels_int64s [0,1] but every class_id is 0 (one score column = the learning-rate-"
            "scaled leaf values), base_values [log(1/2)], post_transform LOGISTIC: probabilities = "
            "[sigmoid(-s), sigmoid(s)], label = 1 iff s > 0; then Identity -> probabilities; "
            "samples: iris rows, threshold rows, +-1e4",
            domain=(-2, 10), ml_opset=3, meta={"exporter": _skl_version()})
    # one of each class, and the two rows closest to p = 0.5
    close = [int(i) for i in np.argsort(np.abs(p - 0.5), kind="stable")[:2]]
    return _tree_rows("gbdt_classifier", fx, x, [0, 110] + close, "iris")


# ------------------------------------------------------------------ samples
def make_samples(fx: Fx, rng: np.random.Generator, size: int) -> np.ndarray:
    """16 rows: 0 random, 1 zeros (or ones if 0 is outside the domain), 2 all lo, 3 all hi,
    4 linspace(lo, hi), 5 alternating lo/hi, then op-specific specials, then random."""
    lo, hi = (float(v) for v in fx.domain)
    if fx.kind == "int8":
        def rand():
            return np.clip(np.round(rng.normal(0, 48, size)), -128, 127) * fx.q_scale
        fixed = [np.zeros(size), np.full(size, -128.0), np.full(size, 127.0),
                 np.round(np.linspace(-128, 127, size)), np.resize([-128.0, 127.0], size)]
        fixed = [r * fx.q_scale for r in fixed]
    else:
        if fx.kind == "positive":
            llo = np.log(max(lo, 1e-3))
            lhi = np.log(hi)

            def rand():
                return np.clip(np.exp(rng.normal((llo + lhi) / 2, (lhi - llo) / 5, size)), lo, hi)
        else:
            def rand():
                return np.clip(rng.normal((lo + hi) / 2, (hi - lo) / 5, size), lo, hi)
        base = np.zeros(size) if lo <= 0 <= hi else np.ones(size)
        fixed = [base, np.full(size, lo), np.full(size, hi), np.linspace(lo, hi, size),
                 np.resize([lo, hi], size)]
    rows = [rand()] + fixed + [np.asarray(s(size), np.float64).ravel() for s in fx.specials]
    while len(rows) < N_SAMPLES:
        rows.append(rand())
    assert len(rows) == N_SAMPLES, len(rows)
    x = round8(np.stack(rows))
    if fx.kind == "int8":  # must stay exactly representable
        k = x.astype(np.float64) / fx.q_scale
        assert np.all(k == np.round(k)) and k.min() >= -128 and k.max() <= 127
    return x


# ------------------------------------------------------------------ build / run
ML = "ai.onnx.ml"


def opset_ids(opset: int, ml_opset: int | None = None, ms_opset: int | None = None) -> list:
    ids = [helper.make_opsetid("", opset)]
    if ml_opset is not None:
        ids.append(helper.make_opsetid(ML, ml_opset))
    if ms_opset is not None:
        ids.append(helper.make_opsetid("com.microsoft", ms_opset))
    return ids


def ir_for(opset: int, ml_opset: int | None = None) -> int:
    return max(8, helper.find_min_ir_version_for(opset_ids(opset, ml_opset)))


def build_model(name: str, fx: Fx, out_shapes=None) -> onnx.ModelProto:
    nodes = []
    for i, n in enumerate(fx.nodes):
        n = onnx.NodeProto.FromString(n.SerializeToString())
        if not n.name:
            n.name = f"{n.op_type.lower()}_{i}"
        nodes.append(n)
    outs = [helper.make_tensor_value_info(o, t, None if out_shapes is None else out_shapes[i])
            for i, (o, t) in enumerate(fx.outputs)]
    graph = helper.make_graph(nodes, f"ops2_{name}", [helper.make_tensor_value_info("input", F32, fx.in_shape)],
                              outs, initializer=fx.inits)
    model = helper.make_model(graph, producer_name="zkinfer-models", producer_version="1",
                              opset_imports=opset_ids(fx.opset, fx.ml_opset, fx.ms_opset))
    model.ir_version = ir_for(fx.opset, fx.ml_opset)
    return model


def inferred_shapes(model: onnx.ModelProto):
    m = shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    res = []
    for o in m.graph.output:
        t = o.type.tensor_type
        if not t.HasField("shape") or any(not d.HasField("dim_value") for d in t.shape.dim):
            res.append(None)
        else:
            res.append([d.dim_value for d in t.shape.dim])
    return res


def _flat(a: np.ndarray) -> list:
    a = np.asarray(a)
    if a.dtype == np.bool_:
        a = a.astype(np.float64)
    v = a.astype(np.float64).ravel()
    assert np.all(np.isfinite(v)), "non-finite output"
    return v.tolist()


def write_samples(path: Path, samples: dict) -> None:
    """common.write_json layout, with each outputs_all sample on one line:
    [[flat out0], [flat out1], ...]."""
    parts = []
    for k, v in samples.items():
        if k == "outputs_all":
            rows = ["    [" + ", ".join(_dump(o) for o in per) + "]" for per in v]
            parts.append(f'  "{k}": [\n' + ",\n".join(rows) + "\n  ]")
        else:
            parts.append(f'  "{k}": ' + _dump(v, 1).lstrip())
    path.write_text("{\n" + ",\n".join(parts) + "\n}\n")


def generate_ops2(root: Path, log=print) -> dict:
    """Write root/<name>/{model.onnx,input.json,expected.json,samples.json,meta.json}
    and root/INDEX.md. Returns {name: meta}."""
    info = {}
    notes = []
    for name, build in FIXTURES.items():
        rng = np.random.default_rng(zlib.crc32(f"ops2/{name}".encode()))
        fx = build(rng)
        folder = root / name
        size = int(np.prod(fx.in_shape))

        # 1) untyped-shape outputs -> run ORT once to learn the output shapes
        tmp = build_model(name, fx)
        save_model(tmp, folder / "model.onnx")
        probe = session(folder / "model.onnx").run(None, {"input": np.zeros(fx.in_shape, np.float32)})
        ort_shapes = [list(p.shape) for p in probe]
        inf = inferred_shapes(tmp)
        for o, a, b in zip(fx.outputs, ort_shapes, inf):
            if b is None:
                notes.append(f"{name}: onnx shape inference left output {o[0]} shape unknown "
                             f"(ORT: {a})")
            else:
                assert a == b, f"{name}: ORT shape {a} != inferred {b}"

        # 2) final model with full output shapes, fully checked
        model = build_model(name, fx, ort_shapes)
        onnx.checker.check_model(model, full_check=fx.ms_opset is None)
        save_model(model, folder / "model.onnx")
        sess = session(folder / "model.onnx")
        for o, (oname, otype) in zip(sess.get_outputs(), fx.outputs):
            assert o.name == oname

        xs = make_samples(fx, rng, size)
        outs = [sess.run(None, {"input": x.reshape(fx.in_shape)}) for x in xs]
        for got in outs:
            for g, (_, t), shp in zip(got, fx.outputs, ort_shapes):
                assert list(g.shape) == shp
                want = {F32: np.float32, I64: np.int64, BOOL: np.bool_}[t]
                assert g.dtype == want, (name, g.dtype, want)
        flat = [[_flat(g) for g in got] for got in outs]
        y0 = flat[0]
        write_json(folder / "input.json", {"input_data": [xs[0].tolist()]})
        write_json(folder / "expected.json",
                   {"output_data": y0, "argmax": [int(np.argmax(y0[0]))]})
        samples = {"inputs": xs.tolist(), "outputs": [f[0] for f in flat]}
        if len(fx.outputs) > 1:
            samples["outputs_all"] = flat
        write_samples(folder / "samples.json", samples)
        meta = {
            "family": "ops2",
            "op": fx.op,
            "opset": fx.opset,
            **({"opset_ml": fx.ml_opset} if fx.ml_opset is not None else {}),
            "ir_version": model.ir_version,
            "nodes": [n.op_type for n in model.graph.node],
            "input": {"name": "input", "dtype": "float32", "shape": list(fx.in_shape)},
            "outputs": [{"name": o, "dtype": {F32: "float32", I64: "int64", BOOL: "bool"}[t], "shape": s}
                        for (o, t), s in zip(fx.outputs, ort_shapes)],
            "domain": [float(fx.domain[0]), float(fx.domain[1])],
            "input_kind": fx.kind,
            "tests": fx.tests,
        }
        if fx.q_scale is not None:
            meta["input_scale"] = float(fx.q_scale)
        meta.update(fx.meta)
        (folder / "meta.json").write_text(
            "{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in meta.items()) + "\n}\n")
        info[name] = meta
        log(f"  ops/{name}: opset {fx.opset} {' '.join(meta['nodes'])}")
    write_index(root / "INDEX.md", info, notes)
    for n in notes:
        log(f"  note: {n}")
    return info


# ------------------------------------------------------------------ INDEX.md
INDEX_HEAD = """# models/ops/ fixture index

Generated by `models/gen.py` (`models/genlib/ops2.py`); do not edit by hand.
Regenerate everything with `bash models/generate.sh`, or only these fixtures
with `bash models/generate.sh --ops2` (a few seconds).

The first 14 folders (`add`, `clip`, `avgpool`, `global_avgpool`, `maxpool_pad`,
`conv_stride`, `matmul_reshape` and their `_int8` QDQ twins from
`quantize_static`) are described in `models/README.md`. Everything below is the
"ops2" family: one op (plus the helper nodes it needs) per model.

Conventions (ops2):

- One float32 graph input `input`. A second operand is an initializer or is
  derived in-graph (`Gemm(x)`, `Slice(x)`, a comparison), so every model is
  fed by `input.json` alone. The first graph output is always `output`.
- `input.json` = `{"input_data": [[flat]]}` (sample 0); `expected.json` =
  `{"output_data": [[flat out0], [flat out1], ...], "argmax": [argmax of out0]}`;
  `samples.json` = `{"inputs": 16 x [flat], "outputs": 16 x [flat out0]}`, plus
  `"outputs_all": 16 x [[flat out0], [flat out1], ...]` when the model has
  several outputs. `meta.json` has op, opset, IR version, node list, input and
  output names/dtypes/shapes, input domain and the description below.
- Bool outputs are written as 0.0/1.0, int64 outputs (ArgMax, TopK indices,
  tree-classifier labels) as integer-valued floats.
- Inputs are rounded to 8 significant digits before they go to onnxruntime
  (parse as f64, cast to f32 = exactly what ORT saw). Outputs: ORT 1.32.0 CPU,
  `ORT_DISABLE_ALL`, one thread, rounded to 8 significant digits.
- Samples (16 per model): 0 = seeded random normal (clipped to the domain;
  log-normal for positive-only ops), 1 = zeros (ones when 0 is outside the
  domain), 2 = all `lo`, 3 = all `hi`, 4 = linspace(lo, hi), 5 = alternating
  lo/hi, then op-specific edge rows (ties, halves, exact thresholds, ...), then
  random. `_int8` models: every input is `k * x_scale` with integer k in
  [-128, 127]; rows 2/3 are k = -128 / 127 everywhere, row 4 sweeps k.
- Seeds: `numpy.random.default_rng(crc32("ops2/" + name))`.
- IR version = max(8, minimum for the opset): 8 for opsets 13-18, 9 for 20.
  The tree-ensemble models also import `ai.onnx.ml` (column "opset" shows
  e.g. `13 + ml 3`; meta.json key `opset_ml`), still IR 8.
- Tree ensembles (`tree_classifier`, `forest_regressor`, `gbdt_classifier`)
  are scikit-learn models trained on its bundled data sets and converted with
  skl2onnx (pinned in `models/requirements.txt`; meta.json `exporter`); only
  the converted nodes are kept, with the label / prediction output renamed to
  `output`. Their samples 6..15 are real data rows, rows with one feature set
  exactly to a split threshold (chosen so that `<` instead of `<=` changes the
  output), and all -1e4 / all +1e4; meta.json `special_rows` says which.
- Initializers are `numpy_helper.from_array` tensors, so they are all
  `raw_data` (including the int8 QDQ scales/zero points, unlike the
  `quantize_static` models which use `float_data` / `int32_data`).

"""

QUIRKS = """
## ONNX / onnxruntime quirks met while building these

- **Softmax/LogSoftmax semantics changed at opset 13**: before 13 the input is
  coerced to 2-D at `axis` (softmax over all trailing dims); from 13 it is a
  single axis. These fixtures are opset 13 with `axis=-1`, where both agree only
  because the softmax axis is the last one — an importer should still implement
  the opset-13 meaning.
- **Reduce* axes moved from attribute to input at different opsets**: ReduceSum
  at opset 13, all the others (ReduceMean/Max/Min/L1/L2/SumSquare/LogSumExp) only
  at opset 18. An opset-13 ReduceMean with an axes *input* is invalid and an
  opset-18 one with an axes *attribute* is invalid. `reducesum*` use the input,
  the other opset-13 ones use the attribute, `*_op18` use the input. A missing
  axes input means "reduce all" unless `noop_with_empty_axes=1`.
- **Op availability by opset**: HardSwish and Trilu need opset 14, LayerNormalization
  17, Mish 18, Gelu 20 (so IR 9). ORT 1.32 CPU runs all of them with
  ORT_DISABLE_ALL.
- **Wrong-form nodes are rejected, not ignored**: ReduceMean-13 with an axes input
  fails the checker ("input size 2 not in range [min=1, max=1]") and ORT
  (INVALID_GRAPH); ReduceMean-18 with an axes attribute fails with
  "Unrecognized attribute: axes".
- **Squeeze/Unsqueeze/Split (opset 13)** take axes/split as int64 *inputs*, not
  attributes. Unsqueeze's negative axes count from the *output* rank
  (`[1,-1]` on rank 3 gives rank 5 with the new dims at 1 and 4).
- **Slice**: ends beyond the dim are clamped; with a negative step the "to the
  beginning" end must be below -dim (torch exports INT64_MIN /
  -9223372036854775807); `axes` need not be sorted.
- **Round is half-to-even** (ORT and numpy agree: 0.5 -> 0, 1.5 -> 2, -2.5 -> -2).
  **Cast float->int truncates toward zero.**
- **ArgMax/ArgMin/TopK ties**: the first (lowest) index wins, unless
  `select_last_index=1` (ArgMax/ArgMin only). TopK with `sorted=1` lists equal
  values lower-index-first.
- **Gelu-20** exists only from opset 20; older exports decompose it
  (`gelu_erf`, `gelu_tanh_decomposed`). `approximate` is a string attribute.
- **GRU `linear_before_reset`**: PyTorch exports 1, the ONNX default is 0. They
  are different formulas (reset gate applied to `R_h h + Rb_h` vs to `h` before
  the product); `gru` covers 1 and `gru_lbr0` covers 0 (their weights differ too).
- **Shape inference vs ORT**: output shapes in the models come from running ORT
  once, and are cross-checked against `onnx.shape_inference` (strict, data
  propagation on); they agreed for every fixture{inference_note}.
- **Resize (opset 13)** needs a placeholder for the unused `roi` input: the empty
  name `""`. For scale 2, nearest with `asymmetric`+`floor` and with the default
  `half_pixel`+`round_prefer_floor` give identical outputs.
- **Rank-0 initializers**: `common.init` goes through `np.ascontiguousarray`,
  which turns a 0-d array into shape `[1]`. Range then fails in ORT ("Input to
  'Range' op should be scalars"), and a Gather index of shape `[1]` keeps the
  axis (`[1,1,8]`) where a scalar drops it (`[1,8]`). ops2 uses its own `init`
  that keeps rank 0 (CumSum axis, Trilu k, Gather index, Pow exponent, Clip
  min/max, Q/DQ scales and zero points are all true scalars here). The older
  `clip` fixture's min/max are shape `[1]`, which the checker and ORT accept.
- **InstanceNormalization on a constant plane** (variance 0): ORT returns
  `bias` only to about 2e-5 (e.g. -0.1774292 vs -0.17744887 in
  `instancenorm` samples 2 and 3), since it folds the normalization into
  `x*a + (bias - mean*a)` with `a = scale/sqrt(eps)` ~ 316*scale. Every other
  fixture matches an independent float64 numpy reference to ~1e-6 relative.
- **Bool graph outputs** are fine for ORT and the checker; a prover that only
  emits field elements should treat them as 0/1.
- **ScatterND / ScatterElements with duplicate indices** are undefined in
  ONNX (the result depends on the runtime's write order), so every scatter
  fixture builds indices that are distinct by construction: pairs
  `2j + Cast(cmp)`, TopK indices, a single ArgMax per row. ScatterND's `updates` shape is
  `indices.shape[:-1] + data.shape[indices.shape[-1]:]` (`scatternd_slices`
  writes whole rows). ScatterElements accepts negative indices (`-1` = last).
  The `reduction` attribute exists only from opset 16 (ScatterND and
  ScatterElements); opset 13 has none, and `reduction="none"` is the default.
- **Tree ensembles (ai.onnx.ml)**: every split is `BRANCH_LEQ` (go to
  `nodes_truenodeids` when `x[feature] <= threshold`, both float32); leaves are
  `LEAF`. skl2onnx also writes `nodes_hitrates` (all 1.0) and
  `nodes_missing_value_tracks_true` (all 0: NaN would take the false branch;
  no sample has NaN). Thresholds are sklearn's float64 midpoints cast to
  float32; sklearn's own predictions agree with ORT on every sample, the
  threshold rows included.
- **skl2onnx opset imports**: asked for `{"": 13, "ai.onnx.ml": 3}` it declares
  `ai.onnx.ml` 1 (the lowest version that has TreeEnsemble*; v3 only adds the
  `*_as_tensor` double attributes) and lists the default domain twice. These
  models are rebuilt with one import each: `forest_regressor` keeps ml 1,
  the classifiers use ml 3. In `ai.onnx.ml` 5 TreeEnsembleClassifier/Regressor
  are deprecated (replaced by `TreeEnsemble`): the checker and ORT reject them.
- **RandomForestRegressor export**: no `aggregate_function` attribute (default
  SUM); skl2onnx divides every leaf value by the number of trees instead of
  using AVERAGE.
- **Binary TreeEnsembleClassifier (gbdt_classifier)**: two `classlabels_int64s`
  but every `class_ids` is 0 and `base_values` has one entry (the log-odds
  prior). ORT sums one score s = base + leaf weights, returns label
  `classlabels[1]` iff s > 0 and, with `post_transform=LOGISTIC`,
  probabilities `[sigmoid(-s), sigmoid(s)]`. The spec is vague here; this is
  ORT's reading. Multiclass labels are the argmax of the scores (first max on
  ties).
"""


def write_index(path: Path, info: dict, notes: list) -> None:
    rows = ["| name | op(s) under test | opset | input shape | domain | outputs | tests |",
            "|---|---|---|---|---|---|---|"]
    for name, m in info.items():
        outs = ", ".join(f"`{o['name']}` {o['dtype']} {o['shape']}" for o in m["outputs"])
        lo, hi = m["domain"]
        dom = f"[{lo:g}, {hi:g}]" + (" int8 grid" if m["input_kind"] == "int8" else
                                      " pos" if m["input_kind"] == "positive" else "")
        opset = f"{m['opset']}" + (f" + ml {m['opset_ml']}" if "opset_ml" in m else "")
        rows.append(f"| `{name}` | {m['op']} | {opset} | {m['input']['shape']} | {dom} | {outs} | "
                    f"{m['tests'].replace('|', '/')} |")
    note = "" if not notes else " except: " + "; ".join(notes)
    text = INDEX_HEAD + f"{len(info)} ops2 fixtures:\n\n" + "\n".join(rows) + "\n" + \
        QUIRKS.replace("{inference_note}", note)
    path.write_text(text)
