// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

/// @notice Stand-in for a snark-verifier contract: fallback only, calldata = nInstances 32-byte
///         instances followed by the proof. It accepts (returns empty data) iff the proof is exactly
///         keccak256(abi.encodePacked(salt, instances)) (32 bytes); `salt` plays the role of the
///         verifying key, so two mock verifiers with different salts accept different proofs.
///         On a bad proof it reverts with empty data, or, when `burnGasOnFailure`, spins until it
///         has used all the gas it was given (as a real verifier can).
contract MockVerifier {
    uint256 public immutable nInstances;
    bytes32 public immutable salt;
    bool public immutable burnGasOnFailure;

    constructor(uint256 nInstances_, bytes32 salt_, bool burnGasOnFailure_) {
        nInstances = nInstances_;
        salt = salt_;
        burnGasOnFailure = burnGasOnFailure_;
    }

    /// @notice The proof this verifier accepts for `instances` (length must be nInstances).
    function proofFor(uint256[] memory instances) external view returns (bytes memory) {
        require(instances.length == nInstances, "MockVerifier: instance count");
        return abi.encodePacked(keccak256(abi.encodePacked(salt, instances)));
    }

    fallback(bytes calldata data) external returns (bytes memory) {
        uint256 n = nInstances * 32;
        bool valid = data.length == n + 32 && bytes32(data[n:]) == keccak256(abi.encodePacked(salt, data[:n]));
        if (!valid) {
            if (burnGasOnFailure) {
                // Spin until out of gas; consumes everything forwarded to us.
                uint256 x;
                while (true) {
                    unchecked {
                        ++x;
                    }
                }
            }
            revert();
        }
        return "";
    }
}

/// @notice The gas-burning variant: an invalid proof consumes all forwarded gas.
contract GasBurningVerifier is MockVerifier {
    constructor(uint256 nInstances_, bytes32 salt_) MockVerifier(nInstances_, salt_, true) {}
}

/// @notice Accepts every call (a verifier whose vk lets anything through): leaves only the market's
///         own checks (binding, inputs hash, counts, field range, registered params) in force.
contract AcceptAllVerifier {
    fallback(bytes calldata) external returns (bytes memory) {
        return "";
    }
}

/// @notice A malicious verifier that tries to call back into the market while verifying and only
///         "accepts" when that reentrant call succeeds. The market calls verifiers with STATICCALL
///         behind a reentrancy guard, so the reentrant call always fails and the proof is rejected.
contract ReentrantVerifier {
    address public immutable market;
    bytes public reentryData;

    constructor(address market_) {
        market = market_;
    }

    function setReentryData(bytes calldata d) external {
        reentryData = d;
    }

    fallback(bytes calldata) external returns (bytes memory) {
        (bool ok, ) = market.call(reentryData);
        require(ok, "reentry failed");
        return "";
    }
}
