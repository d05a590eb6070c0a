// SPDX-License-Identifier: MIT
pragma solidity ^0.8.19;

import {ModelRegistry} from "../ModelRegistry.sol";

/// @title Zkinfer: verify a zkinfer proof and read the model's output inside your contract
/// @notice A consumer contract imports this library to
///         1. derive a binding that ties a proof to this contract, this chain and a context it
///            chooses (a borrower and a nonce, a round id...): a proof made for one binding does
///            not verify for another, so it cannot be replayed elsewhere or twice;
///         2. check the proof's inputs against a commitment (keccak256 of the input instances,
///            e.g. attested by a data provider) and verify the proof through the verifier the
///            ModelRegistry records for the model, with the registry's safety checks (verifier
///            code unchanged, instance counts, weights hash, every instance below the field
///            modulus);
///         3. decode the packed public outputs into integers, and those into signed
///            fixed-point values (18 decimals) with the output's scale and zero point.
/// @dev Public instance layout (docs/instances.md): [binding, inputs.., outputs.., params..],
///      each a BN254 scalar as a 32-byte big-endian word. A public tensor packs several values
///      per word: value j is ((word[first + j / perWord] >> (8 * bytesPer * (j % perWord)))
///      & (2^(8 * bytesPer) - 1)) + lo. `zkinfer evm-verifier DIR` writes DIR/instances.json with
///      first, perWord, bytesPer, lo, scale and zero point of every tensor.
library Zkinfer {
    /// @notice The BN254 scalar field modulus: every instance must be below it (the generated
    ///         verifier reduces instances mod R, so w and w + R would verify alike).
    uint256 internal constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;

    /// @notice How one public tensor's values are packed (from DIR/instances.json).
    struct Packing {
        int256 lo; // the smallest value the circuit allows
        uint256 bytesPer; // bytes per value
        uint256 perWord; // values per instance word
        uint256 count; // number of values
    }

    error VerifierCodeChanged(address verifier);
    error WrongInputCount(uint256 expected, uint256 actual);
    error WrongOutputCount(uint256 expected, uint256 actual);
    error WrongParamCount(uint256 expected, uint256 actual);
    error ParamsMismatch(uint256 modelId);
    error InputsMismatch(bytes32 expected, bytes32 actual);
    error InstanceOutOfField(uint256 index, uint256 value);
    error InvalidProof(uint256 modelId);
    error BadPacking(uint256 wordsGiven, uint256 wordsNeeded);

    /// @notice The binding for `context` in the calling contract on this chain:
    ///         keccak256(abi.encode(block.chainid, address(this), context)) mod R. Prove with
    ///         `zkinfer prove --binding` set to it (the prover computes it the same way).
    function binding(bytes32 context) internal view returns (uint256) {
        return uint256(keccak256(abi.encode(block.chainid, address(this), context))) % R;
    }

    /// @notice The commitment to a proof's input instances: keccak256 of the 32-byte words
    ///         (the same value InferenceMarket stores as a job's inputsHash).
    function inputsHash(uint256[] memory inputs) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(inputs));
    }

    /// @notice Reverts unless the input instances are the committed ones.
    function requireInputs(uint256[] memory inputs, bytes32 expected) internal pure {
        bytes32 got = inputsHash(inputs);
        if (got != expected) revert InputsMismatch(expected, got);
    }

    /// @notice Verifies a proof of model `modelId` for `binding_` through the registry's
    ///         verifier; reverts with the reason when anything does not hold (nothing is
    ///         returned: past this call the outputs are proven).
    /// @param params the weight instances (empty for a model whose weights are fixed in its key
    ///        or private); they must hash to the registered paramsHash.
    function verify(
        ModelRegistry registry,
        uint256 modelId,
        uint256 binding_,
        uint256[] memory inputs,
        uint256[] memory outputs,
        uint256[] memory params,
        bytes memory proof
    ) internal view {
        (address verifier, bytes32 codeHash, uint32 nIn, uint32 nOut, uint32 nParams, bytes32 paramsHash) =
            registry.verifierInfo(modelId);
        if (verifier.codehash != codeHash) revert VerifierCodeChanged(verifier);
        if (inputs.length != nIn) revert WrongInputCount(nIn, inputs.length);
        if (outputs.length != nOut) revert WrongOutputCount(nOut, outputs.length);
        if (params.length != nParams) revert WrongParamCount(nParams, params.length);
        if (keccak256(abi.encodePacked(params)) != paramsHash) revert ParamsMismatch(modelId);
        if (binding_ >= R) revert InstanceOutOfField(0, binding_);
        _inField(inputs, 1);
        _inField(outputs, 1 + inputs.length);
        _inField(params, 1 + inputs.length + outputs.length);
        bytes memory data = abi.encodePacked(binding_, inputs, outputs, params, proof);
        bool ok;
        assembly {
            // no return data is copied; a bad proof reverts (or, in the pairing precompile,
            // consumes the gas it was given: 63/64 of what is left, so this frame can revert)
            ok := staticcall(gas(), verifier, add(data, 0x20), mload(data), 0, 0)
        }
        if (!ok) revert InvalidProof(modelId);
    }

    /// @notice The integers of one public tensor, from its packed words `words[first..]`.
    function decode(uint256[] memory words, uint256 first, Packing memory p) internal pure returns (int256[] memory q) {
        uint256 needed = p.perWord == 0 ? 0 : (p.count + p.perWord - 1) / p.perWord;
        if (p.perWord == 0 || p.bytesPer == 0 || p.bytesPer * p.perWord > 31 || words.length < first + needed) {
            revert BadPacking(words.length, first + needed);
        }
        q = new int256[](p.count);
        uint256 bits = 8 * p.bytesPer;
        uint256 mask = (uint256(1) << bits) - 1;
        for (uint256 j = 0; j < p.count; j++) {
            uint256 w = words[first + j / p.perWord];
            q[j] = int256((w >> (bits * (j % p.perWord))) & mask) + p.lo;
        }
    }

    /// @notice Fixed-point values with 18 decimals: (q - zeroPoint) * scaleWad, where
    ///         scaleWad = round(scale * 1e18) (scale from DIR/instances.json).
    function toWad(int256[] memory q, int256 zeroPoint, int256 scaleWad) internal pure returns (int256[] memory v) {
        v = new int256[](q.length);
        for (uint256 i = 0; i < q.length; i++) {
            v[i] = (q[i] - zeroPoint) * scaleWad;
        }
    }

    function _inField(uint256[] memory xs, uint256 offset) private pure {
        for (uint256 i = 0; i < xs.length; i++) {
            if (xs[i] >= R) revert InstanceOutOfField(offset + i, xs[i]);
        }
    }
}
