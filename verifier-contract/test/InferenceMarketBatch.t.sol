// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

import {Fixture} from "./utils/Fixture.sol";
import {InferenceMarket} from "../src/InferenceMarket.sol";
import {MockVerifier} from "./mocks/MockVerifier.sol";

/// Batch settlement: `registerBatchVerifier` and `submitBatch`, with mock batch verifiers that
/// accept exactly keccak256(salt, [accumulator, each job's binding, inputs, outputs, params]).
/// The real aggregation verifier is exercised by service/tests/market.rs.
contract InferenceMarketBatchTest is Fixture {
    event JobCompleted(uint256 indexed jobId, address indexed provider, uint256[] outputInstances);
    event BatchVerifierRegistered(uint256 indexed modelId, uint256 indexed size, address verifier, bytes32 codeHash, uint256 firstJob);

    uint256 internal constant PER = 1 + N_IN + N_OUT + N_PARAMS; // modelP's instances per job
    MockVerifier internal batch3;

    function setUp() public override {
        super.setUp();
        batch3 = new MockVerifier(12 + 3 * PER, keccak256("batch vk P 3"), false);
        market.registerBatchVerifier(modelP, 3, address(batch3));
        _stake(prov, 10 ether);
        _stake(prov2, 10 ether);
        token.mint(bob, 1_000 ether);
        vm.prank(bob);
        token.approve(address(market), 1_000 ether);
    }

    // ---- helpers

    function _postP(address requester, address tok, uint256 amount) internal returns (uint256 id) {
        vm.prank(requester);
        uint64 deadline = uint64(block.timestamp + 1 hours);
        if (tok == address(0)) id = market.postJob{value: amount}(modelP, _inputs(), deadline, tok, amount, 0);
        else id = market.postJob(modelP, _inputs(), deadline, tok, amount, 0);
    }

    function _acc() internal pure returns (uint256[] memory a) {
        a = new uint256[](12);
        for (uint256 i = 0; i < 12; i++) a[i] = 1000 + i;
    }

    function _outs(uint256 n) internal pure returns (uint256[][] memory o) {
        o = new uint256[][](n);
        for (uint256 i = 0; i < n; i++) {
            o[i] = _outputs();
            o[i][0] += i; // each job its own output
        }
    }

    function _ins(uint256 n) internal pure returns (uint256[][] memory a) {
        a = new uint256[][](n);
        for (uint256 i = 0; i < n; i++) a[i] = _inputs();
    }

    /// The proof `v` accepts for these jobs settled by `p` with outputs `outs`.
    function _batchProof(MockVerifier v, uint256[] memory ids, address p, uint256[][] memory outs)
        internal
        view
        returns (bytes memory)
    {
        uint256[] memory all = new uint256[](12 + ids.length * PER);
        uint256[] memory acc = _acc();
        for (uint256 i = 0; i < 12; i++) all[i] = acc[i];
        for (uint256 k = 0; k < ids.length; k++) {
            uint256[] memory inst = _instances(market.bindingOf(ids[k], p), _inputs(), outs[k], _params());
            for (uint256 i = 0; i < PER; i++) all[12 + k * PER + i] = inst[i];
        }
        return abi.encodePacked(acc, v.proofFor(all));
    }

    function _threeClaimed() internal returns (uint256[] memory ids) {
        ids = new uint256[](3);
        ids[0] = _postP(alice, address(0), 1 ether);
        ids[1] = _postP(bob, address(token), 300 ether);
        ids[2] = _postP(bob, address(0), 2 ether);
        for (uint256 i = 0; i < 3; i++) _claim(prov, ids[i]);
    }

    // ---- tests

    function test_batch_paysEveryJobOfMixedRequestersAndTokens() public {
        uint256[] memory ids = _threeClaimed();
        uint256[][] memory outs = _outs(3);
        bytes memory proof = _batchProof(batch3, ids, prov, outs);
        for (uint256 i = 0; i < 3; i++) {
            vm.expectEmit(true, true, false, true, address(market));
            emit JobCompleted(ids[i], prov, outs[i]);
        }
        vm.prank(prov);
        market.submitBatch(ids, _ins(3), outs, _params(), proof);
        for (uint256 i = 0; i < 3; i++) assertTrue(_state(ids[i]) == InferenceMarket.JobState.Paid);
        assertEq(_locked(prov), 0, "every stake unlocked");
        uint256 fee1 = (1 ether * FEE_BPS) / 10_000;
        uint256 fee2 = (2 ether * FEE_BPS) / 10_000;
        uint256 feeT = (300 ether * FEE_BPS) / 10_000;
        assertEq(market.withdrawable(address(0), prov), 3 ether - fee1 - fee2);
        assertEq(market.withdrawable(address(0), feeTo), fee1 + fee2);
        assertEq(market.withdrawable(address(token), prov), 300 ether - feeT);
        assertEq(market.withdrawable(address(token), feeTo), feeT);
        // a paid job cannot be settled again, alone or in a batch
        vm.prank(prov);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.JobNotClaimed.selector, ids[0], InferenceMarket.JobState.Paid));
        market.submitBatch(ids, _ins(3), outs, _params(), proof);
    }

    function test_batch_oneBadProofPaysNobody() public {
        uint256[] memory ids = _threeClaimed();
        uint256[][] memory outs = _outs(3);
        bytes memory proof = _batchProof(batch3, ids, prov, outs);
        // the provider claims another output for the second job than the proof shows
        uint256[][] memory claimed = _outs(3);
        claimed[1][1] += 1;
        vm.prank(prov);
        vm.expectRevert(InferenceMarket.InvalidBatchProof.selector);
        market.submitBatch(ids, _ins(3), claimed, _params(), proof);
        // a tampered accumulator
        bytes memory bad = bytes.concat(proof);
        bad[5] ^= 0x01;
        vm.prank(prov);
        vm.expectRevert(InferenceMarket.InvalidBatchProof.selector);
        market.submitBatch(ids, _ins(3), outs, _params(), bad);
        for (uint256 i = 0; i < 3; i++) assertTrue(_state(ids[i]) == InferenceMarket.JobState.Claimed);
        assertEq(market.withdrawable(address(0), prov), 0, "nobody paid");
        assertEq(market.withdrawable(address(token), prov), 0, "nobody paid");
        assertEq(_locked(prov), 3 * MIN_STAKE);
        // the honest batch still settles
        vm.prank(prov);
        market.submitBatch(ids, _ins(3), outs, _params(), proof);
        assertTrue(_state(ids[2]) == InferenceMarket.JobState.Paid);
    }

    function test_batch_eachJobIsCheckedLikeSubmit() public {
        uint256[] memory ids = _threeClaimed();
        uint256[][] memory outs = _outs(3);
        bytes memory proof = _batchProof(batch3, ids, prov, outs);
        // repeated or unordered ids
        uint256[] memory dup = new uint256[](3);
        (dup[0], dup[1], dup[2]) = (ids[0], ids[0], ids[2]);
        vm.prank(prov);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.JobsNotIncreasing.selector, 1));
        market.submitBatch(dup, _ins(3), outs, _params(), proof);
        // lengths
        vm.prank(prov);
        vm.expectRevert(InferenceMarket.BatchLengthMismatch.selector);
        market.submitBatch(ids, _ins(2), outs, _params(), proof);
        // inputs other than posted
        uint256[][] memory ins = _ins(3);
        ins[2][0] += 1;
        vm.prank(prov);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InputsMismatch.selector, ids[2]));
        market.submitBatch(ids, ins, outs, _params(), proof);
        // other weights
        uint256[] memory params = _params();
        params[0] += 1;
        vm.prank(prov);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ParamsMismatch.selector, ids[0]));
        market.submitBatch(ids, _ins(3), outs, params, proof);
        // an output out of the field
        uint256[][] memory big = _outs(3);
        big[1][0] = R;
        vm.prank(prov);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InstanceOutOfField.selector, 1 + N_IN, R));
        market.submitBatch(ids, _ins(3), big, _params(), proof);
        // another provider's batch
        vm.prank(prov2);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.NotProvider.selector, ids[0], prov2));
        market.submitBatch(ids, _ins(3), outs, _params(), proof);
        // too short to hold the accumulator
        vm.prank(prov);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ProofTooShort.selector, 100, 384));
        market.submitBatch(ids, _ins(3), outs, _params(), new bytes(100));
        // no verifier for batches of 2
        uint256[] memory two = new uint256[](2);
        (two[0], two[1]) = (ids[0], ids[1]);
        vm.prank(prov);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.NoBatchVerifier.selector, modelP, 2));
        market.submitBatch(two, _ins(2), _outs(2), _params(), proof);
        // past a deadline
        vm.warp(block.timestamp + 1 hours);
        vm.prank(prov);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.DeadlinePassed.selector, ids[0], T0 + 1 hours));
        market.submitBatch(ids, _ins(3), outs, _params(), proof);
    }

    function test_batch_jobOfAnotherModelRefused() public {
        uint256[] memory ids = new uint256[](3);
        ids[0] = _postP(alice, address(0), 1 ether);
        ids[1] = _postP(alice, address(0), 1 ether);
        vm.prank(alice);
        ids[2] = market.postJob{value: 1 ether}(modelAny, _inputs(), uint64(block.timestamp + 1 hours), address(0), 1 ether, 0);
        for (uint256 i = 0; i < 3; i++) _claim(prov, ids[i]);
        bytes memory proof = _batchProof(batch3, ids, prov, _outs(3));
        vm.prank(prov);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WrongModel.selector, ids[2], modelP));
        market.submitBatch(ids, _ins(3), _outs(3), _params(), proof);
    }

    function test_batch_onlyJobsPostedAfterTheVerifier() public {
        uint256 early = _postP(alice, address(0), 1 ether);
        MockVerifier batch2 = new MockVerifier(12 + 2 * PER, keccak256("batch vk P 2"), false);
        vm.expectEmit(true, true, false, true, address(market));
        emit BatchVerifierRegistered(modelP, 2, address(batch2), address(batch2).codehash, early + 1);
        market.registerBatchVerifier(modelP, 2, address(batch2));
        uint256 late = _postP(alice, address(0), 1 ether);
        _claim(prov, early);
        _claim(prov, late);
        uint256[] memory ids = new uint256[](2);
        (ids[0], ids[1]) = (early, late);
        bytes memory proof = _batchProof(batch2, ids, prov, _outs(2));
        vm.prank(prov);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.JobBeforeBatchVerifier.selector, early, early + 1));
        market.submitBatch(ids, _ins(2), _outs(2), _params(), proof);
        InferenceMarket.BatchVerifier memory b = market.batchVerifier(modelP, 2);
        assertEq(b.verifier, address(batch2));
        assertEq(b.firstJob, early + 1);
    }

    function test_batch_registrationRules() public {
        MockVerifier v = new MockVerifier(12 + 4 * PER, keccak256("batch vk P 4"), false);
        vm.prank(prov);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.NotModelOwner.selector, modelP, prov));
        market.registerBatchVerifier(modelP, 4, address(v));
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.BadBatchSize.selector, 1));
        market.registerBatchVerifier(modelP, 1, address(v));
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.BadBatchSize.selector, 65));
        market.registerBatchVerifier(modelP, 65, address(v));
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.VerifierHasNoCode.selector, alice));
        market.registerBatchVerifier(modelP, 4, alice);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.BatchVerifierExists.selector, modelP, 3));
        market.registerBatchVerifier(modelP, 3, address(v));
        market.registerBatchVerifier(modelP, 4, address(v));
    }

    function test_batch_verifierWhoseCodeChangedRefused() public {
        uint256[] memory ids = _threeClaimed();
        bytes memory proof = _batchProof(batch3, ids, prov, _outs(3));
        vm.etch(address(batch3), address(acceptAll).code);
        vm.prank(prov);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.VerifierCodeChanged.selector, address(batch3)));
        market.submitBatch(ids, _ins(3), _outs(3), _params(), proof);
    }
}
