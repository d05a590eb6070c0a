// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

import {Fixture} from "./utils/Fixture.sol";
import {ModelRegistry} from "../src/ModelRegistry.sol";
import {InferenceMarket} from "../src/InferenceMarket.sol";
import {MockVerifier, ReentrantVerifier, AcceptAllVerifier} from "./mocks/MockVerifier.sol";
import {
    MockERC20, NoReturnERC20, FalseReturningERC20, FeeOnTransferERC20, ReentrantERC20
} from "./mocks/MockERC20.sol";
import {RevertingReceiver, ReentrantAttacker} from "./mocks/Actors.sol";

contract InferenceMarketTest is Fixture {
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
    event JobExpired(uint256 indexed jobId, address indexed provider, uint256 slashed);

    // ================================================================ constructor

    function test_constructor_feeCap() public {
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.FeeTooHigh.selector, 501, 500));
        new InferenceMarket(registry, feeTo, 501, SLASH_BPS, DELAY, MIN_STAKE);
        InferenceMarket m = new InferenceMarket(registry, feeTo, 500, SLASH_BPS, DELAY, MIN_STAKE);
        assertEq(m.feeBps(), 500);
        assertEq(m.MAX_FEE_BPS(), 500);
    }

    function test_constructor_rejectsBadConfig() public {
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.SlashTooHigh.selector, 10_001));
        new InferenceMarket(registry, feeTo, FEE_BPS, 10_001, DELAY, MIN_STAKE);
        vm.expectRevert(InferenceMarket.ZeroAddress.selector);
        new InferenceMarket(registry, address(0), FEE_BPS, SLASH_BPS, DELAY, MIN_STAKE);
        vm.expectRevert(InferenceMarket.ZeroAddress.selector);
        new InferenceMarket(ModelRegistry(address(0)), feeTo, FEE_BPS, SLASH_BPS, DELAY, MIN_STAKE);
        uint256 tooBig = uint256(type(uint96).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.StakeTooLarge.selector, tooBig));
        new InferenceMarket(registry, feeTo, FEE_BPS, SLASH_BPS, DELAY, tooBig);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.UnbondingDelayTooLong.selector, 365 days + 1));
        new InferenceMarket(registry, feeTo, FEE_BPS, SLASH_BPS, 365 days + 1, MIN_STAKE);
    }

    // ================================================================ happy paths

    function test_happyPath_eth() public {
        _stake(prov, 2 ether);
        uint256 amount = 10 ether;
        uint256 id = _postEth(alice, modelA, amount, 0);
        assertEq(id, 1);
        assertEq(address(market).balance, 12 ether);
        InferenceMarket.Job memory j = market.job(id);
        assertEq(j.requester, alice);
        assertEq(j.stake, MIN_STAKE, "stake raised to minStake");
        assertEq(j.inputsHash, keccak256(abi.encodePacked(_inputs())));
        assertTrue(j.state == InferenceMarket.JobState.Open);
        // every field of the packed record comes back through the view
        assertEq(uint256(j.deadline), block.timestamp + 1 hours);
        assertEq(uint256(j.modelId), modelA);
        assertEq(j.token, address(0));
        assertEq(j.amount, amount);
        assertEq(j.provider, address(0));

        _claim(prov, id);
        assertEq(_locked(prov), MIN_STAKE);
        j = market.job(id);
        assertEq(j.provider, prov);
        assertEq(j.requester, alice, "claim leaves the requester");
        assertEq(uint256(j.deadline), block.timestamp + 1 hours, "claim leaves the deadline");
        assertEq(j.amount, amount, "claim leaves the amount");
        assertEq(uint256(j.modelId), modelA, "claim leaves the model");
        assertTrue(_state(id) == InferenceMarket.JobState.Claimed);

        bytes memory proof = _proof(verifierA, id, prov, _inputs(), _outputs());
        vm.expectEmit(true, true, false, true, address(market));
        emit JobCompleted(id, prov, _outputs());
        vm.prank(prov);
        market.submit(id, _inputs(), _outputs(), _noParams(), proof);

        assertTrue(_state(id) == InferenceMarket.JobState.Paid);
        assertEq(_locked(prov), 0, "stake unlocked");
        assertEq(_total(prov), 2 ether);
        uint256 fee = (amount * FEE_BPS) / 10_000;
        assertEq(market.withdrawable(address(0), prov), amount - fee);
        assertEq(market.withdrawable(address(0), feeTo), fee);

        uint256 before = prov.balance;
        vm.prank(prov);
        market.withdrawFunds(address(0));
        assertEq(prov.balance - before, amount - fee);
        vm.prank(feeTo);
        market.withdrawFunds(address(0));
        assertEq(feeTo.balance, fee);
        assertEq(address(market).balance, 2 ether, "only the stake is left");

        // paid is final
        vm.expectRevert(
            abi.encodeWithSelector(InferenceMarket.JobNotClaimed.selector, id, InferenceMarket.JobState.Paid)
        );
        vm.prank(prov);
        market.submit(id, _inputs(), _outputs(), _noParams(), proof);
        vm.warp(block.timestamp + 2 hours);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceMarket.JobNotActive.selector, id, InferenceMarket.JobState.Paid)
        );
        market.expire(id);
    }

    function test_happyPath_erc20() public {
        _happyPathToken(address(token));
    }

    function test_happyPath_noReturnToken() public {
        NoReturnERC20 usdt = new NoReturnERC20();
        usdt.mint(alice, 1_000e6);
        vm.prank(alice);
        usdt.approve(address(market), 1_000e6);
        _stake(prov, 1 ether);
        uint256 id = _postToken(alice, address(usdt), 1_000e6);
        assertEq(usdt.balanceOf(address(market)), 1_000e6);
        _claim(prov, id);
        _submit(prov, id, verifierA);
        vm.prank(prov);
        market.withdrawFunds(address(usdt));
        uint256 fee = (1_000e6 * FEE_BPS) / 10_000;
        assertEq(usdt.balanceOf(prov), 1_000e6 - fee);
        vm.prank(feeTo);
        market.withdrawFunds(address(usdt));
        assertEq(usdt.balanceOf(feeTo), fee);
        assertEq(usdt.balanceOf(address(market)), 0);
    }

    function _happyPathToken(address tok) internal {
        MockERC20(tok).mint(alice, 500 ether);
        vm.prank(alice);
        MockERC20(tok).approve(address(market), 500 ether);
        _stake(prov, 1 ether);
        uint256 id = _postToken(alice, tok, 500 ether);
        assertEq(MockERC20(tok).balanceOf(address(market)), 500 ether);
        assertEq(MockERC20(tok).balanceOf(alice), 0);
        assertEq(market.job(id).token, tok);
        _claim(prov, id);
        _submit(prov, id, verifierA);
        uint256 fee = (500 ether * FEE_BPS) / 10_000;
        assertEq(market.withdrawable(tok, prov), 500 ether - fee);
        assertEq(market.withdrawable(tok, feeTo), fee);
        assertEq(market.withdrawable(address(0), prov), 0, "no ETH credited for a token job");
        vm.prank(prov);
        market.withdrawFunds(tok);
        vm.prank(feeTo);
        market.withdrawFunds(tok);
        assertEq(MockERC20(tok).balanceOf(prov), 500 ether - fee);
        assertEq(MockERC20(tok).balanceOf(feeTo), fee);
        assertEq(MockERC20(tok).balanceOf(address(market)), 0);
        assertEq(address(market).balance, 1 ether);
    }

    // ================================================================ postJob validation

    function test_postJob_emitsFullInputs() public {
        uint64 deadline = uint64(block.timestamp + 1 hours);
        vm.expectEmit(true, true, true, true, address(market));
        emit JobPosted(1, modelA, alice, address(0), 1 ether, 3 ether, deadline, _inputs());
        vm.prank(alice);
        market.postJob{value: 1 ether}(modelA, _inputs(), deadline, address(0), 1 ether, 3 ether);
        assertEq(market.job(1).stake, 3 ether, "stakeRequired above minStake kept");
    }

    function test_postJob_rejects() public {
        uint64 dl = uint64(block.timestamp + 1 hours);
        uint256[] memory ins = _inputs();
        vm.startPrank(alice);

        vm.expectRevert(
            abi.encodeWithSelector(InferenceMarket.DeadlineNotInFuture.selector, block.timestamp, block.timestamp)
        );
        market.postJob{value: 1}(modelA, ins, uint64(block.timestamp), address(0), 1, 0);

        vm.expectRevert(InferenceMarket.ZeroAmount.selector);
        market.postJob(modelA, ins, dl, address(0), 0, 0);

        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.UnknownModel.selector, 99));
        market.postJob{value: 1}(99, ins, dl, address(0), 1, 0);

        uint256[] memory short = new uint256[](2);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WrongInputCount.selector, 3, 2));
        market.postJob{value: 1}(modelA, short, dl, address(0), 1, 0);

        ins[1] = R;
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InstanceOutOfField.selector, 1, R));
        market.postJob{value: 1}(modelA, ins, dl, address(0), 1, 0);
        ins[1] = 22;

        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WrongEthValue.selector, 2, 1));
        market.postJob{value: 1}(modelA, ins, dl, address(0), 2, 0);

        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WrongEthValue.selector, 0, 1));
        market.postJob{value: 1}(modelA, ins, dl, address(token), 1, 0);

        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.TokenHasNoCode.selector, bob));
        market.postJob(modelA, ins, dl, bob, 1, 0);

        uint256 tooBig = uint256(type(uint96).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.StakeTooLarge.selector, tooBig));
        market.postJob{value: 1}(modelA, ins, dl, address(0), 1, tooBig);

        // no allowance: the token's own revert is reported as TokenTransferFailed
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.TokenTransferFailed.selector, address(token)));
        market.postJob(modelA, ins, dl, address(token), 1, 0);
        vm.stopPrank();

        assertEq(market.jobCount(), 0);
        assertEq(address(market).balance, 0);
    }

    function test_postJob_falseReturningToken() public {
        FalseReturningERC20 t = new FalseReturningERC20();
        t.mint(alice, 10);
        vm.prank(alice);
        t.approve(address(market), 10);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.TokenTransferFailed.selector, address(t)));
        _postToken(alice, address(t), 10);
    }

    function test_postJob_feeOnTransferToken() public {
        FeeOnTransferERC20 t = new FeeOnTransferERC20();
        t.mint(alice, 1000);
        vm.prank(alice);
        t.approve(address(market), 1000);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.FeeOnTransferToken.selector, address(t), 1000, 990));
        _postToken(alice, address(t), 1000);
    }

    // ================================================================ claim

    function test_claim_twice() public {
        _stake(prov, 5 ether);
        _stake(prov2, 5 ether);
        uint256 id = _postEth(alice, modelA, 1 ether, 0);
        _claim(prov, id);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceMarket.JobNotOpen.selector, id, InferenceMarket.JobState.Claimed)
        );
        _claim(prov2, id);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceMarket.JobNotOpen.selector, id, InferenceMarket.JobState.Claimed)
        );
        _claim(prov, id);
        assertEq(_locked(prov), MIN_STAKE, "locked once");
        assertEq(_locked(prov2), 0);
        assertEq(market.job(id).provider, prov);
    }

    function test_claim_withoutStake() public {
        uint256 id = _postEth(alice, modelA, 1 ether, 0);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InsufficientStake.selector, MIN_STAKE, 0));
        _claim(prov, id);

        // stakeRequired above minStake
        _stake(prov, 2 ether);
        uint256 id2 = _postEth(alice, modelA, 1 ether, 3 ether);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InsufficientStake.selector, 3 ether, 2 ether));
        _claim(prov, id2);

        // stake locked by one claim cannot back another
        _stake(prov, 0.5 ether); // total 2.5
        _claim(prov, id); // locks 1
        uint256 id3 = _postEth(alice, modelA, 1 ether, 2 ether);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InsufficientStake.selector, 2 ether, 1.5 ether));
        _claim(prov, id3);
        assertEq(market.freeStakeOf(prov), 1.5 ether);
    }

    function test_claim_afterDeadlineAndUnknown() public {
        _stake(prov, 1 ether);
        uint256 id = _postEth(alice, modelA, 1 ether, 0);
        uint64 dl = market.job(id).deadline;
        vm.warp(dl);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.DeadlinePassed.selector, id, dl));
        _claim(prov, id);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.UnknownJob.selector, 42));
        _claim(prov, 42);
    }

    /// A provider must not lock stake on a job that can never be paid: claim refuses a model whose
    /// verifier's code changed since registration (submit would revert VerifierCodeChanged and the
    /// claimer be slashed at the deadline).
    function test_claim_verifierCodeChanged() public {
        _stake(prov, 1 ether);
        uint256 id = _postEth(alice, modelA, 1 ether, 0);
        bytes memory original = address(verifierA).code;
        vm.etch(address(verifierA), hex"00"); // e.g. a metamorphic redeploy with other code
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.VerifierCodeChanged.selector, address(verifierA)));
        _claim(prov, id);
        assertTrue(_state(id) == InferenceMarket.JobState.Open);
        assertEq(_locked(prov), 0, "no stake locked");
        assertEq(market.job(id).provider, address(0));
        // the registered code back: the job can be claimed and paid
        vm.etch(address(verifierA), original);
        _claim(prov, id);
        _submit(prov, id, verifierA);
        assertTrue(_state(id) == InferenceMarket.JobState.Paid);
    }

    // ================================================================ submit

    function test_submit_byNonClaimer() public {
        _stake(prov, 1 ether);
        _stake(prov2, 1 ether);
        uint256 id = _postEth(alice, modelA, 1 ether, 0);
        _claim(prov, id);
        // prov2 copies the claimer's valid proof (front-running) ...
        bytes memory proof = _proof(verifierA, id, prov, _inputs(), _outputs());
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.NotProvider.selector, id, prov2));
        vm.prank(prov2);
        market.submit(id, _inputs(), _outputs(), _noParams(), proof);
        // ... or even builds one bound to itself
        bytes memory own = _proof(verifierA, id, prov2, _inputs(), _outputs());
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.NotProvider.selector, id, alice));
        vm.prank(alice);
        market.submit(id, _inputs(), _outputs(), _noParams(), own);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.NotProvider.selector, id, prov2));
        vm.prank(prov2);
        market.submit(id, _inputs(), _outputs(), _noParams(), own);
        // the claimer cannot use a proof bound to another provider either
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InvalidProof.selector, id));
        vm.prank(prov);
        market.submit(id, _inputs(), _outputs(), _noParams(), own);
        assertTrue(_state(id) == InferenceMarket.JobState.Claimed);
    }

    function test_submit_unclaimedOrUnknown() public {
        uint256 id = _postEth(alice, modelA, 1 ether, 0);
        bytes memory proof = _proof(verifierA, id, prov, _inputs(), _outputs());
        vm.expectRevert(
            abi.encodeWithSelector(InferenceMarket.JobNotClaimed.selector, id, InferenceMarket.JobState.Open)
        );
        vm.prank(prov);
        market.submit(id, _inputs(), _outputs(), _noParams(), proof);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.UnknownJob.selector, 7));
        vm.prank(prov);
        market.submit(7, _inputs(), _outputs(), _noParams(), proof);
    }

    function test_submit_afterDeadline() public {
        _stake(prov, 1 ether);
        uint256 id = _postEth(alice, modelA, 1 ether, 0);
        _claim(prov, id);
        uint64 dl = market.job(id).deadline;
        bytes memory proof = _proof(verifierA, id, prov, _inputs(), _outputs());
        vm.warp(dl); // exactly at the deadline is already too late
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.DeadlinePassed.selector, id, dl));
        vm.prank(prov);
        market.submit(id, _inputs(), _outputs(), _noParams(), proof);
        vm.warp(dl - 1); // one second before is fine
        vm.prank(prov);
        market.submit(id, _inputs(), _outputs(), _noParams(), proof);
        assertTrue(_state(id) == InferenceMarket.JobState.Paid);
    }

    function test_submit_wrongInputs() public {
        _stake(prov, 1 ether);
        uint256 id = _postEth(alice, modelA, 1 ether, 0);
        _claim(prov, id);
        uint256[] memory ins = _inputs();
        ins[0] = 12;
        bytes memory proof = _proof(verifierA, id, prov, ins, _outputs()); // "valid" for the wrong inputs
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InputsMismatch.selector, id));
        vm.prank(prov);
        market.submit(id, ins, _outputs(), _noParams(), proof);
        uint256[] memory shortIns = new uint256[](2);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InputsMismatch.selector, id));
        vm.prank(prov);
        market.submit(id, shortIns, _outputs(), _noParams(), proof);
    }

    function test_submit_wrongOutputLength() public {
        _stake(prov, 1 ether);
        uint256 id = _postEth(alice, modelA, 1 ether, 0);
        _claim(prov, id);
        uint256[] memory one = new uint256[](1);
        uint256[] memory three = new uint256[](3);
        bytes memory proof = _proof(verifierA, id, prov, _inputs(), _outputs());
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WrongOutputCount.selector, 2, 1));
        vm.prank(prov);
        market.submit(id, _inputs(), one, _noParams(), proof);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WrongOutputCount.selector, 2, 3));
        vm.prank(prov);
        market.submit(id, _inputs(), three, _noParams(), proof);
    }

    function test_submit_outputOutOfField() public {
        _stake(prov, 1 ether);
        uint256 id = _postEth(alice, modelA, 1 ether, 0);
        _claim(prov, id);
        uint256[] memory outs = _outputs();
        outs[1] = R + 5; // would alias outs[1] = 5 inside the circuit
        bytes memory proof = _proof(verifierA, id, prov, _inputs(), outs);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InstanceOutOfField.selector, 1 + 3 + 1, R + 5));
        vm.prank(prov);
        market.submit(id, _inputs(), outs, _noParams(), proof);
    }

    function test_submit_invalidProof_noFundsMove() public {
        _stake(prov, 1 ether);
        uint256 id = _postEth(alice, modelA, 4 ether, 0);
        _claim(prov, id);
        uint256 marketBal = address(market).balance;
        bytes memory good = _proof(verifierA, id, prov, _inputs(), _outputs());
        bytes memory bad = abi.encodePacked(bytes32(uint256(bytes32(good)) ^ 1));

        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InvalidProof.selector, id));
        vm.prank(prov);
        market.submit(id, _inputs(), _outputs(), _noParams(), bad);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InvalidProof.selector, id));
        vm.prank(prov);
        market.submit(id, _inputs(), _outputs(), _noParams(), "");
        // right proof, different (claimed) outputs
        uint256[] memory outs = _outputs();
        outs[0] = 8;
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InvalidProof.selector, id));
        vm.prank(prov);
        market.submit(id, _inputs(), outs, _noParams(), good);

        assertEq(address(market).balance, marketBal);
        assertEq(market.withdrawable(address(0), prov), 0);
        assertEq(market.withdrawable(address(0), feeTo), 0);
        assertEq(_locked(prov), MIN_STAKE);
        assertTrue(_state(id) == InferenceMarket.JobState.Claimed);

        // the claimer can still deliver a valid proof before the deadline
        vm.prank(prov);
        market.submit(id, _inputs(), _outputs(), _noParams(), good);
        assertTrue(_state(id) == InferenceMarket.JobState.Paid);
    }

    function test_submit_proofReplayedForAnotherJob() public {
        _stake(prov, 5 ether);
        uint256 id1 = _postEth(alice, modelA, 1 ether, 0);
        uint256 id2 = _postEth(bob, modelA, 1 ether, 0); // identical inputs and model
        _claim(prov, id1);
        _claim(prov, id2);
        bytes memory proof1 = _proof(verifierA, id1, prov, _inputs(), _outputs());
        vm.prank(prov);
        market.submit(id1, _inputs(), _outputs(), _noParams(), proof1);
        assertNotEq(market.bindingOf(id1, prov), market.bindingOf(id2, prov), "bindings differ");
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InvalidProof.selector, id2));
        vm.prank(prov);
        market.submit(id2, _inputs(), _outputs(), _noParams(), proof1);
        assertTrue(_state(id2) == InferenceMarket.JobState.Claimed);
    }

    function test_submit_proofReplayedOnAnotherMarket() public {
        InferenceMarket other = new InferenceMarket(registry, feeTo, FEE_BPS, SLASH_BPS, DELAY, MIN_STAKE);
        _stake(prov, 1 ether);
        vm.prank(prov);
        other.deposit{value: 1 ether}();
        uint256 id = _postEth(alice, modelA, 1 ether, 0);
        vm.prank(alice);
        uint256 idOther =
            other.postJob{value: 1 ether}(modelA, _inputs(), uint64(block.timestamp + 1 hours), address(0), 1 ether, 0);
        assertEq(id, idOther);
        _claim(prov, id);
        vm.prank(prov);
        other.claim(idOther);
        bytes memory proof = _proof(verifierA, id, prov, _inputs(), _outputs());
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InvalidProof.selector, idOther));
        vm.prank(prov);
        other.submit(idOther, _inputs(), _outputs(), _noParams(), proof);
    }

    function test_binding_dependsOnChainId() public {
        uint256 b1 = market.bindingOf(1, prov);
        vm.chainId(12345);
        uint256 b2 = market.bindingOf(1, prov);
        assertNotEq(b1, b2, "chain id bound");
        assertLt(b1, R, "binding in field");
        assertLt(b2, R, "binding in field");
        assertEq(b2, uint256(keccak256(abi.encode(uint256(12345), address(market), uint256(1), prov))) % R);
    }

    function test_submit_differentModelsVerifier() public {
        _stake(prov, 1 ether);
        uint256 id = _postEth(alice, modelA, 1 ether, 0);
        _claim(prov, id);
        // a proof valid for model B's verifier (same instance shape, other vk)
        bytes memory proofB = _proof(verifierB, id, prov, _inputs(), _outputs());
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InvalidProof.selector, id));
        vm.prank(prov);
        market.submit(id, _inputs(), _outputs(), _noParams(), proofB);
        // ... while model A's verifier accepts its own
        _submit(prov, id, verifierA);
    }

    function test_submit_verifierCodeChanged() public {
        _stake(prov, 1 ether);
        uint256 id = _postEth(alice, modelA, 1 ether, 0);
        _claim(prov, id);
        bytes memory proof = _proof(verifierA, id, prov, _inputs(), _outputs());
        // the registered address now holds different code (e.g. a metamorphic redeploy): always-accept
        vm.etch(address(verifierA), hex"00");
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.VerifierCodeChanged.selector, address(verifierA)));
        vm.prank(prov);
        market.submit(id, _inputs(), _outputs(), _noParams(), proof);
    }

    // ---------------------------------------------------------------- registered weights (params)

    /// A model with weight instances: the registered params are appended to the verifier's
    /// instances; JobCompleted still carries the outputs only.
    function test_submit_params_happyPath() public {
        _stake(prov, 1 ether);
        uint256 id = _postEth(alice, modelP, 1 ether, 0);
        _claim(prov, id);
        // leaving the params out (the old layout) is refused
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WrongParamCount.selector, 2, 0));
        vm.prank(prov);
        market.submit(id, _inputs(), _outputs(), _noParams(), hex"");

        bytes memory proof = _proofP(verifierP, id, prov, _inputs(), _outputs(), _params());
        vm.expectEmit(true, true, false, true, address(market));
        emit JobCompleted(id, prov, _outputs());
        vm.prank(prov);
        market.submit(id, _inputs(), _outputs(), _params(), proof);
        assertTrue(_state(id) == InferenceMarket.JobState.Paid);
        uint256 fee = (1 ether * FEE_BPS) / 10_000;
        assertEq(market.withdrawable(address(0), prov), 1 ether - fee);
    }

    /// A proof made with other weights than the registered ones is refused, even by a verifier
    /// that accepts it (here: one that accepts anything, and one whose proof is "valid" for the
    /// other weights).
    function test_submit_otherWeights_rejected() public {
        _stake(prov, 5 ether);
        uint256[] memory other = _params();
        other[1] = 7; // different weights, same count
        uint256[] memory swapped = new uint256[](N_PARAMS);
        swapped[0] = _params()[1];
        swapped[1] = _params()[0];

        uint256 idAny = _postEth(alice, modelAny, 1 ether, 0);
        _claim(prov, idAny);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ParamsMismatch.selector, idAny));
        vm.prank(prov);
        market.submit(idAny, _inputs(), _outputs(), other, hex"");
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ParamsMismatch.selector, idAny));
        vm.prank(prov);
        market.submit(idAny, _inputs(), _outputs(), swapped, hex"");

        uint256 idP = _postEth(bob, modelP, 1 ether, 0);
        _claim(prov, idP);
        bytes memory proofOther = _proofP(verifierP, idP, prov, _inputs(), _outputs(), other);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.ParamsMismatch.selector, idP));
        vm.prank(prov);
        market.submit(idP, _inputs(), _outputs(), other, proofOther);
        // the proof for the other weights does not pass as one for the registered weights either
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InvalidProof.selector, idP));
        vm.prank(prov);
        market.submit(idP, _inputs(), _outputs(), _params(), proofOther);

        assertTrue(_state(idAny) == InferenceMarket.JobState.Claimed);
        assertTrue(_state(idP) == InferenceMarket.JobState.Claimed);
        assertEq(market.withdrawable(address(0), prov), 0);

        // the registered weights are accepted
        vm.prank(prov);
        market.submit(idAny, _inputs(), _outputs(), _params(), hex"");
        _submitP(prov, idP);
        assertTrue(_state(idAny) == InferenceMarket.JobState.Paid);
        assertTrue(_state(idP) == InferenceMarket.JobState.Paid);
    }

    function test_submit_wrongParamCount() public {
        _stake(prov, 5 ether);
        uint256 idP = _postEth(alice, modelAny, 1 ether, 0);
        _claim(prov, idP);
        uint256[] memory one = new uint256[](1);
        one[0] = _params()[0];
        uint256[] memory three = new uint256[](3);
        three[0] = _params()[0];
        three[1] = _params()[1];
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WrongParamCount.selector, 2, 1));
        vm.prank(prov);
        market.submit(idP, _inputs(), _outputs(), one, hex"");
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WrongParamCount.selector, 2, 3));
        vm.prank(prov);
        market.submit(idP, _inputs(), _outputs(), three, hex"");
        // params moved into the outputs (the old layout, outputs + params): wrong output count
        uint256[] memory outsAndParams = new uint256[](N_OUT + N_PARAMS);
        outsAndParams[0] = _outputs()[0];
        outsAndParams[1] = _outputs()[1];
        outsAndParams[2] = _params()[0];
        outsAndParams[3] = _params()[1];
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WrongOutputCount.selector, 2, 4));
        vm.prank(prov);
        market.submit(idP, _inputs(), outsAndParams, _noParams(), hex"");

        // a model without params takes none
        uint256 idA = _postEth(alice, modelA, 1 ether, 0);
        _claim(prov, idA);
        bytes memory proof = _proof(verifierA, idA, prov, _inputs(), _outputs());
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WrongParamCount.selector, 0, 1));
        vm.prank(prov);
        market.submit(idA, _inputs(), _outputs(), one, proof);
        vm.prank(prov);
        market.submit(idA, _inputs(), _outputs(), _noParams(), proof);
        assertTrue(_state(idA) == InferenceMarket.JobState.Paid);
    }

    /// Params are range-checked like every instance (index into [binding, inputs, outputs, params]).
    function test_submit_paramOutOfField() public {
        uint256[] memory bad = _params();
        bad[1] = R + 1; // would alias 1 inside the verifier
        uint256 m =
            registry.register(address(acceptAll), keccak256("any"), N_IN, N_OUT, N_PARAMS, keccak256(abi.encodePacked(bad)));
        _stake(prov, 1 ether);
        uint256 id = _postEth(alice, m, 1 ether, 0);
        _claim(prov, id);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InstanceOutOfField.selector, 1 + 3 + 2 + 1, R + 1));
        vm.prank(prov);
        market.submit(id, _inputs(), _outputs(), bad, hex"");
    }

    function test_gasBurningVerifier_txStillReverts() public {
        _stake(prov, 1 ether);
        uint256 id = _postEth(alice, modelBurn, 2 ether, 0);
        _claim(prov, id);
        bytes memory good = _proof(MockVerifier(address(burner)), id, prov, _inputs(), _outputs());
        bytes memory bad = abi.encodePacked(keccak256("garbage"));
        uint256 bal = address(market).balance;

        // The verifier burns everything it is given; the 1/64 kept back (EIP-150) reverts cleanly.
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InvalidProof.selector, id));
        vm.prank(prov);
        market.submit{gas: 3_000_000}(id, _inputs(), _outputs(), _noParams(), bad);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InvalidProof.selector, id));
        vm.prank(prov);
        market.submit{gas: 300_000}(id, _inputs(), _outputs(), _noParams(), bad);

        assertEq(address(market).balance, bal);
        assertTrue(_state(id) == InferenceMarket.JobState.Claimed);
        assertEq(_locked(prov), MIN_STAKE);

        vm.prank(prov);
        market.submit{gas: 3_000_000}(id, _inputs(), _outputs(), _noParams(), good);
        assertTrue(_state(id) == InferenceMarket.JobState.Paid);
    }

    // ================================================================ expire / cancel

    function test_expire_claimed_slashes() public {
        _stake(prov, 3 ether);
        uint256 id = _postEth(alice, modelA, 2 ether, 2 ether);
        _claim(prov, id);
        assertEq(_locked(prov), 2 ether);
        uint64 dl = market.job(id).deadline;

        vm.warp(dl - 1);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.DeadlineNotReached.selector, id, dl));
        market.expire(id);

        vm.warp(dl);
        uint256 slashed = (2 ether * SLASH_BPS) / 10_000;
        vm.expectEmit(true, true, false, true, address(market));
        emit JobExpired(id, prov, slashed);
        vm.prank(bob); // anyone
        market.expire(id);

        assertTrue(_state(id) == InferenceMarket.JobState.Expired);
        assertEq(market.withdrawable(address(0), alice), 2 ether + slashed, "refund + slash");
        assertEq(_total(prov), 3 ether - slashed);
        assertEq(_locked(prov), 0);
        assertEq(market.freeStakeOf(prov), 3 ether - slashed);
        assertEq(address(market).balance, 2 ether + 3 ether, "nothing left the market yet");

        uint256 before = alice.balance;
        vm.prank(alice);
        market.withdrawFunds(address(0));
        assertEq(alice.balance - before, 2 ether + slashed);

        vm.expectRevert(
            abi.encodeWithSelector(InferenceMarket.JobNotActive.selector, id, InferenceMarket.JobState.Expired)
        );
        market.expire(id);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.UnknownJob.selector, 9));
        market.expire(9);
    }

    function test_expire_open_refundsWithoutSlash() public {
        _stake(prov, 1 ether);
        token.mint(alice, 100);
        vm.prank(alice);
        token.approve(address(market), 100);
        uint256 id = _postToken(alice, address(token), 100);
        vm.warp(block.timestamp + 1 hours);
        market.expire(id);
        assertEq(market.withdrawable(address(token), alice), 100);
        assertEq(market.withdrawable(address(0), alice), 0);
        assertEq(_total(prov), 1 ether);
        vm.prank(alice);
        market.withdrawFunds(address(token));
        assertEq(token.balanceOf(alice), 100);
    }

    function test_expire_tokenJob_slashIsEth() public {
        _stake(prov, 1 ether);
        token.mint(alice, 100);
        vm.prank(alice);
        token.approve(address(market), 100);
        uint256 id = _postToken(alice, address(token), 100);
        _claim(prov, id);
        vm.warp(block.timestamp + 1 hours);
        market.expire(id);
        assertEq(market.withdrawable(address(token), alice), 100);
        assertEq(market.withdrawable(address(0), alice), 0.5 ether);
        assertEq(_total(prov), 0.5 ether);
    }

    function test_cancel() public {
        _stake(prov, 1 ether);
        uint256 id = _postEth(alice, modelA, 1 ether, 0);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.NotRequester.selector, id, bob));
        vm.prank(bob);
        market.cancel(id);

        vm.prank(alice);
        market.cancel(id);
        assertTrue(_state(id) == InferenceMarket.JobState.Cancelled);
        assertEq(market.withdrawable(address(0), alice), 1 ether);

        vm.expectRevert(
            abi.encodeWithSelector(InferenceMarket.JobNotOpen.selector, id, InferenceMarket.JobState.Cancelled)
        );
        _claim(prov, id);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceMarket.JobNotOpen.selector, id, InferenceMarket.JobState.Cancelled)
        );
        vm.prank(alice);
        market.cancel(id);
        vm.warp(block.timestamp + 2 hours);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceMarket.JobNotActive.selector, id, InferenceMarket.JobState.Cancelled)
        );
        market.expire(id);

        // a claimed job can no longer be cancelled
        uint256 id2 = _postEth(alice, modelA, 1 ether, 0);
        _claim(prov, id2);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceMarket.JobNotOpen.selector, id2, InferenceMarket.JobState.Claimed)
        );
        vm.prank(alice);
        market.cancel(id2);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.UnknownJob.selector, 99));
        market.cancel(99);
    }

    // ================================================================ staking

    function test_unbonding_timing() public {
        _stake(prov, 3 ether);
        uint256 id = _postEth(alice, modelA, 1 ether, 2 ether);
        _claim(prov, id); // locks 2

        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InsufficientStake.selector, 2 ether, 1 ether));
        vm.prank(prov);
        market.requestWithdraw(2 ether); // locked stake cannot be requested
        vm.expectRevert(InferenceMarket.ZeroAmount.selector);
        vm.prank(prov);
        market.requestWithdraw(0);
        vm.expectRevert(InferenceMarket.NothingToWithdraw.selector);
        vm.prank(prov);
        market.withdraw();

        vm.prank(prov);
        market.requestWithdraw(1 ether);
        (uint256 total, uint256 locked, uint256 pending, uint256 unlock) = market.stakeOf(prov);
        assertEq(total, 3 ether);
        assertEq(locked, 2 ether);
        assertEq(pending, 1 ether);
        assertEq(unlock, T0 + DELAY);
        assertEq(market.freeStakeOf(prov), 0);

        // pending stake backs no claim
        uint256 id2 = _postEth(alice, modelA, 1 ether, 0);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InsufficientStake.selector, 1 ether, 0));
        _claim(prov, id2);

        vm.warp(T0 + DELAY - 1);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WithdrawNotReady.selector, T0 + DELAY));
        vm.prank(prov);
        market.withdraw();

        vm.warp(T0 + DELAY);
        uint256 before = prov.balance;
        vm.prank(prov);
        market.withdraw();
        assertEq(prov.balance - before, 1 ether);
        (total, locked, pending, unlock) = market.stakeOf(prov);
        assertEq(total, 2 ether);
        assertEq(locked, 2 ether);
        assertEq(pending, 0);
        assertEq(unlock, 0);

        // the job expired long ago: slashing hits the locked stake only
        market.expire(id);
        assertEq(_total(prov), 1 ether);
        assertEq(market.freeStakeOf(prov), 1 ether);
    }

    function test_unbonding_newRequestRestartsTimer() public {
        _stake(prov, 2 ether);
        vm.prank(prov);
        market.requestWithdraw(1 ether);
        vm.warp(T0 + DELAY - 10);
        vm.prank(prov);
        market.requestWithdraw(0.5 ether);
        (, , uint256 pending, uint256 unlock) = market.stakeOf(prov);
        assertEq(pending, 1.5 ether);
        assertEq(unlock, T0 + 2 * DELAY - 10);
        vm.warp(T0 + DELAY);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WithdrawNotReady.selector, unlock));
        vm.prank(prov);
        market.withdraw();
        vm.warp(unlock);
        vm.prank(prov);
        market.withdraw();
        assertEq(_total(prov), 0.5 ether);
        vm.expectRevert(InferenceMarket.ZeroAmount.selector);
        vm.prank(prov);
        market.deposit();
    }

    // ================================================================ reentrancy

    function test_reentrancy_stakeWithdraw() public {
        ReentrantAttacker a = new ReentrantAttacker();
        vm.deal(address(a), 10 ether);
        a.execute(address(market), 2 ether, abi.encodeCall(InferenceMarket.deposit, ()));
        a.execute(address(market), 0, abi.encodeCall(InferenceMarket.requestWithdraw, (1 ether)));
        vm.warp(block.timestamp + DELAY);
        a.arm(address(market), abi.encodeCall(InferenceMarket.withdraw, ()));
        a.execute(address(market), 0, abi.encodeCall(InferenceMarket.withdraw, ()));
        assertTrue(a.attempted());
        assertTrue(!a.reentrySucceeded(), "reentry blocked");
        assertEq(a.reentryRevertData(), abi.encodeWithSelector(InferenceMarket.Reentrancy.selector), "guard");
        assertEq(a.received(), 1 ether, "paid once");
        assertEq(_total(address(a)), 1 ether);
        assertEq(address(market).balance, 1 ether);
    }

    function test_reentrancy_withdrawFunds() public {
        ReentrantAttacker a = new ReentrantAttacker();
        vm.deal(address(a), 10 ether);
        uint256 id = abi.decode(
            a.execute(
                address(market),
                1 ether,
                abi.encodeCall(
                    InferenceMarket.postJob,
                    (modelA, _inputs(), uint64(block.timestamp + 1 hours), address(0), 1 ether, 0)
                )
            ),
            (uint256)
        );
        _postEth(bob, modelA, 5 ether, 0); // someone else's escrow sits in the market
        a.execute(address(market), 0, abi.encodeCall(InferenceMarket.cancel, (id)));
        a.arm(address(market), abi.encodeCall(InferenceMarket.withdrawFunds, (address(0))));
        a.execute(address(market), 0, abi.encodeCall(InferenceMarket.withdrawFunds, (address(0))));
        assertTrue(!a.reentrySucceeded(), "reentry blocked");
        assertEq(a.reentryRevertData(), abi.encodeWithSelector(InferenceMarket.Reentrancy.selector), "guard");
        assertEq(a.received(), 1 ether, "refunded once");
        assertEq(address(market).balance, 5 ether, "bob's escrow intact");
    }

    function test_reentrancy_maliciousToken() public {
        ReentrantERC20 t = new ReentrantERC20();
        _postEth(bob, modelA, 5 ether, 0);
        t.mint(alice, 100);
        vm.prank(alice);
        t.approve(address(market), 100);
        // during postJob's transferFrom, the token tries to cancel job 2 (itself) and take the refund
        t.arm(address(market), abi.encodeCall(InferenceMarket.cancel, (2)));
        uint256 id = _postToken(alice, address(t), 100);
        assertEq(id, 2);
        assertTrue(t.attempted());
        assertTrue(!t.reentrySucceeded(), "reentry blocked");
        assertEq(t.reentryRevertData(), abi.encodeWithSelector(InferenceMarket.Reentrancy.selector), "guard");
        assertTrue(_state(id) == InferenceMarket.JobState.Open);
        assertEq(t.balanceOf(address(market)), 100);
    }

    function test_reentrancy_viaVerifier() public {
        ReentrantVerifier rv = new ReentrantVerifier(address(market));
        uint256 evil = registry.register(address(rv), keccak256("evil"), N_IN, N_OUT, 0, keccak256(""));
        _stake(prov, 5 ether);
        uint256 id = _postEth(alice, evil, 1 ether, 0);
        uint256 other = _postEth(bob, modelA, 1 ether, 0);
        _claim(prov, id);
        // the verifier "accepts" only if it can claim another job / pull funds mid-verification
        rv.setReentryData(abi.encodeCall(InferenceMarket.claim, (other)));
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InvalidProof.selector, id));
        vm.prank(prov);
        market.submit(id, _inputs(), _outputs(), _noParams(), hex"");
        rv.setReentryData(abi.encodeWithSignature("jobCount()")); // a view call works under STATICCALL
        vm.prank(prov);
        market.submit(id, _inputs(), _outputs(), _noParams(), hex""); // guard is per state-changing entry point only
        assertTrue(_state(id) == InferenceMarket.JobState.Paid);
        assertTrue(_state(other) == InferenceMarket.JobState.Open);
    }

    // ================================================================ reverting receivers

    function test_revertingFeeRecipient_doesNotBlockPayout() public {
        RevertingReceiver sink = new RevertingReceiver();
        market = new InferenceMarket(registry, address(sink), FEE_BPS, SLASH_BPS, DELAY, MIN_STAKE);
        _stake(prov, 1 ether);
        uint256 id = _postEth(alice, modelA, 10 ether, 0);
        _claim(prov, id);
        _submit(prov, id, verifierA);
        uint256 fee = (10 ether * FEE_BPS) / 10_000;
        vm.prank(prov);
        market.withdrawFunds(address(0));
        assertEq(market.withdrawable(address(0), prov), 0);

        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.EthTransferFailed.selector, address(sink), fee));
        sink.execute(address(market), 0, abi.encodeCall(InferenceMarket.withdrawFunds, (address(0))));
        assertEq(market.withdrawable(address(0), address(sink)), fee, "still credited");
        assertEq(address(market).balance, 1 ether + fee);
    }

    function test_revertingRequester_onlyBlocksItself() public {
        RevertingReceiver r = new RevertingReceiver();
        vm.deal(address(r), 5 ether);
        _stake(prov, 2 ether);
        uint256 id = abi.decode(
            r.execute(
                address(market),
                3 ether,
                abi.encodeCall(
                    InferenceMarket.postJob,
                    (modelA, _inputs(), uint64(block.timestamp + 1 hours), address(0), 3 ether, 0)
                )
            ),
            (uint256)
        );
        uint256 id2 = _postEth(alice, modelA, 1 ether, 0);
        _claim(prov, id);
        _claim(prov, id2);
        _submit(prov, id2, verifierA);
        vm.warp(block.timestamp + 1 hours);
        market.expire(id); // refund + slash credited, no push to the reverting contract
        assertEq(market.withdrawable(address(0), address(r)), 3.5 ether);

        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.EthTransferFailed.selector, address(r), 3.5 ether));
        r.execute(address(market), 0, abi.encodeCall(InferenceMarket.withdrawFunds, (address(0))));

        // everyone else is unaffected
        vm.prank(prov);
        market.withdrawFunds(address(0));
        vm.prank(feeTo);
        market.withdrawFunds(address(0));
        vm.prank(prov);
        market.requestWithdraw(1.5 ether);
        vm.warp(block.timestamp + DELAY);
        vm.prank(prov);
        market.withdraw();
        assertEq(address(market).balance, 3.5 ether, "only r's credit is left");
    }
}
