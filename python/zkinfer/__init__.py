"""zkinfer from Python: prove that an ONNX model produced an output, and verify it.

Every function runs the same code as the ``zkinfer`` command of the same name, in this
process, with the GIL released; results come back as dictionaries and numpy arrays, and
errors as :class:`ZkinferError` carrying the command's own message. A model lives in a
directory (``settings.json``, keys, proofs), as on the command line::

    import zkinfer, numpy as np
    zkinfer.compile("model.onnx", "out/model")          # EZKL: gen_settings
    zkinfer.setup("out/model")                          # keys (UNSAFE dev SRS unless srs=...)
    proof = zkinfer.prove("out/model", np.zeros((1, 64)))
    proof.outputs[0]                                    # the proven output, as floats
    assert zkinfer.verify("out/model", proof)

The dev SRS generated when no ``srs`` is given is for tests and demos only: anyone can forge
proofs against it. Pass ``srs="ceremony.srs"`` (a halo2 ParamsKZG file, e.g. converted from a
powers-of-tau ceremony) for real use.

See docs/python.md for the API and a one-page migration guide from EZKL.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from . import _native

__version__ = _native.__version__

PathLike = Union[str, "os.PathLike[str]"]
ArrayLike = Any
Progress = Union[bool, Callable[[str, str], None], None]

__all__ = [
    "ZkinferError",
    "UsageError",
    "ProofRejected",
    "Proof",
    "compile",
    "gen_settings",
    "calibrate",
    "calibrate_settings",
    "setup",
    "prove",
    "verify",
    "hash",
    "evm_verifier",
    "aggregate",
    "verify_aggregate",
    "run",
]


class ZkinferError(Exception):
    """A zkinfer step failed; the message is the one the CLI prints (``error: ...``)."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


class UsageError(ZkinferError):
    """The arguments did not make a valid zkinfer command line (CLI exit status 2)."""


class ProofRejected(ZkinferError):
    """A proof was checked and found invalid (CLI exit status 3)."""


def _stderr_progress(command: str, step: str) -> None:
    print(f"zkinfer {command}: {step}", file=sys.stderr, flush=True)


def run(argv: Sequence[str], progress: Progress = True) -> Dict[str, Any]:
    """Runs one zkinfer command line (without the program name, e.g. ``["verify", DIR,
    PROOF]``) and returns its JSON report. ``progress``: True prints each step of a long
    command to stderr, a callable ``f(command, step)`` receives them, False/None is silent."""
    cb = _stderr_progress if progress is True else (progress or None)
    code, text = _native.run([os.fspath(a) for a in argv], cb)
    if code == 0:
        return json.loads(text) if text and text != "null" else {}
    cls = {2: UsageError, 3: ProofRejected}.get(code, ZkinferError)
    raise cls(text, code)


# ---------------------------------------------------------------------------------------------
# inputs and outputs


def _settings(model_dir: PathLike) -> Dict[str, Any]:
    p = Path(model_dir) / "settings.json"
    try:
        with open(p) as f:
            return json.load(f)
    except FileNotFoundError:
        raise ZkinferError(f"run `zkinfer compile MODEL -o {model_dir}` first: cannot read {p}") from None


def _input_names(model_dir: PathLike) -> List[str]:
    return [i["name"] for i in _settings(model_dir)["graph"]["inputs"]]


def _as_list(x: ArrayLike, what: str) -> List[float]:
    a = np.asarray(x, dtype=np.float64)
    if a.dtype == object:
        raise ZkinferError(f"{what}: not a numeric array")
    return a.reshape(-1).tolist()


def _inputs_file(tmp: Path, data: Union[PathLike, ArrayLike, Mapping[str, ArrayLike]], names: Optional[List[str]]) -> Path:
    """An EZKL-style input file ``{"input_data": [[...], ...]}`` for ``data``: a path is used as
    it is; a mapping gives each model input by name; a sequence of arrays gives them in order
    (when the model has several inputs); anything else is the one input's array."""
    if isinstance(data, (str, os.PathLike)):
        return Path(data)
    if isinstance(data, Mapping):
        if names is None:
            raise ZkinferError("inputs given by name need the compiled model directory")
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ZkinferError(f"the model has no input(s) {unknown} (inputs: {names})")
        missing = [n for n in names if n not in data]
        if missing:
            raise ZkinferError(f"no value for input(s) {missing}")
        tensors = [_as_list(data[n], f"input `{n}`") for n in names]
    elif names is not None and len(names) > 1:
        if not isinstance(data, (list, tuple)) or len(data) != len(names):
            raise ZkinferError(f"the model has {len(names)} inputs {names}: give a list of {len(names)} arrays or a dict by name")
        tensors = [_as_list(d, f"input `{n}`") for n, d in zip(names, data)]
    else:
        tensors = [_as_list(data, "input")]
    for i, t in enumerate(tensors):
        if any(v != v or v in (float("inf"), float("-inf")) for v in t):
            raise ZkinferError(f"input {i}: NaN or infinite values cannot be quantized")
    p = tmp / "input.json"
    p.write_text(json.dumps({"input_data": tensors}))
    return p


