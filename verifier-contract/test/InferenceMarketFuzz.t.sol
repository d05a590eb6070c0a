// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

import {Fixture} from "./utils/Fixture.sol";
import {InferenceMarket} from "../src/InferenceMarket.sol";

/// @notice Stateless fuzz tests (forge picks the arguments; runs set in foundry.toml).
contract InferenceMarketFuzzTest is Fixture {
    function testFuzz_feeCap(uint256 feeBps) public {
        if (feeBps > 500) {
            vm.expectRevert(abi.encodeWithSelector(InferenceMarket.FeeTooHigh.selector, feeBps, 500));
            new InferenceMarket(registry, feeTo, feeBps, SLASH_BPS, DELAY, MIN_STAKE);
        } else {
            InferenceMarket m = new InferenceMarket(registry, feeTo, feeBps, SLASH_BPS, DELAY, MIN_STAKE);
            assertEq(m.feeBps(), feeBps);
        }
    }

    /// Provider payment + fee == escrowed amount, for any amount, fee and payment asset.
    function testFuzz_payoutSplit(uint256 amount, uint256 feeBps, bool useToken) public {
        amount = bound(amount, 1, 1e30);
        feeBps = bound(feeBps, 0, 500);
        market = new InferenceMarket(registry, feeTo, feeBps, SLASH_BPS, DELAY, MIN_STAKE);
        _stake(prov, 1 ether);
        uint256 id;
        address tok = useToken ? address(token) : address(0);
        if (useToken) {
            token.mint(alice, amount);
            vm.prank(alice);
            token.approve(address(market), amount);
            id = _postToken(alice, address(token), amount);
        } else {
            vm.deal(alice, amount);
            id = _postEth(alice, modelA, amount, 0);
        }
        _claim(prov, id);
        _submit(prov, id, verifierA);
        uint256 fee = (amount * feeBps) / 10_000;
        assertEq(market.withdrawable(tok, feeTo), fee);
        assertEq(market.withdrawable(tok, prov), amount - fee);
        assertLe(fee * 10_000, amount * 500, "fee <= 5%");
        vm.prank(prov);
        market.withdrawFunds(tok);
        if (fee != 0) {
            vm.prank(feeTo);
            market.withdrawFunds(tok);
        }
        if (useToken) assertEq(token.balanceOf(address(market)), 0);
        assertEq(address(market).balance, 1 ether);
    }

    /// claim/submit work strictly before the deadline, expire exactly from the deadline on.
    function testFuzz_deadlineWindow(uint256 delta, uint256 wait, bool claimFirst) public {
        delta = bound(delta, 1, 365 days);
        wait = bound(wait, 0, 2 * delta);
        _stake(prov, 1 ether);
        uint256 id = _postEth(alice, modelA, 1 ether, 0);
        // re-post with the fuzzed deadline
        vm.prank(alice);
        market.cancel(id);
        vm.prank(alice);
        id = market.postJob{value: 1 ether}(modelA, _inputs(), uint64(block.timestamp + delta), address(0), 1 ether, 0);
        uint256 dl = block.timestamp + delta;
        if (claimFirst) _claim(prov, id);
        bytes memory proof = _proof(verifierA, id, prov, _inputs(), _outputs());
        vm.warp(block.timestamp + wait);
        if (block.timestamp < dl) {
            vm.expectRevert(abi.encodeWithSelector(InferenceMarket.DeadlineNotReached.selector, id, dl));
            market.expire(id);
            if (!claimFirst) _claim(prov, id);
            vm.prank(prov);
            market.submit(id, _inputs(), _outputs(), proof);
            assertTrue(_state(id) == InferenceMarket.JobState.Paid);
        } else {
            if (claimFirst) {
                vm.expectRevert(abi.encodeWithSelector(InferenceMarket.DeadlinePassed.selector, id, dl));
                vm.prank(prov);
                market.submit(id, _inputs(), _outputs(), proof);
            } else {
                vm.expectRevert(abi.encodeWithSelector(InferenceMarket.DeadlinePassed.selector, id, dl));
                _claim(prov, id);
            }
            market.expire(id);
            assertTrue(_state(id) == InferenceMarket.JobState.Expired);
            uint256 slashed = claimFirst ? (MIN_STAKE * SLASH_BPS) / 10_000 : 0;
            assertEq(market.withdrawable(address(0), alice), 1 ether + 1 ether + slashed); // + earlier cancel
        }
    }

    /// Expiring a claimed job slashes exactly slashBps of the locked stake to the requester.
    function testFuzz_expireSlash(uint256 stakeRequired, uint256 slashBps, uint256 extra, uint256 amount) public {
        stakeRequired = bound(stakeRequired, 0, 100 ether);
        slashBps = bound(slashBps, 0, 10_000);
        extra = bound(extra, 0, 10 ether);
        amount = bound(amount, 1, 100 ether);
        market = new InferenceMarket(registry, feeTo, FEE_BPS, slashBps, DELAY, MIN_STAKE);
        uint256 stake = stakeRequired > MIN_STAKE ? stakeRequired : MIN_STAKE;
        vm.deal(prov, stake + extra);
        _stake(prov, stake + extra);
        uint256 id = _postEth(alice, modelA, amount, stakeRequired);
        _claim(prov, id);
        assertEq(market.freeStakeOf(prov), extra);
        vm.warp(block.timestamp + 1 hours);
        vm.prank(bob);
        market.expire(id);
        uint256 slashed = (stake * slashBps) / 10_000;
        assertEq(market.withdrawable(address(0), alice), amount + slashed);
        (uint256 total, uint256 locked, , ) = market.stakeOf(prov);
        assertEq(total, stake + extra - slashed);
        assertEq(locked, 0);
        assertEq(address(market).balance, amount + stake + extra);
    }

    /// Unbonded stake is withdrawable exactly from unlockTime on.
    function testFuzz_unbonding(uint256 delay, uint256 dep, uint256 req, uint256 wait) public {
        delay = bound(delay, 0, 365 days);
        dep = bound(dep, 1, 100 ether);
        req = bound(req, 1, dep);
        wait = bound(wait, 0, 2 * delay + 1);
        market = new InferenceMarket(registry, feeTo, FEE_BPS, SLASH_BPS, delay, MIN_STAKE);
        vm.deal(prov, dep);
        _stake(prov, dep);
        vm.prank(prov);
        market.requestWithdraw(req);
        vm.warp(block.timestamp + wait);
        if (wait < delay) {
            vm.expectRevert(abi.encodeWithSelector(InferenceMarket.WithdrawNotReady.selector, T0 + delay));
            vm.prank(prov);
            market.withdraw();
        } else {
            vm.prank(prov);
            market.withdraw();
            assertEq(prov.balance, req);
            assertEq(_total(prov), dep - req);
            assertEq(address(market).balance, dep - req);
        }
    }

    /// Any instance >= R is rejected, at postJob (inputs) and at submit (outputs).
    function testFuzz_outOfFieldRejected(uint256 v, uint256 idx) public {
        v = bound(v, R, type(uint256).max);
        uint256[] memory ins = _inputs();
        ins[idx % N_IN] = v;
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InstanceOutOfField.selector, idx % N_IN, v));
        vm.prank(alice);
        market.postJob{value: 1}(modelA, ins, uint64(block.timestamp + 1), address(0), 1, 0);

        _stake(prov, 1 ether);
        uint256 id = _postEth(alice, modelA, 1 ether, 0);
        _claim(prov, id);
        uint256[] memory outs = _outputs();
        outs[idx % N_OUT] = v;
        bytes memory proof = _proof(verifierA, id, prov, _inputs(), outs);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceMarket.InstanceOutOfField.selector, 1 + N_IN + (idx % N_OUT), v)
        );
        vm.prank(prov);
        market.submit(id, _inputs(), outs, proof);
    }

    /// Random proof bytes are rejected and move no funds.
    function testFuzz_randomProofRejected(bytes memory proof, uint256 amount) public {
        amount = bound(amount, 1, 100 ether);
        _stake(prov, 1 ether);
        uint256 id = _postEth(alice, modelA, amount, 0);
        _claim(prov, id);
        vm.assume(keccak256(proof) != keccak256(_proof(verifierA, id, prov, _inputs(), _outputs())));
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InvalidProof.selector, id));
        vm.prank(prov);
        market.submit(id, _inputs(), _outputs(), proof);
        assertEq(address(market).balance, amount + 1 ether);
        assertEq(market.withdrawable(address(0), prov), 0);
        assertEq(market.withdrawable(address(0), feeTo), 0);
        assertTrue(_state(id) == InferenceMarket.JobState.Claimed);
    }

    /// Only the claimer can submit, whoever else tries with whatever proof.
    function testFuzz_onlyClaimerSubmits(address caller) public {
        vm.assume(caller != prov);
        _stake(prov, 1 ether);
        uint256 id = _postEth(alice, modelA, 1 ether, 0);
        _claim(prov, id);
        bytes memory proof = _proof(verifierA, id, caller, _inputs(), _outputs());
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.NotProvider.selector, id, caller));
        vm.prank(caller);
        market.submit(id, _inputs(), _outputs(), proof);
    }

    /// Bindings are field elements and differ between (job, provider) pairs.
    function testFuzz_bindingDistinct(uint256 j1, uint256 j2, address p1, address p2) public view {
        vm.assume(j1 != j2 || p1 != p2);
        uint256 b1 = market.bindingOf(j1, p1);
        uint256 b2 = market.bindingOf(j2, p2);
        assertLt(b1, R, "b1 < R");
        assertLt(b2, R, "b2 < R");
        assertNotEq(b1, b2, "bindings collide");
    }
}
