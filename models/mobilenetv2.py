"""MobileNetV2 (torchvision's layer structure) as ONNX, built with onnx's helper (no torch).

    models/.venv/bin/python models/mobilenetv2.py --res 112 -o out/mobilenetv2-112

writes OUT/model.onnx (float32, random weights, batch norm folded into the convolutions as
an exported inference model has it) and OUT/input.json (one random image in [0, 1)), and
checks with onnxruntime that the model runs. For benchmarks (issue 21): the sizes are
torchvision's `mobilenet_v2(width_mult)`, the weights are not trained.

Structure (torchvision.models.mobilenetv2): a 3x3 stride-2 conv to 32 channels, then
inverted residual blocks (t, c, n, s) = (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1)
(6,160,3,2) (6,320,1,1): a 1x1 expansion conv (when t > 1), a 3x3 depthwise conv of stride s,
a 1x1 linear projection, and a residual Add when the stride is 1 and the width is unchanged;
then a 1x1 conv to 1280, global average pooling and a 1000-way Gemm. ReLU6 is Clip(0, 6).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from onnx import helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from genlib.common import f32_io, init, make_model, save_model, session  # noqa: E402

SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's channel rounding."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class Builder:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.n, self.macs = [], [], 0, 0

    def name(self, kind: str) -> str:
        self.n += 1
        return f"{kind}{self.n}"

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int, groups: int, hw: int, relu6: bool) -> tuple[str, int]:
        """Conv (batch norm folded: weight and bias) and optional ReLU6; returns (output, out hw)."""
        n = self.name("conv")
        fan_in = cin // groups * k * k
        w = (self.rng.standard_normal((cout, cin // groups, k, k)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        b = (self.rng.standard_normal(cout) * 0.05).astype(np.float32)
        self.inits += [init(f"{n}.weight", w), init(f"{n}.bias", b)]
        pad = (k - 1) // 2
        self.nodes.append(helper.make_node("Conv", [x, f"{n}.weight", f"{n}.bias"], [n], name=n, kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4, group=groups))
        out_hw = (hw + 2 * pad - k) // stride + 1
        self.macs += out_hw * out_hw * cout * (cin // groups) * k * k
        if not relu6:
            return n, out_hw
        r = self.name("relu6")
        self.nodes.append(helper.make_node("Clip", [n, "zero", "six"], [r], name=r))
        return r, out_hw


def build(res: int, width: float, seed: int):
    b = Builder(seed)
    b.inits += [init("zero", np.array(0.0, np.float32)), init("six", np.array(6.0, np.float32))]
    cin = make_divisible(32 * width)
    last = make_divisible(1280 * max(1.0, width))
    x, hw = b.conv("input", 3, cin, 3, 2, 1, res, True)
    for t, c, n, s in SETTINGS:
        cout = make_divisible(c * width)
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            h = x
            if t != 1:
                h, _ = b.conv(h, cin, hidden, 1, 1, 1, hw, True)
            h, out_hw = b.conv(h, hidden, hidden, 3, stride, hidden, hw, True)
            h, _ = b.conv(h, hidden, cout, 1, 1, 1, out_hw, False)
            if stride == 1 and cin == cout:
                a = b.name("add")
                b.nodes.append(helper.make_node("Add", [x, h], [a], name=a))
                h = a
            x, hw, cin = h, out_hw, cout
    x, hw = b.conv(x, cin, last, 1, 1, 1, hw, True)
    b.nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool"], name="pool"))
    b.nodes.append(helper.make_node("Flatten", ["pool"], ["flat"], name="flat", axis=1))
    w = (b.rng.standard_normal((1000, last)) * np.sqrt(1.0 / last)).astype(np.float32)
    b.inits += [init("fc.weight", w), init("fc.bias", np.zeros(1000, np.float32))]
    b.nodes.append(helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["output"], name="fc", transB=1))
    b.macs += last * 1000
    model = make_model(b.nodes, [f32_io("input", [1, 3, res, res])], [f32_io("output", [1, 1000])], b.inits, f"mobilenetv2_{width}_{res}")
    return model, b.macs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res", type=int, default=112, help="input height and width (224 for ImageNet)")
    ap.add_argument("--width", type=float, default=1.0, help="width multiplier")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--out", required=True)
    a = ap.parse_args()
    out = Path(a.out)
    model, macs = build(a.res, a.width, a.seed)
    save_model(model, out / "model.onnx")
    x = np.random.default_rng(a.seed + 1).random((1, 3, a.res, a.res), dtype=np.float32)
    y = session(out / "model.onnx").run(None, {"input": x})[0]
    if not np.all(np.isfinite(y)):
        raise SystemExit("the model's output is not finite")
    (out / "input.json").write_text(json.dumps({"input_data": [x.reshape(-1).round(4).tolist()]}) + "\n")
    print(f"MobileNetV2 {a.width} at {a.res}x{a.res}: {len(model.graph.node)} nodes, {macs:,} MACs -> {out}/model.onnx")


if __name__ == "__main__":
    main()
