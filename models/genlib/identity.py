"""The identity-check example (models/identity_match/): a face/iris-style matcher.

Each digit class of sklearn's digits stands in for a person (the bundled data has no faces;
the structure is the same). The embedding network is the trained digits CNN's trunk
(conv1 -> relu -> maxpool -> conv2 -> relu -> avgpool -> flatten: 64 features) followed by a
32-dimensional linear projection (LDA on the training images: between- over within-person
variance). A person enrolls with 8 images:
their template is the mean embedding. The model then takes a probe image and a template and
outputs `match = (||embedding(image) - template||^2 < threshold)` as 0.0 / 1.0, with the
threshold at the equal-error rate on training pairs.

zkinfer proves it with the image private, the template hashed (its Poseidon digest is the
registered commitment) and only `match` public.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import scipy.linalg
from onnx import TensorProto, helper, numpy_helper

from .common import f32_io, init, make_model, round8, save_model, session, write_json
from .nets import cnn_forward

EMB = 32
ENROLL = 8


def _cnn_params(path: Path) -> dict:
    m = onnx.load(str(path))
    return {t.name: numpy_helper.to_array(t).astype(np.float64) for t in m.graph.initializer}


def _trunk(p: dict, x: np.ndarray) -> np.ndarray:
    _, c = cnn_forward(p, x, cache=True)
    return c["flat"]


def identity_onnx(p: dict, proj_w: np.ndarray, proj_b: np.ndarray, thr: float):
    nodes = [
        helper.make_node("Conv", ["image", "conv1.weight", "conv1.bias"], ["conv1"], name="conv1",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["conv1"], ["relu1"], name="relu1"),
        helper.make_node("MaxPool", ["relu1"], ["pool1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["pool1", "conv2.weight", "conv2.bias"], ["conv2"], name="conv2",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["conv2"], ["relu2"], name="relu2"),
        helper.make_node("AveragePool", ["relu2"], ["pool2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["pool2"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "proj.weight", "proj.bias"], ["embedding"], name="proj", transB=1),
        helper.make_node("Sub", ["embedding", "template"], ["diff"], name="diff"),
        helper.make_node("Mul", ["diff", "diff"], ["sq"], name="sq"),
        helper.make_node("ReduceSum", ["sq", "axes"], ["dist"], name="dist", keepdims=1),
        helper.make_node("Less", ["dist", "threshold"], ["below"], name="below"),
        helper.make_node("Cast", ["below"], ["match"], name="match", to=TensorProto.FLOAT),
    ]
    inits = [init(k, p[k].astype(np.float32)) for k in ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias"]]
    inits += [init("proj.weight", proj_w.astype(np.float32)), init("proj.bias", proj_b.astype(np.float32)),
              init("axes", np.array([1], np.int64)), init("threshold", np.array([[thr]], np.float32))]
    return make_model(nodes, [f32_io("image", [1, 1, 8, 8]), f32_io("template", [1, EMB])],
                      [f32_io("match", [1, 1])], inits, "identity_match")


def _eer_threshold(gen: np.ndarray, imp: np.ndarray) -> float:
    cands = np.sort(np.concatenate([gen, imp]))
    best, thr = 2.0, float(cands[0])
    for t in cands:
        frr = float((gen >= t).mean())
        far = float((imp < t).mean())
        if abs(frr - far) < best:
            best, thr = abs(frr - far), float(t)
    return thr


def build_identity(root: Path, x_tr, y_tr, x_te, y_te, log=print) -> dict:
    folder = root / "identity_match"
    p = _cnn_params(root / "digits_cnn" / "model.onnx")
    f_tr = _trunk(p, x_tr)
    mu = f_tr.mean(0)
    # LDA: directions maximising between-person over within-person variance (generalized
    # eigenvectors, normalised to unit within-person variance), scaled by 1/4 so squared
    # distances stay well inside the fixed-point range
    sw = sum(np.cov(f_tr[y_tr == c].T, bias=True) * (y_tr == c).sum() for c in range(10)) / len(f_tr)
    sw = sw + 1e-3 * np.eye(sw.shape[0])
    sb = np.cov(np.stack([f_tr[y_tr == c].mean(0) for c in range(10)]).T)
    _, vecs = scipy.linalg.eigh(sb, sw)
    w = 0.25 * vecs[:, ::-1][:, :EMB].T
    w = round8(w).astype(np.float64)
    b = round8(-(mu @ w.T)).astype(np.float64)

    def embed(x):
        return _trunk(p, x) @ w.T + b

    e_tr, e_te = embed(x_tr), embed(x_te)
    templates = np.stack([e_tr[y_tr == c][:ENROLL].mean(0) for c in range(10)])
    templates = round8(templates).astype(np.float64)

    def dists(e, y):
        d = ((e[:, None, :] - templates[None, :, :]) ** 2).sum(-1)
        gen = d[np.arange(len(y)), y]
        imp = d[np.arange(10)[None, :] != y[:, None]]
        return d, gen, imp

    _, gen_tr, imp_tr = dists(e_tr, y_tr)
    thr = float(np.float32(_eer_threshold(gen_tr, imp_tr)))
    d_te, gen_te, imp_te = dists(e_te, y_te)
    frr, far = float((gen_te >= thr).mean()), float((imp_te < thr).mean())
    log(f"identity_match: threshold {thr:.3f}, test FRR {frr:.4f} FAR {far:.4f}")

    save_model(identity_onnx(p, w, b, thr), folder / "model.onnx")
    sess = session(folder / "model.onnx")

    def run(img, tpl):
        out = sess.run(None, {"image": img.reshape(1, 1, 8, 8).astype(np.float32), "template": tpl.reshape(1, EMB).astype(np.float32)})
        return float(out[0].ravel()[0])

    # 16 probe/template pairs, alternately genuine and impostor, away from the threshold (so the
    # fixed-point circuit and float onnxruntime decide alike)
    pairs, i = [], 0
    while len(pairs) < 16:
        who = int(y_te[i]) if len(pairs) % 2 == 0 else (int(y_te[i]) + 1 + i % 9) % 10
        if abs(d_te[i, who] - thr) > 0.1 * thr:
            pairs.append((i, who))
        i += 1
    inputs = [[x_te[j].tolist(), templates[c].tolist()] for j, c in pairs]
    outputs = [[run(x_te[j], templates[c])] for j, c in pairs]
    for (j, c), o in zip(pairs, outputs):
        assert o[0] == float(d_te[j, c] < thr), (j, c, o)
    write_json(folder / "input.json", {"input_data": inputs[0]})
    write_json(folder / "impostor.json", {"input_data": inputs[1]})
    write_json(folder / "expected.json", {"output_data": [outputs[0]]})
    write_json(folder / "samples.json", {"inputs": inputs, "outputs": outputs,
                                          "persons": [c for _, c in pairs],
                                          "labels": [int(y_te[j]) for j, _ in pairs]})
    write_json(folder / "templates.json", {"templates": templates.tolist()})
    info = {"threshold": thr, "test_frr": frr, "test_far": far, "embedding_dim": EMB,
            "enroll_images": ENROLL, "n_test_genuine": int(len(gen_te)), "n_test_impostor": int(len(imp_te))}
    write_json(folder / "about.json", info)
    return info
