//! The ABI of `verifier-contract/src/{ModelRegistry,InferenceMarket}.sol`, as far as the
//! driver uses it (alloy `sol!`). Keep in step with the Solidity sources: the market tests
//! deploy the real contracts, so a mismatch fails them.

alloy_sol_types::sol! {
    #[derive(Debug, PartialEq, Eq)]
    interface ModelRegistry {
        struct Model {
            address verifier;
            uint32 nInputs;
            uint32 nOutputs;
            uint32 nParams;
            address owner;
            bytes32 vkHash;
            bytes32 verifierCodeHash;
            bytes32 paramsHash;
        }

        error ZeroVkHash();
        error VerifierHasNoCode(address verifier);
        error UnknownModel(uint256 modelId);
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

        function modelCount() external view returns (uint256);
        function EMPTY_PARAMS_HASH() external view returns (bytes32);
        function register(address verifier, bytes32 vkHash, uint32 nInputs, uint32 nOutputs, uint32 nParams, bytes32 paramsHash) external returns (uint256 modelId);
        function getModel(uint256 modelId) external view returns (Model memory);
        function verifierInfo(uint256 modelId) external view returns (address verifier, bytes32 verifierCodeHash, uint32 nInputs, uint32 nOutputs, uint32 nParams, bytes32 paramsHash);
    }

    #[derive(Debug, PartialEq, Eq)]
    interface InferenceMarket {
        enum JobState { None, Open, Claimed, Paid, Expired, Cancelled }

        struct Job {
            address requester;
            uint64 deadline;
            JobState state;
            address provider;
            uint64 modelId;
            address token;
            uint96 stake;
            uint256 amount;
            bytes32 inputsHash;
        }

        error ZeroAddress();
        error FeeTooHigh(uint256 feeBps, uint256 maxFeeBps);
        error SlashTooHigh(uint256 slashBps);
        error UnbondingDelayTooLong(uint256 delay);
        error Reentrancy();
        error ZeroAmount();
        error AmountTooLarge(uint256 amount);
        error StakeTooLarge(uint256 stake);
        error DeadlineNotInFuture(uint256 deadline, uint256 nowTs);
        error WrongInputCount(uint256 expected, uint256 actual);
        error WrongOutputCount(uint256 expected, uint256 actual);
        error WrongParamCount(uint256 expected, uint256 actual);
        error InstanceOutOfField(uint256 index, uint256 value);
        error WrongEthValue(uint256 expected, uint256 actual);
        error TokenHasNoCode(address token);
        error TokenTransferFailed(address token);
        error FeeOnTransferToken(address token, uint256 expected, uint256 received);
        error EthTransferFailed(address to, uint256 amount);
        error UnknownJob(uint256 jobId);
        error JobNotOpen(uint256 jobId, JobState state);
        error JobNotClaimed(uint256 jobId, JobState state);
        error JobNotActive(uint256 jobId, JobState state);
        error DeadlinePassed(uint256 jobId, uint256 deadline);
        error DeadlineNotReached(uint256 jobId, uint256 deadline);
        error NotRequester(uint256 jobId, address caller);
        error NotProvider(uint256 jobId, address caller);
        error InsufficientStake(uint256 required, uint256 free);
        error InputsMismatch(uint256 jobId);
        error ParamsMismatch(uint256 jobId);
        error VerifierCodeChanged(address verifier);
        error InvalidProof(uint256 jobId);
        error NothingToWithdraw();
        error WithdrawNotReady(uint256 unlockTime);
        error UnknownModel(uint256 modelId);

        event JobPosted(
            uint256 indexed jobId,
            uint256 indexed modelId,
            address indexed requester,
            address token,
            uint256 amount,
            uint256 stake,
            uint64 deadline,
            uint256[] inputInstances
        );
        event JobCompleted(uint256 indexed jobId, address indexed provider, uint256[] outputInstances);

        function deposit() external payable;
        function requestWithdraw(uint256 amount) external;
        function withdraw() external;
        function postJob(uint256 modelId, uint256[] inputInstances, uint64 deadline, address token, uint256 amount, uint256 stakeRequired) external payable returns (uint256 jobId);
        function claim(uint256 jobId) external;
        function submit(uint256 jobId, uint256[] inputInstances, uint256[] outputInstances, uint256[] paramInstances, bytes proof) external;
        function expire(uint256 jobId) external;
        function cancel(uint256 jobId) external;
        function withdrawFunds(address token) external;
        function job(uint256 jobId) external view returns (Job memory);
        function stakeOf(address provider) external view returns (uint256 total, uint256 locked, uint256 pendingWithdraw, uint256 unlockTime);
        function freeStakeOf(address provider) external view returns (uint256);
        function bindingOf(uint256 jobId, address provider) external view returns (uint256);
        function withdrawable(address token, address account) external view returns (uint256);
        function jobCount() external view returns (uint256);
        function feeBps() external view returns (uint256);
        function slashBps() external view returns (uint256);
        function minStake() external view returns (uint256);
        function registry() external view returns (address);
    }
}

use alloy_sol_types::SolInterface;

/// A human-readable name for revert data from the registry or the market: the custom error
/// with its arguments, a `revert("...")` string, or the raw bytes.
pub fn describe_revert(data: &[u8]) -> String {
    if data.is_empty() {
        return "reverted without data (out of gas, or a call into code that reverted silently)".into();
    }
    if let Ok(e) = InferenceMarket::InferenceMarketErrors::abi_decode(data) {
        return unwrap_variant(format!("{e:?}"));
    }
    if let Ok(e) = ModelRegistry::ModelRegistryErrors::abi_decode(data) {
        return unwrap_variant(format!("{e:?}"));
    }
    if let Ok(s) = <alloy_sol_types::Revert as alloy_sol_types::SolError>::abi_decode(data) {
        return format!("revert({:?})", s.reason);
    }
    format!("reverted with 0x{}", hex::encode(data))
}

/// `Name(Name { a: 1 })` -> `Name { a: 1 }` (the error enum's Debug wraps each error struct).
fn unwrap_variant(s: String) -> String {
    match s.split_once('(') {
        Some((name, inner)) if inner.starts_with(name) && inner.ends_with(')') => inner[..inner.len() - 1].to_string(),
        _ => s,
    }
}
