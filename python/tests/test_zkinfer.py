"""Tests of the installed zkinfer wheel (scripts/test-python.sh builds it, installs it into a
fresh venv and runs these). They prove real models from the repository's models/ folder."""

import json
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import zkinfer

REPO = Path(__file__).resolve().parents[2]
MLP = REPO / "models" / "digits_mlp"


def _sample():
    x = np.asarray(json.loads((MLP / "input.json").read_text())["input_data"][0], dtype=np.float64)
    want = np.asarray(json.loads((MLP / "expected.json").read_text())["output_data"][0])
    return x.reshape(1, 64), want


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    """digits_mlp compiled and set up once (dev SRS: tests only)."""
    d = tmp_path_factory.mktemp("mlp")
    report = zkinfer.compile(MLP / "model.onnx", d, progress=False)
    assert report["k"] >= 1 and report["inputs"][0]["shape"] == [1, 64]
    model_id = zkinfer.setup(d, progress=False)
    assert len(model_id) == 64
    return d, model_id


def test_prove_and_verify_returns_the_models_output(mlp):
    d, model_id = mlp
    x, want = _sample()
    proof = zkinfer.prove(d, x, progress=False)
    assert proof.model_id == model_id
    assert proof.path.is_file() and proof.proof_bytes > 0
    out = proof.outputs[0]
    assert out.shape == (1, 10)
    # the integer executor's output, decoded, is close to onnxruntime's float output
    assert np.abs(out.reshape(-1) - want).max() < 0.05 * np.abs(want).max()
    assert int(np.argmax(out)) == int(np.argmax(want))
    assert proof.quantized[0].dtype == np.int64 and proof.quantized[0].shape == (1, 10)
    assert zkinfer.verify(d, proof) is True
    assert zkinfer.verify(d, proof, model_id=model_id) is True


def test_tampered_proof_and_wrong_output_are_rejected(mlp, tmp_path):
    d, _ = mlp
    x, _ = _sample()
    proof = zkinfer.prove(d, x, proof_path=tmp_path / "p.json", progress=False)
    doc = json.loads(proof.path.read_text())
    # a flipped proof byte
    bad = dict(doc)
    i = len(bad["proof"]) // 2
    bad["proof"] = bad["proof"][:i] + ("1" if bad["proof"][i] != "1" else "2") + bad["proof"][i + 1:]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert zkinfer.verify(d, tmp_path / "bad.json") is False
    # a claimed output other than the proven one: the listed values no longer match the
    # instances (refused before verification), and changed instances fail verification
    wrong = json.loads(proof.path.read_text())
    wrong["outputs"][0]["quantized"][0] += 1
    (tmp_path / "wrong.json").write_text(json.dumps(wrong))
    with pytest.raises(zkinfer.ZkinferError) as e:
        zkinfer.verify(d, tmp_path / "wrong.json")
    assert "output" in str(e.value)
    wrong_inst = json.loads(proof.path.read_text())
    last = int(wrong_inst["instances"][-1], 16) + 1
    wrong_inst["instances"][-1] = "0x%064x" % last
    (tmp_path / "wrong_inst.json").write_text(json.dumps(wrong_inst))
    with pytest.raises(zkinfer.ZkinferError):
        # the listed outputs disagree with the changed instance: refused as not belonging together
        zkinfer.verify(d, tmp_path / "wrong_inst.json")


def test_bad_inputs_raise_the_clis_messages(mlp, tmp_path):
    d, _ = mlp
    with pytest.raises(zkinfer.ZkinferError) as e:
        zkinfer.prove(d, np.zeros(63), progress=False)
    assert "63" in str(e.value) and "64" in str(e.value)
    x, _ = _sample()
    x[0, 3] = np.nan
    with pytest.raises(zkinfer.ZkinferError) as e:
        zkinfer.prove(d, x, progress=False)
    assert "NaN" in str(e.value)
    with pytest.raises(zkinfer.ZkinferError) as e:
        zkinfer.compile(b"\x08\x07this is not an onnx file", tmp_path / "junk", progress=False)
    assert e.value.exit_code == 1 and str(e.value)
    with pytest.raises(zkinfer.ZkinferError) as e:
        zkinfer.setup(tmp_path / "nothing-here", progress=False)
    assert "settings.json" in str(e.value)
    with pytest.raises(zkinfer.UsageError) as e:
        zkinfer.run(["prove", "--no-such-flag"])
    assert e.value.exit_code == 2


