// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

import {Vm} from "../utils/Test.sol";
import {InferenceMarket} from "../../src/InferenceMarket.sol";
import {MockVerifier} from "../mocks/MockVerifier.sol";
import {MockERC20} from "../mocks/MockERC20.sol";

/// @notice Drives the market through random but well-formed sequences of actions for the
///         invariant tests. Each action picks actors/jobs from its fuzzed arguments and only acts
///         when the action's preconditions hold, so with `fail_on_revert = true` any unexpected
///         revert of the market fails the run. Ghost variables record every ETH/token flow.
contract MarketHandler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    InferenceMarket public immutable market;
    MockVerifier public immutable verifier;
    MockERC20 public immutable token;
    uint256 public immutable modelId;
    uint32 public immutable nIn;
    uint32 public immutable nOut;
    uint256[] internal params; // the model's registered weight instances

    address[] public providers;
    address[] public requesters;
    address[] public accounts; // every address that can be credited (providers, requesters, fee recipient)
    uint256[] public jobIds;

    // ghosts
    uint256 public ghostEthIn;
    uint256 public ghostEthOut;
    uint256 public ghostTokenIn;
    uint256 public ghostTokenOut;
    uint256 public ghostInvalidProofsRejected;
    mapping(bytes32 => uint256) public calls;

    constructor(
        InferenceMarket m,
        MockVerifier v,
        MockERC20 t,
        uint256 modelId_,
        uint32 nIn_,
        uint32 nOut_,
        uint256[] memory params_
    ) {
        market = m;
        params = params_;
        verifier = v;
        token = t;
        modelId = modelId_;
        nIn = nIn_;
        nOut = nOut_;
        for (uint256 i = 0; i < 3; i++) {
            providers.push(vm.addr(0xA000 + i));
            accounts.push(vm.addr(0xA000 + i));
        }
        for (uint256 i = 0; i < 2; i++) {
            requesters.push(vm.addr(0xB000 + i));
            accounts.push(vm.addr(0xB000 + i));
        }
        accounts.push(m.feeRecipient());
    }

    // ------------------------------------------------------------ views for the invariants
    function jobCountTracked() external view returns (uint256) {
        return jobIds.length;
    }

    function providerCount() external view returns (uint256) {
        return providers.length;
    }

    function accountCount() external view returns (uint256) {
        return accounts.length;
    }

    // ------------------------------------------------------------ helpers
    function _bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        if (hi <= lo) return lo;
        return lo + (x % (hi - lo + 1));
    }

    function _inputs(uint256 seed) internal view returns (uint256[] memory a) {
        a = new uint256[](nIn);
        for (uint256 i = 0; i < nIn; i++) a[i] = uint256(keccak256(abi.encode(seed, i))) % market.R();
    }

    function _outputs(uint256 seed) internal view returns (uint256[] memory a) {
        a = new uint256[](nOut);
        for (uint256 i = 0; i < nOut; i++) a[i] = uint256(keccak256(abi.encode(seed, "out", i))) % market.R();
    }

    /// @dev The first tracked job, scanning from a seed-chosen index, whose state is in `mask`
    ///      (bit i = JobState(i)) and whose deadline is (`live`) / is not (`!live`) still ahead.
    function _findJob(uint256 seed, uint256 mask, bool live)
        internal
        view
        returns (bool found, uint256 id, InferenceMarket.Job memory j)
    {
        uint256 n = jobIds.length;
        for (uint256 k = 0; k < n; k++) {
            id = jobIds[(seed % n + k) % n];
            j = market.job(id);
            if ((mask >> uint8(j.state)) & 1 == 1 && (block.timestamp < j.deadline) == live) return (true, id, j);
        }
        return (false, 0, j);
    }

    uint256 internal constant OPEN = 1 << 1;
    uint256 internal constant CLAIMED = 1 << 2;

    // inputs are derived from the job id so the handler can rebuild them at submit time
    function _inputSeed(uint256 jobId) internal pure returns (uint256) {
        return jobId * 7919;
    }

    // ------------------------------------------------------------ actions
    function deposit(uint256 who, uint256 amount) external {
        address p = providers[who % providers.length];
        amount = _bound(amount, 1, 5 ether);
        vm.deal(p, p.balance + amount);
        vm.prank(p);
        market.deposit{value: amount}();
        ghostEthIn += amount;
        calls["deposit"]++;
    }

    function requestWithdraw(uint256 who, uint256 amount) external {
        address p = providers[who % providers.length];
        uint256 free = market.freeStakeOf(p);
        if (free == 0) return;
        amount = _bound(amount, 1, free);
        vm.prank(p);
        market.requestWithdraw(amount);
        calls["requestWithdraw"]++;
    }

    function withdraw(uint256 who) external {
        for (uint256 k = 0; k < providers.length; k++) {
            address p = providers[(who % providers.length + k) % providers.length];
            (, , uint256 pending, uint256 unlock) = market.stakeOf(p);
            if (pending == 0 || block.timestamp < unlock) continue;
            vm.prank(p);
            market.withdraw();
            ghostEthOut += pending;
            calls["withdraw"]++;
            return;
        }
    }

    function postJob(uint256 who, uint256 amount, uint256 dl, uint256 stakeReq, bool useToken) external {
        address r = requesters[who % requesters.length];
        amount = _bound(amount, 1, 10 ether);
        dl = _bound(dl, 1, 2 days);
        stakeReq = _bound(stakeReq, 0, 3 ether);
        uint256 expectedId = market.jobCount() + 1;
        uint256[] memory ins = _inputs(_inputSeed(expectedId));
        uint256 id;
        if (useToken) {
            token.mint(r, amount);
            vm.prank(r);
            token.approve(address(market), amount);
            vm.prank(r);
            id = market.postJob(modelId, ins, uint64(block.timestamp + dl), address(token), amount, stakeReq);
            ghostTokenIn += amount;
        } else {
            vm.deal(r, r.balance + amount);
            vm.prank(r);
            id = market.postJob{value: amount}(modelId, ins, uint64(block.timestamp + dl), address(0), amount, stakeReq);
            ghostEthIn += amount;
        }
        require(id == expectedId, "job id");
        jobIds.push(id);
        calls["postJob"]++;
    }

    function claim(uint256 who, uint256 jobSeed, bool topUp) external {
        (bool found, uint256 id, InferenceMarket.Job memory j) = _findJob(jobSeed, OPEN, true);
        if (!found) return;
        address p = providers[who % providers.length];
        uint256 free = market.freeStakeOf(p);
        if (free < j.stake) {
            if (!topUp) return;
            uint256 more = j.stake - free;
            vm.deal(p, p.balance + more);
            vm.prank(p);
            market.deposit{value: more}();
            ghostEthIn += more;
        }
        vm.prank(p);
        market.claim(id);
        calls["claim"]++;
    }

    function submit(uint256 jobSeed, uint256 outSeed, uint8 validity) external {
        bool valid = validity % 4 != 0; // one in four submissions carries a corrupted proof
        (bool found, uint256 id, InferenceMarket.Job memory j) = _findJob(jobSeed, CLAIMED, true);
        if (!found) return;
        uint256[] memory ins = _inputs(_inputSeed(id));
        uint256[] memory outs = _outputs(outSeed);
        uint256[] memory ps = params;
        uint256[] memory all = new uint256[](1 + nIn + nOut + ps.length);
        all[0] = market.bindingOf(id, j.provider);
        for (uint256 i = 0; i < nIn; i++) all[1 + i] = ins[i];
        for (uint256 i = 0; i < nOut; i++) all[1 + nIn + i] = outs[i];
        for (uint256 i = 0; i < ps.length; i++) all[1 + nIn + nOut + i] = ps[i];
        bytes memory proof = verifier.proofFor(all);
        if (!valid) proof[outSeed % proof.length] ^= bytes1(uint8(1 + (outSeed % 255)));
        vm.prank(j.provider);
        try market.submit(id, ins, outs, ps, proof) {
            require(valid, "invalid proof accepted");
            calls["submit"]++;
        } catch (bytes memory err) {
            require(!valid, "valid proof rejected");
            require(
                keccak256(err) == keccak256(abi.encodeWithSelector(InferenceMarket.InvalidProof.selector, id)),
                "unexpected revert"
            );
            ghostInvalidProofsRejected++;
        }
    }

    function expire(uint256 jobSeed) external {
        (bool found, uint256 id, ) = _findJob(jobSeed, OPEN | CLAIMED, false);
        if (!found) return;
        market.expire(id);
        calls["expire"]++;
    }

    function cancel(uint256 jobSeed) external {
        (bool found, uint256 id, InferenceMarket.Job memory j) = _findJob(jobSeed, OPEN, true);
        if (!found) return;
        vm.prank(j.requester);
        market.cancel(id);
        calls["cancel"]++;
    }

    function withdrawFunds(uint256 who, bool useToken) external {
        address t = useToken ? address(token) : address(0);
        for (uint256 k = 0; k < accounts.length; k++) {
            address a = accounts[(who % accounts.length + k) % accounts.length];
            uint256 amount = market.withdrawable(t, a);
            if (amount == 0) continue;
            vm.prank(a);
            market.withdrawFunds(t);
            if (useToken) ghostTokenOut += amount;
            else ghostEthOut += amount;
            calls["withdrawFunds"]++;
            return;
        }
    }

    function warp(uint256 secs) external {
        vm.warp(block.timestamp + _bound(secs, 0, 12 hours));
    }
}