def _model_file(tmp: Path, model: Union[PathLike, bytes]) -> Path:
    if isinstance(model, (bytes, bytearray, memoryview)):
        p = tmp / "model.onnx"
        p.write_bytes(bytes(model))
        return p
    return Path(model)


def _tensor(t: Mapping[str, Any]) -> Optional[np.ndarray]:
    if not t.get("values"):
        return None
    return np.asarray(t["values"], dtype=np.float64).reshape(t["shape"])


def _quantized(t: Mapping[str, Any]) -> Optional[np.ndarray]:
    if not t.get("quantized"):
        return None
    return np.asarray(t["quantized"], dtype=np.int64).reshape(t["shape"])


@dataclass
class Proof:
    """A proof written by :func:`prove`.

    ``outputs``/``quantized``: each model output as floats (``(q - zero_point) * scale``) and as
    the integers the proof attests to, shaped as the model declares (None for a hashed or
    private output; see ``digests``). ``instances``: the public instances (hex), the EVM
    verifier's calldata prefix."""

    path: Path
    model_id: str
    outputs: List[Optional[np.ndarray]]
    quantized: List[Optional[np.ndarray]]
    names: List[str]
    digests: Dict[str, str]
    instances: List[str]
    prove_seconds: float
    proof_bytes: int
    private_values: Optional[Path] = None
    report: Dict[str, Any] = field(default_factory=dict, repr=False)

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def output(self, name: str) -> Optional[np.ndarray]:
        """One output by name."""
        return self.outputs[self.names.index(name)]


# ---------------------------------------------------------------------------------------------
# the commands


def _opt(flag: str, value: Any) -> List[Any]:
    """``[flag, value]`` when a value is given, else nothing (``[flag]`` for True)."""
    if value is None or value is False:
        return []
    return [flag] if value is True else [flag, value]


def _valid(argv: List[Any]) -> bool:
    """Runs a checking command: True when the proof is valid, False when it is rejected."""
    try:
        return bool(run(argv, False)["valid"])
    except ProofRejected:
        return False


def _vis_args(input_visibility: str, output_visibility: str, visibility: Optional[Mapping[str, str]], weight_visibility: str, weight_bits: Optional[int]) -> List[str]:
    a = ["--input-visibility", input_visibility, "--output-visibility", output_visibility, "--weight-visibility", weight_visibility]
    for name, v in (visibility or {}).items():
        a += ["--visibility", f"{name}={v}"]
    if weight_bits is not None:
        a += ["--weight-bits", str(weight_bits)]
    return a


