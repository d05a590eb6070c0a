// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

/// @title AggregatedVerifierAdapter
/// @notice Lets the InferenceMarket (and any consumer of zkinfer's calling convention) use an
///         *aggregated* proof (`zkinfer aggregate`: one proof for a sharded model, or a model
///         proof wrapped for flat gas).
///
///         The market calls a model's verifier with
///             [binding, inputs, outputs, params] ++ proof            (32-byte words, then bytes)
///         while the aggregation verifier checks
///             [accumulator (12 words), binding, inputs, outputs, params] ++ aggregationProof.
///         The provider submits `proof = accumulator ++ aggregationProof`; this adapter moves the
///         12 accumulator words in front of the instances and calls the aggregation verifier with
///         STATICCALL, reverting when it fails. Nothing is checked less: the aggregation verifier
///         checks its whole statement, accumulator included (the accumulator is a public input
///         of the aggregation proof that only its pairing check gives meaning to).
/// @dev Register the adapter, not the aggregation verifier, in the ModelRegistry. Its code hash
///      covers its immutables (the verifier's address, its code hash, the instance count), and
///      every call checks that the verifier's code is still the one it was built for.
contract AggregatedVerifierAdapter {
    /// @notice Accumulator words (two G1 points, each coordinate in 3 limbs of 88 bits).
    uint256 public constant ACCUMULATOR_WORDS = 12;

    address public immutable verifier;
    bytes32 public immutable verifierCodeHash;
    /// @notice The model's public instances: binding + inputs + outputs + params.
    uint256 public immutable nInstances;

    error VerifierHasNoCode(address verifier);
    error NoInstances();
    error CalldataTooShort(uint256 length, uint256 minimum);
    error VerifierCodeChanged(address verifier);
    error InvalidAggregatedProof();

    constructor(address verifier_, uint256 nInstances_) {
        if (verifier_.code.length == 0) revert VerifierHasNoCode(verifier_);
        if (nInstances_ == 0) revert NoInstances();
        verifier = verifier_;
        verifierCodeHash = verifier_.codehash;
        nInstances = nInstances_;
    }

    /// @notice Calldata: the model's `nInstances` words, the 12 accumulator words, the
    ///         aggregation proof. Returns nothing on success; reverts otherwise.
    fallback(bytes calldata data) external returns (bytes memory) {
        uint256 head = nInstances * 32;
        uint256 acc = ACCUMULATOR_WORDS * 32;
        if (data.length < head + acc) revert CalldataTooShort(data.length, head + acc);
        if (verifier.codehash != verifierCodeHash) revert VerifierCodeChanged(verifier);
        bytes memory reordered = bytes.concat(data[head:head + acc], data[:head], data[head + acc:]);
        (bool ok, ) = verifier.staticcall(reordered);
        if (!ok) revert InvalidAggregatedProof();
        return "";
    }
}
