// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

import {ModelRegistry} from "./ModelRegistry.sol";

/// @title InferenceMarket
/// @notice Escrow market for proven ML inference. A requester posts a job (model id, public
///         input instances, deadline, payment in ETH or an ERC-20 of at most 2^128 - 1 units,
///         stake the provider must lock).
///         A staked provider claims it, runs the model off-chain, proves it with the model's
///         halo2 circuit and submits the public outputs together with the proof. The market
///         checks that the proof used the model's registered weights (parameter instances), checks
///         the proof with the model's snark-verifier contract and releases the payment;
///         if the deadline passes first, anyone can expire the job: the requester is refunded and
///         part of the claimer's locked stake is slashed to the requester.
///
/// Job state machine (see README.md):
///
///     None --postJob--> Open --claim--> Claimed --submit (valid proof)--> Paid
///                        |                 |
///                        |--cancel--> Cancelled (requester only, before a claim)
///                        |                 |
///                        +----expire (block.timestamp >= deadline)----> Expired
///
/// Timing: claim and submit need block.timestamp < deadline; expire needs block.timestamp >= deadline,
/// so at every moment exactly one of "can still be fulfilled" and "can be expired" holds.
///
/// Public instances handed to the verifier (every one a 32-byte big-endian word, < R):
///     [binding, inputInstances..., outputInstances..., paramInstances...] followed by the proof
///     bytes, where
///     binding = uint256(keccak256(abi.encode(block.chainid, address(this), jobId, provider))) % R
/// and paramInstances are the instances of the model's witness weights (public or hashed weights;
/// none for private weights): their count and keccak256(abi.encodePacked(paramInstances)) must be
/// the ones registered in the ModelRegistry, so a proof made with other weights is refused.
/// The circuit exposes `binding` as its first public instance, so a proof is valid for exactly one
/// (chain, market, job, provider): it cannot be replayed for another job, on another market or chain,
/// and a front-runner copying the proof from the mempool would submit it as a different provider.
///
/// Payments are pull-based: every payout (provider payment, fee, refunds, slashed stake) is credited
/// to `withdrawable[token][account]` and sent by `withdrawFunds(token)`. A receiver that reverts
/// (or a token that blacklists one account) therefore only blocks its own withdrawal, never a
/// submit/expire/cancel or anybody else's funds. Stake withdrawals (`withdraw`) send ETH directly to
/// the staker, who is the caller. All state-changing entry points share one reentrancy guard and
/// follow checks-effects-interactions; the verifier is called with STATICCALL.
///
/// Amounts: a job's `amount` is at most type(uint128).max (AmountTooLarge at postJob), and the fee is
/// computed without an intermediate product that could overflow, so no amount a requester can post
/// makes an honest submit revert; every credit is <= 2^128 - 1, so `withdrawable` cannot overflow.
///
/// Tokens: plain ERC-20s, including ones whose transfer/transferFrom return no value (USDT-style).
/// Fee-on-transfer tokens are rejected at postJob (the received amount must equal `amount`);
/// rebasing tokens are not supported.
contract InferenceMarket {
    // ---------------------------------------------------------------- constants

    /// @notice BN254 scalar field modulus; every public instance must be below it.
    uint256 public constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// @notice Basis-point denominator.
    uint256 public constant BPS = 10_000;
    /// @notice Largest protocol fee, in basis points (5%).
    uint256 public constant MAX_FEE_BPS = 500;
    /// @notice Longest allowed unbonding delay (keeps unlock times far inside uint64).
    uint256 public constant MAX_UNBONDING_DELAY = 365 days;
    /// @notice Words of the KZG accumulator an aggregated proof begins with (two G1 points, each
    ///         coordinate in 3 limbs).
    uint256 public constant ACCUMULATOR_WORDS = 12;
    /// @notice Most jobs one `submitBatch` settles.
    uint256 public constant MAX_BATCH = 64;

    // ---------------------------------------------------------------- types

    enum JobState {
        None,
        Open,
        Claimed,
        Paid,
        Expired,
        Cancelled
    }

    /// @notice A job as `job()` returns it.
    struct Job {
        address requester;
        uint64 deadline; // unix seconds; claim/submit need block.timestamp < deadline
        JobState state;
        address provider; // claimer, zero while Open
        uint64 modelId;
        address token; // address(0) = ETH
        uint96 stake; // stake the claimer locks: max(minStake, stakeRequired)
        uint256 amount; // escrowed payment
        bytes32 inputsHash; // keccak256(abi.encodePacked(inputInstances))
    }

    /// @dev A job as stored. What `submit` and `submitBatch` read of a job fills slots 0-3, so
    ///      settling a job reads 4 storage slots (cold: 2,100 gas each) and writes one; the
    ///      requester, which only `expire` and `cancel` need, has slot 4 to itself. `claim` writes
    ///      the provider and the state into one slot.
    struct Record {
        // slot 0
        JobState state;
        uint64 deadline;
        address provider;
        // slot 1
        address token;
        uint96 stake;
        // slot 2
        uint128 amount; // <= type(uint128).max: postJob refuses more (AmountTooLarge)
        uint64 modelId;
        // slot 3
        bytes32 inputsHash;
        // slot 4
        address requester;
    }

    /// @notice A model's verifier for batches of `size` jobs: it checks one aggregated proof of
    ///         `size` proofs of the model (`zkinfer batch`).
    struct BatchVerifier {
        address verifier;
        bytes32 codeHash; // EXTCODEHASH of `verifier` at registration
        uint256 firstJob; // the job count + 1 at registration: older jobs are never settled with it
    }

    struct Stake {
        // slot 0
        uint128 total; // deposited and not yet withdrawn (includes locked and pending)
        uint128 locked; // locked by claimed jobs
        // slot 1
        uint128 pendingWithdraw; // requested, unbonding; neither lockable nor slashable
        uint64 unlockTime; // when pendingWithdraw can be withdrawn
    }

    // ---------------------------------------------------------------- errors

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
    /// @dev index into [binding, inputs..., outputs..., params...] (postJob: into the inputs).
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
    /// @dev keccak256(abi.encodePacked(paramInstances)) differs from the model's registered paramsHash.
    error ParamsMismatch(uint256 jobId);
    error VerifierCodeChanged(address verifier);
    error InvalidProof(uint256 jobId);
    error NothingToWithdraw();
    error NotModelOwner(uint256 modelId, address caller);
    error BadBatchSize(uint256 size);
    error BatchVerifierExists(uint256 modelId, uint256 size);
    error VerifierHasNoCode(address verifier);
    error NoBatchVerifier(uint256 modelId, uint256 size);
    /// @dev jobIds, inputInstances and outputInstances must have the same, non-zero length.
    error BatchLengthMismatch();
    /// @dev Job ids in a batch must be strictly increasing (so each job appears once).
    error JobsNotIncreasing(uint256 index);
    error WrongModel(uint256 jobId, uint256 modelId);
    /// @dev The job was posted before the model's batch verifier of this size was registered.
    error JobBeforeBatchVerifier(uint256 jobId, uint256 firstJob);
    error ProofTooShort(uint256 length, uint256 minimum);
    error InvalidBatchProof();
    error WithdrawNotReady(uint256 unlockTime);

    // ---------------------------------------------------------------- events

    event Deposited(address indexed provider, uint256 amount);
    event WithdrawRequested(address indexed provider, uint256 amount, uint256 pendingWithdraw, uint64 unlockTime);
    event Withdrawn(address indexed provider, uint256 amount);
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
    event JobClaimed(uint256 indexed jobId, address indexed provider, uint256 stakeLocked);
    event JobCompleted(uint256 indexed jobId, address indexed provider, uint256[] outputInstances);
    event BatchVerifierRegistered(uint256 indexed modelId, uint256 indexed size, address verifier, bytes32 codeHash, uint256 firstJob);
    event JobExpired(uint256 indexed jobId, address indexed provider, uint256 slashed);
    event JobCancelled(uint256 indexed jobId);
    /// @notice `amount` of `token` became withdrawable by `account` (payment, fee, refund or slash).
    event Credited(address indexed token, address indexed account, uint256 amount);
    event FundsWithdrawn(address indexed token, address indexed account, uint256 amount);

    // ---------------------------------------------------------------- configuration

    ModelRegistry public immutable registry;
    address public immutable feeRecipient;
    uint256 public immutable feeBps;
    uint256 public immutable slashBps;
    uint256 public immutable unbondingDelay;
    uint256 public immutable minStake;

    // ---------------------------------------------------------------- state

    /// @notice Number of jobs posted; job ids are 1..jobCount.
    uint256 public jobCount;
    mapping(uint256 => Record) private _jobs;
    mapping(address => Stake) private _stakes;
    /// @notice token (address(0) = ETH) => account => amount withdrawable with withdrawFunds(token).
    mapping(address => mapping(address => uint256)) public withdrawable;
    /// @dev modelId => batch size => its batch verifier (none: verifier == address(0)).
    mapping(uint256 => mapping(uint256 => BatchVerifier)) private _batchVerifiers;

    uint256 private _guard = 1; // 1 = unlocked, 2 = locked

    modifier nonReentrant() {
        if (_guard != 1) revert Reentrancy();
        _guard = 2;
        _;
        _guard = 1;
    }

    constructor(
        ModelRegistry registry_,
        address feeRecipient_,
        uint256 feeBps_,
        uint256 slashBps_,
        uint256 unbondingDelay_,
        uint256 minStake_
    ) {
        if (address(registry_) == address(0) || feeRecipient_ == address(0)) revert ZeroAddress();
        if (feeBps_ > MAX_FEE_BPS) revert FeeTooHigh(feeBps_, MAX_FEE_BPS);
        if (slashBps_ > BPS) revert SlashTooHigh(slashBps_);
        if (unbondingDelay_ > MAX_UNBONDING_DELAY) revert UnbondingDelayTooLong(unbondingDelay_);
        if (minStake_ > type(uint96).max) revert StakeTooLarge(minStake_);
        registry = registry_;
        feeRecipient = feeRecipient_;
        feeBps = feeBps_;
        slashBps = slashBps_;
        unbondingDelay = unbondingDelay_;
        minStake = minStake_;
    }

    // ================================================================ staking

    /// @notice Adds msg.value to the caller's stake.
    function deposit() external payable nonReentrant {
        if (msg.value == 0) revert ZeroAmount();
        if (msg.value > type(uint128).max) revert AmountTooLarge(msg.value);
        _stakes[msg.sender].total += uint128(msg.value);
        emit Deposited(msg.sender, msg.value);
    }

    /// @notice Starts unbonding `amount` of free (unlocked, not already pending) stake. The whole
    ///         pending amount becomes withdrawable `unbondingDelay` seconds after the latest request.
    function requestWithdraw(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Stake storage s = _stakes[msg.sender];
        uint256 free = _free(s);
        if (amount > free) revert InsufficientStake(amount, free);
        uint128 pending = s.pendingWithdraw + uint128(amount); // amount <= free < 2^128
        uint64 unlockTime = uint64(block.timestamp + unbondingDelay);
        s.pendingWithdraw = pending;
        s.unlockTime = unlockTime;
        emit WithdrawRequested(msg.sender, amount, pending, unlockTime);
    }

    /// @notice Sends the caller's pending withdrawal once its unbonding delay has passed.
    function withdraw() external nonReentrant {
        Stake storage s = _stakes[msg.sender];
        uint256 amount = s.pendingWithdraw;
        if (amount == 0) revert NothingToWithdraw();
        if (block.timestamp < s.unlockTime) revert WithdrawNotReady(s.unlockTime);
        s.pendingWithdraw = 0;
        s.unlockTime = 0;
        s.total -= uint128(amount);
        emit Withdrawn(msg.sender, amount);
        _sendEth(msg.sender, amount);
    }

    // ================================================================ jobs

    /// @notice Posts a job. Pays `amount` (1 .. 2^128 - 1, else ZeroAmount / AmountTooLarge) of ETH
    ///         (token == address(0), msg.value == amount) or of an ERC-20 (msg.value == 0; the market
    ///         must be approved for `amount`). Only the hash of the inputs is stored; the inputs
    ///         themselves are in the JobPosted event.
    /// @param stakeRequired stake the claimer must lock; raised to minStake when lower.
    function postJob(
        uint256 modelId,
        uint256[] calldata inputInstances,
        uint64 deadline,
        address token,
        uint256 amount,
        uint256 stakeRequired
    ) external payable nonReentrant returns (uint256 jobId) {
        if (deadline <= block.timestamp) revert DeadlineNotInFuture(deadline, block.timestamp);
        if (amount == 0) revert ZeroAmount();
        // Bounds every credit (payment, fee, refund) so that no sum of them can overflow.
        if (amount > type(uint128).max) revert AmountTooLarge(amount);
        _checkPostedInputs(modelId, inputInstances);
        if (stakeRequired < minStake) stakeRequired = minStake; // now the stake a claimer locks
        if (stakeRequired > type(uint96).max) revert StakeTooLarge(stakeRequired);

        jobId = ++jobCount;
        Record storage j = _jobs[jobId];
        j.requester = msg.sender;
        j.deadline = deadline;
        j.state = JobState.Open;
        j.modelId = uint64(modelId); // registered ids are sequential, far below 2^64
        j.token = token;
        j.stake = uint96(stakeRequired);
        j.amount = uint128(amount); // <= type(uint128).max, checked above
        j.inputsHash = keccak256(abi.encodePacked(inputInstances));
        emit JobPosted(jobId, modelId, msg.sender, token, amount, stakeRequired, deadline, inputInstances);
        _collectPayment(token, amount);
    }

    /// @notice Claims an open job: locks max(minStake, stakeRequired) of the caller's free stake.
    ///         Refused (VerifierCodeChanged) when the model's verifier no longer has the code it was
    ///         registered with: such a job could never be paid, and the claimer would be slashed.
    function claim(uint256 jobId) external nonReentrant {
        Record storage j = _jobs[jobId];
        JobState st = j.state;
        if (st != JobState.Open) {
            if (st == JobState.None) revert UnknownJob(jobId);
            revert JobNotOpen(jobId, st);
        }
        if (block.timestamp >= j.deadline) revert DeadlinePassed(jobId, j.deadline);
        (address verifier, bytes32 codeHash, , , , ) = registry.verifierInfo(j.modelId);
        if (verifier.codehash != codeHash) revert VerifierCodeChanged(verifier);
        uint256 stake = j.stake;
        Stake storage s = _stakes[msg.sender];
        uint256 free = _free(s);
        if (free < stake) revert InsufficientStake(stake, free);
        s.locked += uint128(stake);
        j.provider = msg.sender;
        j.state = JobState.Claimed;
        emit JobClaimed(jobId, msg.sender, stake);
    }

    /// @notice Fulfils a claimed job with a proof. Only the claimer, before the deadline.
    ///         `paramInstances` are the proof's weight instances: exactly the model's nParams values
    ///         whose keccak256(abi.encodePacked(..)) is its registered paramsHash (empty for a model
    ///         with private weights). The verifier is called with
    ///         [binding, inputInstances, outputInstances, paramInstances] ++ proof and must not revert.
    ///         A failing proof reverts the whole call, so nothing changes and the claimer may retry
    ///         until the deadline. JobCompleted carries the outputs only.
    function submit(
        uint256 jobId,
        uint256[] calldata inputInstances,
        uint256[] calldata outputInstances,
        uint256[] calldata paramInstances,
        bytes calldata proof
    ) external nonReentrant {
        Record storage j = _claimedByCaller(jobId);
        if (keccak256(abi.encodePacked(inputInstances)) != j.inputsHash) revert InputsMismatch(jobId);
        address verifier = _checkInstances(jobId, j.modelId, inputInstances, outputInstances, paramInstances);
        _callVerifier(
            jobId,
            verifier,
            abi.encodePacked(bindingOf(jobId, msg.sender), inputInstances, outputInstances, paramInstances, proof)
        );

        // Effects (no external calls follow: all payouts are credits). Nothing here can revert for
        // a job the requester could post: locked >= j.stake (it was locked by the claim), the fee is
        // computed without overflow and fee <= amount, and amount <= 2^128 - 1 keeps every credit sum
        // far from 2^256.
        j.state = JobState.Paid;
        _stakes[msg.sender].locked -= uint128(j.stake);
        uint256 amount = j.amount;
        uint256 fee = _fee(amount);
        address token = j.token;
        _credit(token, msg.sender, amount - fee);
        if (fee != 0) _credit(token, feeRecipient, fee);
        emit JobCompleted(jobId, msg.sender, outputInstances);
    }

    /// @notice The model's owner (in the registry) names the verifier of batches of `size` of its
    ///         jobs, once per size: an aggregation verifier whose public instances are the 12
    ///         accumulator words, then [binding, inputs, outputs, params] of each job in turn. Only
    ///         jobs posted after this call can be settled with it, so a requester knows at
    ///         posting which verifiers may pay for the job (off-chain clients check their code,
    ///         as for the model's own verifier).
    function registerBatchVerifier(uint256 modelId, uint256 size, address verifier) external nonReentrant {
        if (registry.getModel(modelId).owner != msg.sender) revert NotModelOwner(modelId, msg.sender);
        if (size < 2 || size > MAX_BATCH) revert BadBatchSize(size);
        if (verifier.code.length == 0) revert VerifierHasNoCode(verifier);
        BatchVerifier storage b = _batchVerifiers[modelId][size];
        if (b.verifier != address(0)) revert BatchVerifierExists(modelId, size);
        uint256 firstJob = jobCount + 1;
        bytes32 codeHash = verifier.codehash;
        b.verifier = verifier;
        b.codeHash = codeHash;
        b.firstJob = firstJob;
        emit BatchVerifierRegistered(modelId, size, verifier, codeHash, firstJob);
    }

    /// @notice Fulfils several claimed jobs of one model with one aggregated proof. Only their
    ///         claimer, each before its deadline, with job ids strictly increasing, each posted
    ///         after the model's batch verifier for `jobIds.length` jobs was registered.
    ///         `proof` is the 12 accumulator words followed by the aggregation proof; the batch
    ///         verifier is called with [accumulator, then for each job: binding, its inputs, its
    ///         outputs, paramInstances] ++ aggregation proof. Every job is checked as `submit`
    ///         checks it (inputs as posted, counts, registered weights, field range). A proof that
    ///         fails reverts the whole call: no job of the batch is paid. Jobs of different
    ///         requesters and tokens may share a batch.
    function submitBatch(
        uint256[] calldata jobIds,
        uint256[][] calldata inputInstances,
        uint256[][] calldata outputInstances,
        uint256[] calldata paramInstances,
        bytes calldata proof
    ) external nonReentrant {
        if (jobIds.length == 0 || inputInstances.length != jobIds.length || outputInstances.length != jobIds.length) {
            revert BatchLengthMismatch();
        }
        if (proof.length < ACCUMULATOR_WORDS * 32) revert ProofTooShort(proof.length, ACCUMULATOR_WORDS * 32);
        address verifier = _batchVerifierOf(jobIds);
        bytes memory data = _batchCall(jobIds, inputInstances, outputInstances, paramInstances, proof.length);
        assembly {
            // the proof around the job instances: its accumulator words before them, the rest after
            let acc := mul(ACCUMULATOR_WORDS, 32)
            calldatacopy(add(data, 0x20), proof.offset, acc)
            let rest := sub(proof.length, acc)
            calldatacopy(sub(add(add(data, 0x20), mload(data)), rest), add(proof.offset, acc), rest)
        }
        bool ok;
        assembly {
            // STATICCALL, as in _callVerifier.
            ok := staticcall(gas(), verifier, add(data, 0x20), mload(data), 0, 0)
        }
        if (!ok) revert InvalidBatchProof();
        _payBatch(jobIds, outputInstances);
    }

    /// @dev Effects of a verified batch: each job Paid, its stake unlocked, payment and fee
    ///      credited (one credit per run of jobs paying in the same token).
    function _payBatch(uint256[] calldata jobIds, uint256[][] calldata outputInstances) private {
        uint256 n = jobIds.length;
        uint256 unlocked;
        address token;
        uint256 pay;
        uint256 fees;
        for (uint256 i = 0; i < n; ) {
            Record storage j = _jobs[jobIds[i]];
            j.state = JobState.Paid;
            unlocked += j.stake;
            address t = j.token;
            if (t != token && (pay != 0 || fees != 0)) {
                _payOut(token, pay, fees);
                (pay, fees) = (0, 0);
            }
            token = t;
            uint256 amount = j.amount;
            uint256 fee = _fee(amount);
            pay += amount - fee;
            fees += fee;
            emit JobCompleted(jobIds[i], msg.sender, outputInstances[i]);
            unchecked {
                ++i;
            }
        }
        _payOut(token, pay, fees);
        _stakes[msg.sender].locked -= uint128(unlocked);
    }

    /// @notice After the deadline, anyone may expire an Open or Claimed job: the payment is refunded
    ///         to the requester; for a Claimed job slashBps of the locked stake is slashed to the
    ///         requester (in ETH) and the rest is unlocked.
    function expire(uint256 jobId) external nonReentrant {
        Record storage j = _jobs[jobId];
        JobState st = j.state;
        if (st != JobState.Open && st != JobState.Claimed) {
            if (st == JobState.None) revert UnknownJob(jobId);
            revert JobNotActive(jobId, st);
        }
        if (block.timestamp < j.deadline) revert DeadlineNotReached(jobId, j.deadline);
        j.state = JobState.Expired;
        address requester = j.requester;
        address provider = j.provider;
        uint256 slashed;
        if (st == JobState.Claimed) {
            uint256 stake = j.stake;
            slashed = (stake * slashBps) / BPS;
            Stake storage s = _stakes[provider];
            s.locked -= uint128(stake);
            s.total -= uint128(slashed);
        }
        _credit(j.token, requester, j.amount);
        if (slashed != 0) _credit(address(0), requester, slashed);
        emit JobExpired(jobId, provider, slashed);
    }

    /// @notice The requester withdraws an unclaimed job; the payment is refunded (credited).
    function cancel(uint256 jobId) external nonReentrant {
        Record storage j = _jobs[jobId];
        JobState st = j.state;
        if (st == JobState.None) revert UnknownJob(jobId);
        if (msg.sender != j.requester) revert NotRequester(jobId, msg.sender);
        if (st != JobState.Open) revert JobNotOpen(jobId, st);
        j.state = JobState.Cancelled;
        _credit(j.token, msg.sender, j.amount);
        emit JobCancelled(jobId);
    }

    /// @notice Sends the caller everything credited to it in `token` (address(0) = ETH).
    function withdrawFunds(address token) external nonReentrant {
        uint256 amount = withdrawable[token][msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        withdrawable[token][msg.sender] = 0;
        emit FundsWithdrawn(token, msg.sender, amount);
        if (token == address(0)) _sendEth(msg.sender, amount);
        else _safeTransfer(token, msg.sender, amount);
    }

    // ================================================================ views

    /// @notice The job record (state None for an id never posted).
    function job(uint256 jobId) external view returns (Job memory) {
        Record storage r = _jobs[jobId];
        return Job(r.requester, r.deadline, r.state, r.provider, r.modelId, r.token, r.stake, r.amount, r.inputsHash);
    }

    /// @notice A provider's stake: total deposited (incl. locked and pending), locked by claims,
    ///         pending withdrawal, and when the pending amount unlocks.
    function stakeOf(address provider)
        external
        view
        returns (uint256 total, uint256 locked, uint256 pendingWithdraw, uint256 unlockTime)
    {
        Stake storage s = _stakes[provider];
        return (s.total, s.locked, s.pendingWithdraw, s.unlockTime);
    }

    /// @notice Stake that can be locked by a claim or requested for withdrawal.
    function freeStakeOf(address provider) external view returns (uint256) {
        return _free(_stakes[provider]);
    }

    /// @notice The model's verifier for batches of `size` jobs (verifier zero when there is none).
    function batchVerifier(uint256 modelId, uint256 size) external view returns (BatchVerifier memory) {
        return _batchVerifiers[modelId][size];
    }

    /// @notice The first public instance a proof for (`jobId`, `provider`) must carry.
    function bindingOf(uint256 jobId, address provider) public view returns (uint256) {
        return uint256(keccak256(abi.encode(block.chainid, address(this), jobId, provider))) % R;
    }

    // ================================================================ internals

    function _checkPostedInputs(uint256 modelId, uint256[] calldata inputInstances) private view {
        (, , uint32 nInputs, , , ) = registry.verifierInfo(modelId); // reverts for an unknown model
        if (inputInstances.length != nInputs) revert WrongInputCount(nInputs, inputInstances.length);
        _checkField(inputInstances, 0);
    }

    /// @dev Takes the job's payment: msg.value for ETH, else transferFrom the caller (exact amount).
    function _collectPayment(address token, uint256 amount) private {
        if (token == address(0)) {
            if (msg.value != amount) revert WrongEthValue(amount, msg.value);
        } else {
            if (msg.value != 0) revert WrongEthValue(0, msg.value);
            uint256 before = _balanceOf(token, address(this)); // reverts TokenHasNoCode/TokenTransferFailed
            _safeTransferFrom(token, msg.sender, address(this), amount);
            uint256 received = _balanceOf(token, address(this)) - before;
            if (received != amount) revert FeeOnTransferToken(token, amount, received);
        }
    }

    /// @dev floor(amount * feeBps / BPS), exactly, without the product (which overflows for large
    ///      amounts): amount = q*BPS + r gives amount*feeBps/BPS = q*feeBps + r*feeBps/BPS. Both terms
    ///      are far below 2^256 (feeBps <= MAX_FEE_BPS), and the result is <= amount.
    function _fee(uint256 amount) private view returns (uint256) {
        return (amount / BPS) * feeBps + ((amount % BPS) * feeBps) / BPS;
    }

    /// @dev Checks the instance counts against the model, the params against its registered hash,
    ///      every instance's range, and the verifier's code hash; returns the verifier.
    ///      (The stored inputs hash already pins the inputs; their count is checked again here.)
    function _checkInstances(
        uint256 jobId,
        uint256 modelId,
        uint256[] calldata inputInstances,
        uint256[] calldata outputInstances,
        uint256[] calldata paramInstances
    ) private view returns (address verifier) {
        bytes32 codeHash;
        bytes32 paramsHash;
        {
            uint32 nInputs;
            uint32 nOutputs;
            uint32 nParams;
            (verifier, codeHash, nInputs, nOutputs, nParams, paramsHash) = registry.verifierInfo(modelId);
            if (inputInstances.length != nInputs) revert WrongInputCount(nInputs, inputInstances.length);
            if (outputInstances.length != nOutputs) revert WrongOutputCount(nOutputs, outputInstances.length);
            if (paramInstances.length != nParams) revert WrongParamCount(nParams, paramInstances.length);
        }
        // The proof must use the registered weights, not any the provider chooses.
        if (keccak256(abi.encodePacked(paramInstances)) != paramsHash) revert ParamsMismatch(jobId);
        _checkField(inputInstances, 1);
        _checkField(outputInstances, 1 + inputInstances.length);
        _checkField(paramInstances, 1 + inputInstances.length + outputInstances.length);
        // Registered code only (refuses a verifier redeployed with other code at the same address).
        if (verifier.codehash != codeHash) revert VerifierCodeChanged(verifier);
    }

    /// @dev What every job of a batch is checked against.
    struct BatchCtx {
        uint256 modelId;
        uint256 firstJob;
        uint256 nInputs;
        uint256 nOutputs;
        uint256 per; // bytes of instances per job
    }

    /// @dev The job, which must be Claimed by the caller and before its deadline (what `submit`
    ///      and `submitBatch` require of every job they settle).
    function _claimedByCaller(uint256 jobId) private view returns (Record storage j) {
        j = _jobs[jobId];
        JobState st = j.state;
        if (st != JobState.Claimed) {
            if (st == JobState.None) revert UnknownJob(jobId);
            revert JobNotClaimed(jobId, st);
        }
        if (msg.sender != j.provider) revert NotProvider(jobId, msg.sender);
        if (block.timestamp >= j.deadline) revert DeadlinePassed(jobId, j.deadline);
    }

    /// @dev The batch verifier for these jobs (their model is the first job's), its code unchanged.
    function _batchVerifierOf(uint256[] calldata jobIds) private view returns (address verifier) {
        uint256 modelId = _jobs[jobIds[0]].modelId;
        BatchVerifier storage b = _batchVerifiers[modelId][jobIds.length];
        verifier = b.verifier;
        if (verifier == address(0)) revert NoBatchVerifier(modelId, jobIds.length);
        if (verifier.codehash != b.codeHash) revert VerifierCodeChanged(verifier);
    }

    /// @dev The batch verifier's calldata, each job checked as `submit` checks it: room for the
    ///      proof's accumulator words, then [binding, inputs, outputs, params] for each job in turn,
    ///      then room for the rest of the proof (`submitBatch` copies the proof in).
    function _batchCall(
        uint256[] calldata jobIds,
        uint256[][] calldata inputInstances,
        uint256[][] calldata outputInstances,
        uint256[] calldata paramInstances,
        uint256 proofLength
    ) private view returns (bytes memory out) {
        BatchCtx memory c = _batchCtx(jobIds, paramInstances);
        out = new bytes(proofLength + c.per * jobIds.length);
        for (uint256 i = 0; i < jobIds.length; ) {
            if (i > 0 && jobIds[i] <= jobIds[i - 1]) revert JobsNotIncreasing(i);
            _checkBatchJob(c, jobIds[i], inputInstances[i], outputInstances[i]);
            _writeJob(out, ACCUMULATOR_WORDS * 32 + i * c.per, bindingOf(jobIds[i], msg.sender), inputInstances[i], outputInstances[i], paramInstances);
            unchecked {
                ++i;
            }
        }
    }

    function _batchCtx(uint256[] calldata jobIds, uint256[] calldata paramInstances) private view returns (BatchCtx memory c) {
        c.modelId = _jobs[jobIds[0]].modelId;
        c.firstJob = _batchVerifiers[c.modelId][jobIds.length].firstJob;
        (, , uint32 nInputs, uint32 nOutputs, uint32 nParams, bytes32 paramsHash) = registry.verifierInfo(c.modelId);
        if (paramInstances.length != nParams) revert WrongParamCount(nParams, paramInstances.length);
        if (keccak256(abi.encodePacked(paramInstances)) != paramsHash) revert ParamsMismatch(jobIds[0]);
        _checkField(paramInstances, 1 + uint256(nInputs) + nOutputs);
        (c.nInputs, c.nOutputs) = (nInputs, nOutputs);
        c.per = (1 + uint256(nInputs) + nOutputs + nParams) * 32;
    }

    function _checkBatchJob(BatchCtx memory c, uint256 jobId, uint256[] calldata ins, uint256[] calldata outs) private view {
        Record storage j = _claimedByCaller(jobId);
        if (j.modelId != c.modelId) revert WrongModel(jobId, c.modelId);
        if (jobId < c.firstJob) revert JobBeforeBatchVerifier(jobId, c.firstJob);
        if (keccak256(abi.encodePacked(ins)) != j.inputsHash) revert InputsMismatch(jobId);
        if (ins.length != c.nInputs) revert WrongInputCount(c.nInputs, ins.length);
        if (outs.length != c.nOutputs) revert WrongOutputCount(c.nOutputs, outs.length);
        _checkField(outs, 1 + ins.length);
    }

    /// @dev Writes [binding, ins, outs, params] at byte `offset` of `out`'s contents.
    function _writeJob(
        bytes memory out,
        uint256 offset,
        uint256 binding,
        uint256[] calldata ins,
        uint256[] calldata outs,
        uint256[] calldata params
    ) private pure {
        assembly {
            let at := add(add(out, 0x20), offset)
            mstore(at, binding)
            at := add(at, 0x20)
            calldatacopy(at, ins.offset, mul(ins.length, 0x20))
            at := add(at, mul(ins.length, 0x20))
            calldatacopy(at, outs.offset, mul(outs.length, 0x20))
            at := add(at, mul(outs.length, 0x20))
            calldatacopy(at, params.offset, mul(params.length, 0x20))
        }
    }

    /// @dev Credits a batch run's payments to the caller and its fees to the fee recipient.
    function _payOut(address token, uint256 pay, uint256 fees) private {
        if (pay != 0) _credit(token, msg.sender, pay);
        if (fees != 0) _credit(token, feeRecipient, fees);
    }

    /// @dev Reverts InstanceOutOfField(first + i, a[i]) for the first a[i] >= R.
    function _checkField(uint256[] calldata a, uint256 first) private pure {
        for (uint256 i = 0; i < a.length; ) {
            if (a[i] >= R) revert InstanceOutOfField(first + i, a[i]);
            unchecked {
                ++i;
            }
        }
    }

    /// @dev Calls `verifier` with `data` = [binding, inputs, outputs, params] ++ proof; reverts
    ///      InvalidProof if it fails.
    function _callVerifier(uint256 jobId, address verifier, bytes memory data) private view {
        bool ok;
        assembly {
            // STATICCALL: the verifier cannot change state (no reentrancy through it). All but 1/64
            // of the remaining gas is forwarded (EIP-150); a verifier that burns everything it gets
            // still leaves that 1/64 to revert cleanly below. Return data is not copied.
            ok := staticcall(gas(), verifier, add(data, 0x20), mload(data), 0, 0)
        }
        if (!ok) revert InvalidProof(jobId);
    }

    function _free(Stake storage s) private view returns (uint256) {
        return uint256(s.total) - s.locked - s.pendingWithdraw;
    }

    function _credit(address token, address account, uint256 amount) private {
        withdrawable[token][account] += amount;
        emit Credited(token, account, amount);
    }

    function _sendEth(address to, uint256 amount) private {
        (bool ok, ) = to.call{value: amount}("");
        if (!ok) revert EthTransferFailed(to, amount);
    }

    function _balanceOf(address token, address account) private view returns (uint256) {
        if (token.code.length == 0) revert TokenHasNoCode(token);
        (bool ok, bytes memory ret) = token.staticcall(abi.encodeWithSelector(0x70a08231, account));
        if (!ok || ret.length < 32) revert TokenTransferFailed(token);
        return abi.decode(ret, (uint256));
    }

    /// @dev Accepts tokens that return nothing (USDT-style) or `true`; anything else reverts.
    function _safeTransferFrom(address token, address from, address to, uint256 amount) private {
        // transferFrom(address,address,uint256)
        _callToken(token, abi.encodeWithSelector(0x23b872dd, from, to, amount));
    }

    function _safeTransfer(address token, address to, uint256 amount) private {
        // transfer(address,uint256)
        _callToken(token, abi.encodeWithSelector(0xa9059cbb, to, amount));
    }

    function _callToken(address token, bytes memory data) private {
        if (token.code.length == 0) revert TokenHasNoCode(token);
        (bool ok, bytes memory ret) = token.call(data);
        if (!ok || (ret.length != 0 && (ret.length < 32 || abi.decode(ret, (uint256)) != 1))) {
            revert TokenTransferFailed(token);
        }
    }
}