def compile(
    model: Union[PathLike, bytes],
    out_dir: PathLike,
    *,
    input: Union[PathLike, ArrayLike, None] = None,
    scale_bits: Optional[int] = None,
    act_bits: Optional[int] = None,
    table_bits: Optional[int] = None,
    input_visibility: str = "public",
    output_visibility: str = "public",
    visibility: Optional[Mapping[str, str]] = None,
    weight_visibility: str = "fixed",
    weight_bits: Optional[int] = None,
    width: Optional[int] = None,
    lookup_width: Optional[int] = None,
    progress: Progress = True,
) -> Dict[str, Any]:
    """Imports an ONNX model (a path, or the file's bytes) and lays out its circuit in
    ``out_dir`` (``zkinfer compile``). ``input``: a representative input, needed only when
    static bounds cannot size a range (the error says so). Returns the report: ``k``, ``rows``,
    each input and output with its visibility and quantization, the predicted prove time."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        if isinstance(model, (bytes, bytearray, memoryview)):
            m = out_dir / "model.onnx"
            m.write_bytes(bytes(model))
        else:
            m = Path(model)
        argv = ["compile", m, "-o", out_dir] + _vis_args(input_visibility, output_visibility, visibility, weight_visibility, weight_bits)
        if input is not None:
            argv += ["--input", _inputs_file(tmp, input, None)]
        for flag in ("--input-scale-bits", "--param-scale-bits", "--act-scale-bits"):
            if scale_bits is not None:
                argv += [flag, str(scale_bits)]
        if act_bits is not None:
            argv += ["--act-bits", str(act_bits)]
        if table_bits is not None:
            argv += ["--table-bits", str(table_bits)]
        if (width is None) != (lookup_width is None):
            raise UsageError("give width and lookup_width together", 2)
        if width is not None:
            argv += ["--width", str(width), "--lookup-width", str(lookup_width)]
        return run(argv, progress)


def calibrate(
    model: Union[PathLike, bytes],
    data: Union[PathLike, ArrayLike],
    out_dir: PathLike,
    *,
    target: str = "resources",
    bits: Sequence[int] = (6, 8, 10, 12, 14, 16),
    atol: float = 0.01,
    rtol: float = 0.01,
    python: Optional[PathLike] = None,
    reference: Optional[ArrayLike] = None,
    input_visibility: str = "public",
    output_visibility: str = "public",
    visibility: Optional[Mapping[str, str]] = None,
    weight_visibility: str = "fixed",
    weight_bits: Optional[int] = None,
    progress: Progress = True,
) -> Dict[str, Any]:
    """Picks fixed-point scales and lookup ranges of a float model from sample ``data``
    (``zkinfer calibrate``) and writes ``out_dir/settings.json``. The reference outputs come
    from onnxruntime (``python``: an interpreter that has it; default: this one) or are given
    as ``reference`` (the expected output array). ``target``: "resources" (smallest circuit
    within tolerance) or "accuracy"."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        if isinstance(model, (bytes, bytearray, memoryview)):
            m = out_dir / "model.onnx"
            m.write_bytes(bytes(model))
        else:
            m = Path(model)
        inp = _inputs_file(tmp, data, None)
        if reference is not None:
            doc = json.loads(Path(inp).read_text())
            doc["output_data"] = [_as_list(reference, "reference")]
            inp = tmp / "input_with_reference.json"
            inp.write_text(json.dumps(doc))
        argv = ["calibrate", m, "--input", inp, "-o", out_dir, "--target", target, "--bits", ",".join(str(b) for b in bits), "--atol", str(atol), "--rtol", str(rtol)]
        argv += _vis_args(input_visibility, output_visibility, visibility, weight_visibility, weight_bits)
        if python is not None or reference is None:
            argv += ["--python", os.fspath(python) if python is not None else sys.executable]
        return run(argv, progress)


def setup(model_dir: PathLike, *, srs: Optional[PathLike] = None, progress: Progress = True) -> str:
    """Generates the proving and verifying keys (``zkinfer setup``); returns the model identity.
    Without ``srs`` an UNSAFE deterministic dev SRS is used: for tests and demos only."""
    argv = ["setup", model_dir] + (["--srs", srs] if srs is not None else [])
    return run(argv, progress)["model_id"]


def prove(
    model_dir: PathLike,
    inputs: Union[PathLike, ArrayLike, Mapping[str, ArrayLike]],
    *,
    proof_path: Optional[PathLike] = None,
    binding: Optional[Union[int, str]] = None,
    saturate: bool = False,
    srs: Optional[PathLike] = None,
    progress: Progress = True,
) -> Proof:
    """Runs the model on ``inputs`` (an array; for several inputs a list or a dict by name; or
    an input file) and proves the output (``zkinfer prove``). ``binding``: public instance 0
    (a market job's ``bindingOf``), default 0. Returns the :class:`Proof`."""
    names = _input_names(model_dir)
    with tempfile.TemporaryDirectory() as t:
        argv = ["prove", model_dir, "--input", _inputs_file(Path(t), inputs, names)]
        if proof_path is not None:
            argv += ["--out", proof_path]
        if binding is not None:
            argv += ["--binding", hex(binding) if isinstance(binding, int) else binding]
        if saturate:
            argv.append("--saturate")
        if srs is not None:
            argv += ["--srs", srs]
        r = run(argv, progress)
    outs = r["outputs"]
    return Proof(
        path=Path(r["proof"]),
        model_id=r["model_id"],
        outputs=[_tensor(o) for o in outs],
        quantized=[_quantized(o) for o in outs],
        names=[o["name"] for o in outs],
        digests={o["name"]: o["digest"] for o in outs if o.get("digest")},
        instances=r["instances"],
        prove_seconds=r["prove_seconds"],
        proof_bytes=r["proof_bytes"],
        private_values=Path(r["private_values"]) if r.get("private_values") else None,
        report=r,
    )


