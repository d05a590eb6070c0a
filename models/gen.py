#!/usr/bin/env python3
"""Generate the zkinfer test models and fixtures (see README.md).

Run via `bash models/generate.sh` (sets up the pinned venv). Deterministic:
fixed seeds, single-threaded BLAS/ORT.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from genlib.common import (N_CALIB, N_SAMPLES, describe, load_digits_split, quantize,  # noqa: E402
                           run_many, save_model, session, write_fixture)
from genlib.nets import cnn_forward, cnn_onnx, mlp_onnx, train_cnn, train_mlp  # noqa: E402
from genlib.identity import build_identity  # noqa: E402
from genlib.ops import generate_ops  # noqa: E402
from genlib.ops2 import generate_ops2  # noqa: E402
import genlib.ops_ml  # noqa: E402,F401  (registers the ai.onnx.ml fixtures into ops2)
import genlib.ops_dynq  # noqa: E402,F401  (registers the dynamic-quantization and contrib fixtures)

MLP_SHAPE = [1, 64]
CNN_SHAPE = [1, 1, 8, 8]

# folder -> (shape, source float folder or None, quantization kwargs)
DIGITS = {
    "digits_mlp": (MLP_SHAPE, None, None),
    "digits_mlp_int8": (MLP_SHAPE, "digits_mlp", dict(qdq=True, per_channel=False)),
    "digits_mlp_int8_qop": (MLP_SHAPE, "digits_mlp",
                            dict(qdq=False, per_channel=False, reduce_range=True)),
    "digits_cnn": (CNN_SHAPE, None, None),
    "digits_cnn_int8": (CNN_SHAPE, "digits_cnn", dict(qdq=True, per_channel=True)),
    "digits_cnn_int8_qop": (CNN_SHAPE, "digits_cnn",
                            dict(qdq=False, per_channel=True, reduce_range=True)),
}

BEGIN = "<!-- BEGIN GENERATED (models/gen.py) -->"
END = "<!-- END GENERATED -->"


def log(msg: str) -> None:
    print(msg, flush=True)


def build_float_models(x_tr, y_tr, x_te) -> None:
    t = time.time()
    mlp = train_mlp(x_tr, y_tr)
    save_model(mlp_onnx(mlp), ROOT / "digits_mlp" / "model.onnx")
    log(f"  trained MLP ({time.time() - t:.1f}s)")

    t = time.time()
    cnn = train_cnn(x_tr, y_tr, log=log)
    save_model(cnn_onnx(cnn), ROOT / "digits_cnn" / "model.onnx")
    log(f"  trained CNN ({time.time() - t:.1f}s)")
    # cross-check the numpy forward pass against onnxruntime
    ref = cnn_forward({k: v.astype(np.float64) for k, v in cnn.items()}, x_te)
    got = run_many(session(ROOT / "digits_cnn" / "model.onnx"), x_te, CNN_SHAPE)
    err = float(np.abs(ref - got).max())
    log(f"  CNN numpy vs ORT max |diff| = {err:.2e}")
    assert err < 1e-3, err


def fmt_table(rows, header) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def summary_markdown(info: dict) -> str:
    acc = {k: v["test_accuracy"] for k, v in info.items() if "test_accuracy" in v}
    n_test = next(v["n_test"] for v in info.values() if "n_test" in v)
    rows = []
    for net in ("mlp", "cnn"):
        base = f"digits_{net}"
        rows.append([net.upper()] + [f"{acc[base + s] * 100:.2f}%"
                                     for s in ("", "_int8", "_int8_qop")]
                    + [f"{info[base + '_int8']['agree_with_float'] * 100:.1f}% / "
                       f"{info[base + '_int8_qop']['agree_with_float'] * 100:.1f}%"])
    parts = [
        f"Test accuracy on the full sklearn digits test split ({n_test} images), "
        "onnxruntime with ORT_DISABLE_ALL:",
        "",
        fmt_table(rows, ["model", "float", "int8 QDQ", "int8 QOperator",
                         "argmax = float (QDQ / QOp)"]),
        "",
        "Per model (op types in graph order; params = elements of non-scale/zero-point "
        "initializers; qparams = scale + zero-point elements):",
        "",
    ]
    rows = []
    for name, v in info.items():
        storage = "; ".join(f"{k}: {', '.join(s)}" for k, s in v["qparam_storage"].items()) or "-"
        opsets = ", ".join(f"{d} {n}" for d, n in sorted(v["opsets"].items()))
        rows.append([f"`{name}`", " ".join(v["ops"]), v["params"], v["quant_params"], opsets,
                     storage, f"{v['bytes'] / 1024:.1f} KiB"])
    parts.append(fmt_table(rows, ["model", "ops", "params", "qparams", "opsets",
                                  "scale / zero-point storage", "size"]))
    return "\n".join(parts) + "\n"


def update_readme(md: str) -> None:
    readme = ROOT / "README.md"
    if not readme.exists():
        return
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        return
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + BEGIN + "\n" + md + END + tail)


def build_ops2() -> None:
    """The "ops2" single-op fixtures (models/ops/<name>/ + models/ops/INDEX.md).
    Kept out of summary.json / the README table; see models/ops/INDEX.md."""
    t = time.time()
    log("ops2 single-op fixtures:")
    info = generate_ops2(ROOT / "ops", log=log)
    log(f"ops2: {len(info)} fixtures in {time.time() - t:.1f}s")


def main() -> None:
    t0 = time.time()
    if "--zoo" in sys.argv[1:]:  # only the export zoo (models/zoo)
        from genlib.zoo import generate_zoo
        generate_zoo(ROOT / "zoo", log=log)
        log(f"done in {time.time() - t0:.1f}s")
        return
    if "--ops2" in sys.argv[1:]:  # only the ops2 family (fast)
        build_ops2()
        log(f"done in {time.time() - t0:.1f}s")
        return
    x_tr, x_te, y_tr, y_te = load_digits_split()
    log(f"digits: {len(x_tr)} train / {len(x_te)} test")
    if "--identity" in sys.argv[1:]:  # only the identity-check example (needs digits_cnn)
        build_identity(ROOT, x_tr, y_tr, x_te, y_te, log=log)
        log(f"done in {time.time() - t0:.1f}s")
        return
    sample_x, sample_y = x_te[:N_SAMPLES], y_te[:N_SAMPLES]
    calib = x_tr[:N_CALIB]

    build_float_models(x_tr, y_tr, x_te)

    info = {}
    preds = {}
    for name, (shape, src, qkw) in DIGITS.items():
        folder = ROOT / name
        if src is not None:
            quantize(ROOT / src / "model.onnx", folder / "model.onnx", calib, shape, **qkw)
        res = write_fixture(folder, shape, sample_x, sample_y)
        out = run_many(session(folder / "model.onnx"), x_te, shape)
        preds[name] = out.argmax(1)
        d = describe(folder / "model.onnx")
        d.update(res)
        d["test_accuracy"] = float((preds[name] == y_te).mean())
        d["n_test"] = int(len(y_te))
        if src is not None:
            d["agree_with_float"] = float((preds[name] == preds[src]).mean())
        info[name] = d
        log(f"{name}: acc {d['test_accuracy']:.4f} ops {d['ops']}")

    build_identity(ROOT, x_tr, y_tr, x_te, y_te, log=log)

    log("single-op fixtures:")
    op_info = generate_ops(ROOT / "ops", log=log)
    for v in op_info.values():
        v.pop("sample_argmax", None)
    all_info = {**info, **{f"ops/{k}": v for k, v in op_info.items()}}

    (ROOT / "summary.json").write_text(json.dumps(all_info, indent=1, sort_keys=True) + "\n")
    md = summary_markdown(all_info)
    update_readme(md)
    log("\n" + md)
    build_ops2()
    from genlib.zoo import generate_zoo
    generate_zoo(ROOT / "zoo", log=log)
    log(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