def test_compile_from_bytes_and_progress(tmp_path):
    steps = []
    d = tmp_path / "m"
    zkinfer.compile((MLP / "model.onnx").read_bytes(), d, progress=False)
    assert (d / "model.onnx").is_file() and (d / "settings.json").is_file()
    zkinfer.setup(d, progress=lambda c, s: steps.append((c, s)))
    x, _ = _sample()
    zkinfer.prove(d, {"input": x}, progress=lambda c, s: steps.append((c, s)))
    assert ("prove", "witness") in steps and ("prove", "prove") in steps
    assert any(c == "setup" for c, _ in steps)


def test_the_gil_is_released_while_proving(mlp):
    d, _ = mlp
    x, _ = _sample()
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.002)

    t = threading.Thread(target=count)
    t.start()
    start = time.monotonic()
    try:
        for _ in range(3):
            zkinfer.prove(d, x, progress=False)
    finally:
        done.set()
        t.join()
    during = [s for s in ticks if s > start + 0.05]
    # a held GIL would stall the counting thread for the whole proof
    assert len(during) > 10


def test_hashed_inputs_digest_matches_the_proof(tmp_path):
    d = tmp_path / "h"
    zkinfer.compile(MLP / "model.onnx", d, input_visibility="hashed", progress=False)
    zkinfer.setup(d, progress=False)
    x, _ = _sample()
    proof = zkinfer.prove(d, x, progress=False)
    assert zkinfer.verify(d, proof)
    digests = zkinfer.hash(d, x)
    doc = json.loads(proof.path.read_text())
    assert digests["input"] == doc["inputs"][0]["digest"]
    assert zkinfer.hash(d, x, proof=proof) == digests
    other = x.copy()
    other[0, 10] += 0.25
    with pytest.raises(zkinfer.ProofRejected):
        zkinfer.hash(d, other, proof=proof)


def test_calibrate_with_a_given_reference(tmp_path):
    x, want = _sample()
    r = zkinfer.calibrate(MLP / "model.onnx", x, tmp_path / "c", reference=want, bits=(8, 10), progress=False)
    assert r["calibration"]["scale_bits"] in (8, 10)
    assert r["calibration"]["reference"] == "input.json output_data"
    assert r["within_tolerance"] is True
    zkinfer.setup(tmp_path / "c", progress=False)
    proof = zkinfer.prove(tmp_path / "c", x, progress=False)
    assert np.abs(proof.outputs[0].reshape(-1) - want).max() <= r["calibration"]["tolerance"]
    assert zkinfer.verify(tmp_path / "c", proof)


@pytest.mark.skipif(shutil.which("node") is None or not (REPO / "verifier-contract" / "node_modules" / "solc").is_dir(), reason="needs Node.js and verifier-contract/install.sh")
def test_evm_verifier_gas(mlp, monkeypatch):
    d, _ = mlp
    monkeypatch.setenv("ZKINFER_CONTRACTS_DIR", os.fspath(REPO / "verifier-contract"))
    x, _ = _sample()
    proof = zkinfer.prove(d, x, progress=False)
    r = zkinfer.evm_verifier(d, proof, progress=False)
    assert r["valid"] is True and r["fits_eip170"] is True
    assert 100_000 < r["gas_used"] < 1_000_000
    doc = json.loads(proof.path.read_text())
    doc["proof"] = doc["proof"][:-2] + ("00" if doc["proof"][-2:] != "00" else "01")
    bad = d / "bad_evm.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(zkinfer.ProofRejected):
        zkinfer.evm_verifier(d, bad, compiled=True, progress=False)


@pytest.mark.skipif(shutil.which("node") is None or not (REPO / "verifier-contract" / "node_modules" / "solc").is_dir(), reason="needs Node.js and verifier-contract/install.sh")
def test_quickstart_example_runs(capsys):
    import runpy
    import sys

    argv = sys.argv
    sys.argv = ["quickstart.py"]
    try:
        runpy.run_path(os.fspath(REPO / "examples" / "python" / "quickstart.py"), run_name="__main__")
    finally:
        sys.argv = argv
    out = capsys.readouterr().out
    assert "tampered proof valid? False" in out
    assert "verification gas" in out


def test_aggregate_arguments_reach_the_command(mlp, tmp_path):
    """(A real aggregation takes minutes and is tested through the CLI in service/tests/cli.rs;
    here: the wrapper's arguments are the command's.)"""
    d, _ = mlp
    x, _ = _sample()
    with pytest.raises(zkinfer.UsageError) as e:
        zkinfer.aggregate(d, x, k=5, progress=False)
    assert "--k" in str(e.value) or "5" in str(e.value)
    with pytest.raises(zkinfer.ZkinferError) as e:
        zkinfer.verify_aggregate(d, tmp_path / "missing-aggregated.json")
    assert "missing-aggregated.json" in str(e.value) or "aggregate" in str(e.value)
