"""The two digits classifiers: training (sklearn / plain numpy) and ONNX export."""

from __future__ import annotations

import warnings

import numpy as np
from onnx import helper

from .common import f32_io, init, make_model


# ======================================================================= MLP
def train_mlp(x_train: np.ndarray, y_train: np.ndarray) -> dict:
    """64 -> 32 (ReLU) -> 10 via sklearn's MLPClassifier (adam, fixed seed)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=(32,),
        activation="relu",
        solver="adam",
        alpha=1e-4,
        batch_size=64,
        learning_rate_init=1e-3,
        max_iter=300,
        shuffle=True,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_train.astype(np.float64), y_train)
    # sklearn stores W as [in, out]; Gemm(transB=1) wants [out, in].
    return {
        "fc1.weight": clf.coefs_[0].T.astype(np.float32),
        "fc1.bias": clf.intercepts_[0].astype(np.float32),
        "fc2.weight": clf.coefs_[1].T.astype(np.float32),
        "fc2.bias": clf.intercepts_[1].astype(np.float32),
    }


def mlp_onnx(p: dict):
    nodes = [
        helper.make_node("Gemm", ["input", "fc1.weight", "fc1.bias"], ["fc1"], name="fc1", transB=1),
        helper.make_node("Relu", ["fc1"], ["relu1"], name="relu1"),
        helper.make_node("Gemm", ["relu1", "fc2.weight", "fc2.bias"], ["output"], name="fc2", transB=1),
    ]
    inits = [init(k, v) for k, v in p.items()]
    return make_model(nodes, [f32_io("input", [1, 64])], [f32_io("output", [1, 10])], inits,
                      "digits_mlp")


# ======================================================================= CNN
# Shapes: [N,1,8,8] -conv1,relu-> [N,8,8,8] -maxpool-> [N,8,4,4]
#         -conv2,relu-> [N,16,4,4] -avgpool-> [N,16,2,2] -flatten-> [N,64] -fc-> [N,10]

def _conv3x3_fwd(x, w, b):
    """3x3 conv, stride 1, pad 1 (ONNX Conv = cross-correlation). Returns out, cols."""
    n, c, h, wd = x.shape
    f = w.shape[0]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.empty((n, c, 9, h, wd), x.dtype)
    for kh in range(3):
        for kw in range(3):
            cols[:, :, kh * 3 + kw] = xp[:, :, kh:kh + h, kw:kw + wd]
    cols = cols.reshape(n, c * 9, h * wd).transpose(0, 2, 1)  # [N, HW, C*9]
    out = cols @ w.reshape(f, -1).T + b  # [N, HW, F]
    return out.transpose(0, 2, 1).reshape(n, f, h, wd), cols


def _conv3x3_bwd(dout, cols, w, need_dx: bool):
    n, f, h, wd = dout.shape
    c = w.shape[1]
    d = dout.reshape(n, f, h * wd).transpose(0, 2, 1)  # [N, HW, F]
    dw = np.einsum("npf,npk->fk", d, cols).reshape(w.shape)
    db = d.sum(axis=(0, 1))
    if not need_dx:
        return None, dw, db
    dcols = (d @ w.reshape(f, -1)).transpose(0, 2, 1).reshape(n, c, 9, h, wd)
    dxp = np.zeros((n, c, h + 2, wd + 2), dout.dtype)
    for kh in range(3):
        for kw in range(3):
            dxp[:, :, kh:kh + h, kw:kw + wd] += dcols[:, :, kh * 3 + kw]
    return dxp[:, :, 1:-1, 1:-1], dw, db


def _pool_view(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2)


def cnn_forward(p: dict, x: np.ndarray, cache: bool = False):
    x = x.reshape(-1, 1, 8, 8)
    z1, cols1 = _conv3x3_fwd(x, p["conv1.weight"], p["conv1.bias"])
    a1 = np.maximum(z1, 0)
    r = _pool_view(a1)
    m1 = r.max(axis=(3, 5))
    z2, cols2 = _conv3x3_fwd(m1, p["conv2.weight"], p["conv2.bias"])
    a2 = np.maximum(z2, 0)
    p2 = _pool_view(a2).mean(axis=(3, 5))
    flat = p2.reshape(len(x), -1)
    logits = flat @ p["fc.weight"].T + p["fc.bias"]
    if not cache:
        return logits
    return logits, dict(cols1=cols1, z1=z1, r=r, m1=m1, cols2=cols2, z2=z2, flat=flat)


def _cnn_grads(p, x, y, wd):
    logits, c = cnn_forward(p, x, cache=True)
    n = len(x)
    e = np.exp(logits - logits.max(1, keepdims=True))
    prob = e / e.sum(1, keepdims=True)
    loss = -np.log(prob[np.arange(n), y] + 1e-12).mean()
    dl = prob
    dl[np.arange(n), y] -= 1
    dl /= n
    g = {"fc.weight": dl.T @ c["flat"], "fc.bias": dl.sum(0)}
    dp2 = (dl @ p["fc.weight"]).reshape(n, 16, 2, 2)
    da2 = np.broadcast_to(dp2[:, :, :, None, :, None] / 4.0, (n, 16, 2, 2, 2, 2)).reshape(n, 16, 4, 4)
    dz2 = da2 * (c["z2"] > 0)
    dm1, g["conv2.weight"], g["conv2.bias"] = _conv3x3_bwd(dz2, c["cols2"], p["conv2.weight"], True)
    mask = c["r"] == c["m1"][:, :, :, None, :, None]
    mask = mask / mask.sum(axis=(3, 5), keepdims=True)
    da1 = (mask * dm1[:, :, :, None, :, None]).reshape(n, 8, 8, 8)
    dz1 = da1 * (c["z1"] > 0)
    _, g["conv1.weight"], g["conv1.bias"] = _conv3x3_bwd(dz1, c["cols1"], p["conv1.weight"], False)
    for k in g:
        if k.endswith("weight"):
            g[k] = g[k] + wd * p[k]
    return loss, g


def train_cnn(x_train, y_train, epochs: int = 40, batch: int = 32, lr: float = 3e-3,
              wd: float = 1e-4, seed: int = 0, log=print) -> dict:
    """Plain-numpy Adam training, float64, deterministic (fixed seed, 1 thread BLAS)."""
    rng = np.random.default_rng(seed)
    p = {
        "conv1.weight": rng.normal(0, np.sqrt(2 / 9), (8, 1, 3, 3)),
        "conv1.bias": np.zeros(8),
        "conv2.weight": rng.normal(0, np.sqrt(2 / 72), (16, 8, 3, 3)),
        "conv2.bias": np.zeros(16),
        "fc.weight": rng.normal(0, np.sqrt(1 / 64), (10, 64)),
        "fc.bias": np.zeros(10),
    }
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(v) for k, v in p.items()}
    b1, b2, eps, t = 0.9, 0.999, 1e-8, 0
    x = x_train.astype(np.float64)
    for ep in range(epochs):
        order = rng.permutation(len(x))
        step_lr = lr * (0.5 * (1 + np.cos(np.pi * ep / epochs)))  # cosine decay
        tot = 0.0
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            loss, g = _cnn_grads(p, x[idx], y_train[idx], wd)
            tot += loss * len(idx)
            t += 1
            for k in p:
                m[k] = b1 * m[k] + (1 - b1) * g[k]
                v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
                mh = m[k] / (1 - b1 ** t)
                vh = v[k] / (1 - b2 ** t)
                p[k] = p[k] - step_lr * mh / (np.sqrt(vh) + eps)
        if ep % 10 == 9 or ep == epochs - 1:
            acc = (cnn_forward(p, x).argmax(1) == y_train).mean()
            log(f"  cnn epoch {ep + 1:3d}: loss {tot / len(x):.4f} train acc {acc:.4f}")
    return {k: val.astype(np.float32) for k, val in p.items()}


def cnn_onnx(p: dict):
    nodes = [
        helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["conv1"], name="conv1",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["conv1"], ["relu1"], name="relu1"),
        helper.make_node("MaxPool", ["relu1"], ["pool1"], name="pool1",
                         kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["pool1", "conv2.weight", "conv2.bias"], ["conv2"], name="conv2",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["conv2"], ["relu2"], name="relu2"),
        helper.make_node("AveragePool", ["relu2"], ["pool2"], name="pool2",
                         kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["pool2"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["output"], name="fc", transB=1),
    ]
    inits = [init(k, v) for k, v in p.items()]
    return make_model(nodes, [f32_io("input", [1, 1, 8, 8])], [f32_io("output", [1, 10])], inits,
                      "digits_cnn")
