# %% [markdown]
# # zkinfer quickstart: from an ONNX file to a verified proof and its EVM gas
#
# Run it as a script (`python examples/python/quickstart.py [MODEL.onnx]`) or cell by cell in
# a notebook (VS Code and Jupyter read the `# %%` markers). It needs the zkinfer wheel
# (`bash scripts/test-python.sh` builds it into python/dist/; `pip install` that file) and,
# for the EVM step, Node.js with the repository's verifier-contract/ (`bash
# verifier-contract/install.sh`).
#
# The keys below use zkinfer's deterministic DEV SRS: for tests and demos only (anyone can
# forge proofs against it). Give `srs="ceremony.srs"` to `setup`/`prove`/`verify` for real use.

# %%
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import zkinfer

repo = Path(__file__).resolve().parents[2] if "__file__" in globals() else Path.cwd()
model = Path(sys.argv[1]) if len(sys.argv) > 1 else repo / "models" / "digits_mlp" / "model.onnx"
work = Path(tempfile.mkdtemp(prefix="zkinfer-quickstart-"))
# an 8x8 digit, as the model was trained on (pixels in [0, 1])
x = np.asarray(json.loads((model.parent / "input.json").read_text())["input_data"][0]).reshape(1, 64)

# %% [markdown]
# ## 1. Compile: import the model and lay out its circuit
# (EZKL: `gen_settings` + `compile_circuit`; `zkinfer.calibrate` is `calibrate_settings`.)

# %%
settings = zkinfer.compile(model, work / "model")
print(f"k = {settings['k']} ({settings['rows']} rows), {settings['num_instances']} public instances, "
      f"predicted prove {settings['predicted_prove_seconds']:.2f} s")

# %% [markdown]
# ## 2. Setup: proving and verifying keys; the model identity names the model everywhere

# %%
model_id = zkinfer.setup(work / "model")
print("model", model_id)

# %% [markdown]
# ## 3. Prove: the output comes back as an array, with the integers the proof attests to

# %%
proof = zkinfer.prove(work / "model", x)
print("output", np.round(proof.outputs[0], 3), "-> class", int(np.argmax(proof.outputs[0])))
print(f"proof {proof.proof_bytes} bytes in {proof.prove_seconds:.2f} s -> {proof.path}")

# %% [markdown]
# ## 4. Verify natively, and see a tampered proof rejected

# %%
assert zkinfer.verify(work / "model", proof)
doc = json.loads(proof.path.read_text())
doc["proof"] = doc["proof"][:100] + ("0" if doc["proof"][100] != "0" else "1") + doc["proof"][101:]
(work / "tampered.json").write_text(json.dumps(doc))
print("honest proof valid; tampered proof valid?", zkinfer.verify(work / "model", work / "tampered.json"))

# %% [markdown]
# ## 5. The Solidity verifier, and what verification costs on an EVM

# %%
os.environ.setdefault("ZKINFER_CONTRACTS_DIR", str(repo / "verifier-contract"))
evm = zkinfer.evm_verifier(work / "model", proof)
print(f"verifier {evm['deployed_bytes']} bytes (EIP-170: {'fits' if evm['fits_eip170'] else 'TOO LARGE'}), "
      f"verification gas {evm['gas_used']}")
