// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

/// @title ModelRegistry
/// @notice Append-only registry of provable ML models. Each entry names the snark-verifier
///         contract that checks proofs for the model, a commitment to its verifying key and
///         the number of public input / output instances of the circuit.
/// @dev Model ids are assigned sequentially starting at 1 (0 is never a valid id), in
///      registration order. Entries are immutable: there is no update or delete function; a new
///      version of a model is registered under a new id. The verifier's EXTCODEHASH is recorded
///      at registration so that consumers (InferenceMarket) can refuse to use a verifier whose
///      code has changed since (e.g. a metamorphic CREATE2 contract that self-destructed and
///      was redeployed with different code).
///
///      Public instance layout expected from the verifier (see InferenceMarket):
///      [binding, input_0 .. input_{nInputs-1}, output_0 .. output_{nOutputs-1}],
///      i.e. 1 + nInputs + nOutputs BN254 scalars.
contract ModelRegistry {
    struct Model {
        // slot 0
        address verifier; // snark-verifier contract (fallback-only, reverts on a bad proof)
        uint32 nInputs; // number of public input instances
        uint32 nOutputs; // number of public output instances
        // slot 1
        address owner; // who registered the model
        // slot 2
        bytes32 vkHash; // commitment to the verifying key (hash chosen off-chain, e.g. keccak256 of the serialized vk)
        // slot 3
        bytes32 verifierCodeHash; // EXTCODEHASH of `verifier` at registration
    }

    error ZeroVkHash();
    error VerifierHasNoCode(address verifier);
    error UnknownModel(uint256 modelId);

    event ModelRegistered(
        uint256 indexed modelId,
        address indexed owner,
        address indexed verifier,
        bytes32 vkHash,
        bytes32 verifierCodeHash,
        uint32 nInputs,
        uint32 nOutputs
    );

    /// @notice Number of registered models; ids are 1..modelCount.
    uint256 public modelCount;

    mapping(uint256 => Model) private _models;

    /// @notice Registers a model; the caller becomes its owner. Returns the new id (modelCount after the call).
    function register(address verifier, bytes32 vkHash, uint32 nInputs, uint32 nOutputs)
        external
        returns (uint256 modelId)
    {
        if (verifier.code.length == 0) revert VerifierHasNoCode(verifier);
        if (vkHash == bytes32(0)) revert ZeroVkHash();
        modelId = ++modelCount;
        bytes32 codeHash = verifier.codehash;
        _models[modelId] = Model({
            verifier: verifier,
            nInputs: nInputs,
            nOutputs: nOutputs,
            owner: msg.sender,
            vkHash: vkHash,
            verifierCodeHash: codeHash
        });
        emit ModelRegistered(modelId, msg.sender, verifier, vkHash, codeHash, nInputs, nOutputs);
    }

    /// @notice Full record of a model; reverts with UnknownModel for an id never assigned.
    function getModel(uint256 modelId) external view returns (Model memory) {
        Model memory m = _models[modelId];
        if (m.verifier == address(0)) revert UnknownModel(modelId);
        return m;
    }

    /// @notice What a consumer needs to verify a proof (two storage reads); reverts with UnknownModel.
    function verifierInfo(uint256 modelId)
        external
        view
        returns (address verifier, bytes32 verifierCodeHash, uint32 nInputs, uint32 nOutputs)
    {
        Model storage m = _models[modelId];
        verifier = m.verifier;
        if (verifier == address(0)) revert UnknownModel(modelId);
        return (verifier, m.verifierCodeHash, m.nInputs, m.nOutputs);
    }

    /// @notice True when `modelId` has been assigned.
    function exists(uint256 modelId) external view returns (bool) {
        return _models[modelId].verifier != address(0);
    }
}
