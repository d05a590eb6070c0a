// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

/// @title ModelRegistry
/// @notice Append-only registry of provable ML models. Each entry names the snark-verifier
///         contract that checks proofs for the model, a commitment to its verifying key, the
///         number of public input / output / parameter instances of the circuit and a hash of
///         the parameter instances (the model's registered weights).
/// @dev Model ids are assigned sequentially starting at 1 (0 is never a valid id), in
///      registration order. Entries are immutable: there is no update or delete function; a new
///      version of a model is registered under a new id. The verifier's EXTCODEHASH is recorded
///      at registration so that consumers (InferenceMarket) can refuse to use a verifier whose
///      code has changed since (e.g. a metamorphic CREATE2 contract that self-destructed and
///      was redeployed with different code).
///
///      Public instance layout expected from the verifier (see InferenceMarket):
///      [binding, input_0 .. input_{nInputs-1}, output_0 .. output_{nOutputs-1},
///       param_0 .. param_{nParams-1}], i.e. 1 + nInputs + nOutputs + nParams BN254 scalars.
///      The params are the instances of the model's witness weights when it was compiled with
///      public weights (the packed weights) or hashed weights (one Poseidon digest per weight
///      tensor); a model with private weights has nParams == 0. The verifying key alone does not
///      fix them, so the registry pins them: paramsHash = keccak256(abi.encodePacked(params)),
///      the params as 32-byte big-endian words. For nParams == 0 that is keccak256("")
///      (EMPTY_PARAMS_HASH), the only value accepted then.
contract ModelRegistry {
    struct Model {
        // slot 0
        address verifier; // snark-verifier contract (fallback-only, reverts on a bad proof)
        uint32 nInputs; // number of public input instances
        uint32 nOutputs; // number of public output instances
        uint32 nParams; // number of public parameter (weight) instances, after the outputs
        // slot 1
        address owner; // who registered the model
        // slot 2
        bytes32 vkHash; // commitment to the verifying key (hash chosen off-chain, e.g. keccak256 of the serialized vk)
        // slot 3
        bytes32 verifierCodeHash; // EXTCODEHASH of `verifier` at registration
        // slot 4
        bytes32 paramsHash; // keccak256(abi.encodePacked(paramInstances)); EMPTY_PARAMS_HASH when nParams == 0
    }

    /// @notice paramsHash of a model without parameter instances: keccak256("").
    bytes32 public constant EMPTY_PARAMS_HASH = keccak256("");

    error ZeroVkHash();
    error VerifierHasNoCode(address verifier);
    error UnknownModel(uint256 modelId);
    /// @dev nParams == 0 needs paramsHash == EMPTY_PARAMS_HASH; nParams > 0 refuses 0 and EMPTY_PARAMS_HASH.
    error BadParamsHash(uint32 nParams, bytes32 paramsHash);

    event ModelRegistered(
        uint256 indexed modelId,
        address indexed owner,
        address indexed verifier,
        bytes32 vkHash,
        bytes32 verifierCodeHash,
        uint32 nInputs,
        uint32 nOutputs,
        uint32 nParams,
        bytes32 paramsHash
    );

    /// @notice Number of registered models; ids are 1..modelCount.
    uint256 public modelCount;

    mapping(uint256 => Model) private _models;

    /// @notice Registers a model; the caller becomes its owner. Returns the new id (modelCount after the call).
    /// @param nParams number of parameter (weight) instances, 0 for a model with private weights.
    /// @param paramsHash keccak256(abi.encodePacked(paramInstances)) (EMPTY_PARAMS_HASH when nParams == 0).
    function register(
        address verifier,
        bytes32 vkHash,
        uint32 nInputs,
        uint32 nOutputs,
        uint32 nParams,
        bytes32 paramsHash
    ) external returns (uint256 modelId) {
        if (verifier.code.length == 0) revert VerifierHasNoCode(verifier);
        if (vkHash == bytes32(0)) revert ZeroVkHash();
        if (
            nParams == 0
                ? paramsHash != EMPTY_PARAMS_HASH
                : (paramsHash == bytes32(0) || paramsHash == EMPTY_PARAMS_HASH)
        ) revert BadParamsHash(nParams, paramsHash);
        modelId = ++modelCount;
        bytes32 codeHash = verifier.codehash;
        _models[modelId] = Model({
            verifier: verifier,
            nInputs: nInputs,
            nOutputs: nOutputs,
            nParams: nParams,
            owner: msg.sender,
            vkHash: vkHash,
            verifierCodeHash: codeHash,
            paramsHash: paramsHash
        });
        emit ModelRegistered(modelId, msg.sender, verifier, vkHash, codeHash, nInputs, nOutputs, nParams, paramsHash);
    }

    /// @notice Full record of a model; reverts with UnknownModel for an id never assigned.
    function getModel(uint256 modelId) external view returns (Model memory) {
        Model memory m = _models[modelId];
        if (m.verifier == address(0)) revert UnknownModel(modelId);
        return m;
    }

    /// @notice What a consumer needs to verify a proof (three storage reads); reverts with UnknownModel.
    function verifierInfo(uint256 modelId)
        external
        view
        returns (
            address verifier,
            bytes32 verifierCodeHash,
            uint32 nInputs,
            uint32 nOutputs,
            uint32 nParams,
            bytes32 paramsHash
        )
    {
        Model storage m = _models[modelId];
        verifier = m.verifier;
        if (verifier == address(0)) revert UnknownModel(modelId);
        return (verifier, m.verifierCodeHash, m.nInputs, m.nOutputs, m.nParams, m.paramsHash);
    }

    /// @notice True when `modelId` has been assigned.
    function exists(uint256 modelId) external view returns (bool) {
        return _models[modelId].verifier != address(0);
    }
}