def verify(
    model_dir: PathLike,
    proof: Union[Proof, PathLike],
    *,
    expect: Optional[Mapping[str, str]] = None,
    model_id: Optional[str] = None,
    any_weights: bool = False,
    srs: Optional[PathLike] = None,
) -> bool:
    """Verifies a proof natively (``zkinfer verify``): True when valid, False when the proof is
    rejected (an invalid proof, a digest other than ``expect``'s, weights other than the
    model's). Files that do not belong together (another model's keys) raise ZkinferError."""
    argv = ["verify", model_dir, proof]
    for name, d in (expect or {}).items():
        argv += ["--expect", f"{name}={d}"]
    argv += _opt("--model", model_id) + _opt("--any-weights", any_weights) + _opt("--srs", srs)
    return _valid(argv)


def hash(
    model_dir: PathLike,
    inputs: Union[PathLike, ArrayLike, Mapping[str, ArrayLike], None] = None,
    *,
    private_values: Optional[PathLike] = None,
    weights: Optional[PathLike] = None,
    proof: Union[Proof, PathLike, None] = None,
    saturate: bool = False,
) -> Dict[str, str]:
    """Poseidon digests of tensors as hashed visibility makes them public (``zkinfer hash``):
    of ``inputs``, of a proof's ``private_values`` file, or of a ``weights`` file. With
    ``proof``, also checks them against it (ProofRejected when one differs)."""
    with tempfile.TemporaryDirectory() as t:
        argv = ["hash", model_dir]
        if inputs is not None:
            argv += ["--input", _inputs_file(Path(t), inputs, _input_names(model_dir))]
        if private_values is not None:
            argv += ["--private", private_values]
        if weights is not None:
            argv += ["--weights", weights]
        if proof is not None:
            argv += ["--proof", proof]
        if saturate:
            argv.append("--saturate")
        return run(argv, False)["digests"]


def evm_verifier(
    model_dir: PathLike,
    proof: Union[Proof, PathLike, None] = None,
    *,
    compiled: bool = False,
    srs: Optional[PathLike] = None,
    progress: Progress = True,
) -> Dict[str, Any]:
    """Generates the model's Solidity verifier, compiles it with the pinned solcjs and, given
    a proof, verifies it in an in-process EVM (``zkinfer evm-verifier``). Returns the report:
    ``deployed_bytes``, ``fits_eip170``, and with a proof ``valid`` and ``gas_used``; a proof the
    EVM verifier rejects raises ProofRejected. Needs Node.js and the repository's
    verifier-contract folder (run from the repository or set ZKINFER_CONTRACTS_DIR)."""
    argv = ["evm-verifier", model_dir] + _opt("--proof", proof) + _opt("--compiled", compiled) + _opt("--srs", srs)
    return run(argv, progress)


def aggregate(
    model_dir: PathLike,
    inputs: Union[PathLike, ArrayLike, Mapping[str, ArrayLike]],
    *,
    k: Optional[int] = None,
    out: Optional[PathLike] = None,
    binding: Optional[Union[int, str]] = None,
    evm: bool = False,
    srs: Optional[PathLike] = None,
    progress: Progress = True,
) -> Dict[str, Any]:
    """Proves the model on ``inputs`` and aggregates the proof into a fixed-size proof whose
    EVM verifier does not depend on the model (``zkinfer aggregate``); ``evm`` also verifies
    it in the in-process EVM. Slow (minutes) and memory-hungry: the aggregation circuit has
    2^k rows (default the CLI's)."""
    with tempfile.TemporaryDirectory() as t:
        argv = ["aggregate", model_dir, "--input", _inputs_file(Path(t), inputs, _input_names(model_dir))]
        if k is not None:
            argv += ["--k", str(k)]
        if out is not None:
            argv += ["--out", out]
        if binding is not None:
            argv += ["--binding", hex(binding) if isinstance(binding, int) else binding]
        if evm:
            argv.append("--evm")
        if srs is not None:
            argv += ["--srs", srs]
        return run(argv, progress)


def verify_aggregate(model_dir: PathLike, aggregated: PathLike, *, aggregation_vk: Optional[str] = None, evm: bool = False, srs: Optional[PathLike] = None) -> bool:
    """Verifies an aggregated proof (``zkinfer aggregate --verify``): True when valid, False
    when rejected."""
    argv = ["aggregate", model_dir, "--verify", aggregated]
    argv += _opt("--aggregation-vk", aggregation_vk) + _opt("--evm", evm) + _opt("--srs", srs)
    return _valid(argv)


# EZKL's names for the same steps (see docs/python.md, "Coming from EZKL")
gen_settings = compile
calibrate_settings = calibrate
