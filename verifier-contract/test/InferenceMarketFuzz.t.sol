// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

import {Fixture} from "./utils/Fixture.sol";
import {InferenceMarket} from "../src/InferenceMarket.sol";
import {MockERC20} from "./mocks/MockERC20.sol";

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

    // ---------------------------------------------------------------- amounts over the whole uint256 range

    /// Posts a job of `amount` (ETH via vm.deal, or `tok`), then claims and submits a valid proof.
    /// Either postJob refuses the amount with AmountTooLarge(amount) and nothing changes, or the
    /// honest submit succeeds and fee + payout == amount, fee == floor(amount * feeBps / 10000).
    /// Returns whether the job was accepted.
    /// For ETH the amount is capped at 2^256 - 1 - the market's balance: a larger msg.value cannot
    /// exist (the EVM would overflow the market's balance before any code runs).
    function _roundTrip(uint256 amount, MockERC20 tok) internal returns (bool accepted) {
        address t = address(tok);
        if (t == address(0) && amount > type(uint256).max - address(market).balance) {
            amount = type(uint256).max - address(market).balance;
        }
        uint256 value = t == address(0) ? amount : 0;
        if (t == address(0)) {
            vm.deal(alice, amount);
        } else {
            tok.mint(alice, amount);
            vm.prank(alice);
            tok.approve(address(market), amount);
        }
        uint256 jobsBefore = market.jobCount();
        uint256 id;
        vm.prank(alice);
        try market.postJob{value: value}(modelA, _inputs(), uint64(block.timestamp + 1 hours), t, amount, 0) returns (
            uint256 jobId
        ) {
            id = jobId;
        } catch (bytes memory err) {
            assertEq(err, abi.encodeWithSelector(InferenceMarket.AmountTooLarge.selector, amount), "refused by name");
            assertEq(market.jobCount(), jobsBefore, "no job posted");
            return false;
        }
        _claim(prov, id);
        uint256 provBefore = market.withdrawable(t, prov);
        uint256 feeBefore = market.withdrawable(t, feeTo);
        _submit(prov, id, verifierA); // must not revert: the honest provider is paid
        assertTrue(_state(id) == InferenceMarket.JobState.Paid);
        uint256 payout = market.withdrawable(t, prov) - provBefore;
        uint256 fee = market.withdrawable(t, feeTo) - feeBefore;
        assertEq(fee + payout, amount, "fee + payout == amount");
        assertEq(fee, _refFee(amount, market.feeBps()), "fee exact");
        assertEq(_locked(prov), 0, "stake unlocked");
        return true;
    }

    /// floor(a * f / 10000) for any a (f <= 500), via the 512-bit product (reference for the tests).
    function _refFee(uint256 a, uint256 f) internal pure returns (uint256 q) {
        // a * f = hi * 2^256 + lo
        uint256 lo;
        uint256 hi;
        assembly {
            let mm := mulmod(a, f, not(0))
            lo := mul(a, f)
            hi := sub(sub(mm, lo), lt(mm, lo))
        }
        if (hi == 0) return lo / 10_000;
        // long division of (hi, lo) by 10000, bit by bit (hi < 10000, so the quotient fits)
        uint256 rem = hi;
        for (uint256 i = 256; i > 0; i--) {
            uint256 bit = (lo >> (i - 1)) & 1;
            // rem < 10000 here, so rem * 2 + bit cannot overflow
            rem = rem * 2 + bit;
            q = q * 2;
            if (rem >= 10_000) {
                rem -= 10_000;
                q += 1;
            }
        }
    }

    /// Any amount in [1, 2^256 - 1], any fee, ETH or token: refused at postJob, or paid in full.
    /// `shift` spreads the amounts over every bit length (0 .. 256 bits), not only huge ones.
    function testFuzz_amountFullRange(uint256 amount, uint8 shift, uint256 feeBps, bool useToken) public {
        amount = bound(amount >> shift, 1, type(uint256).max);
        feeBps = bound(feeBps, 0, 500);
        market = new InferenceMarket(registry, feeTo, feeBps, SLASH_BPS, DELAY, MIN_STAKE);
        _stake(prov, 1 ether);
        _roundTrip(amount, useToken ? token : MockERC20(address(0)));
    }

    /// Same, for amounts from 2^256 / 500 on only (where amount * feeBps overflows at 5%).
    function testFuzz_amountHuge(uint256 amount, bool useToken) public {
        amount = bound(amount, type(uint256).max / 500, type(uint256).max);
        market = new InferenceMarket(registry, feeTo, 500, SLASH_BPS, DELAY, MIN_STAKE);
        _stake(prov, 1 ether);
        _roundTrip(amount, useToken ? token : MockERC20(address(0)));
    }

    /// The fee reference used above agrees with the plain formula wherever that does not overflow.
    function testFuzz_refFee(uint256 a, uint256 f) public pure {
        f = bound(f, 0, 500);
        if (f == 0 || a <= type(uint256).max / f) assertEq(_refFee(a, f), (a * f) / 10_000);
        assertLe(_refFee(a, f), a, "fee <= amount");
    }

    /// The edges: 2^256 - 1, 2^128 + 1, 2^128 are refused; 2^128 - 1 and small amounts around BPS are
    /// paid in full, for every fee (0, 1, 250, 500 bps), in ETH and in an ERC-20.
    function test_amount_edgeCases() public {
        uint256[10] memory amounts = [
            type(uint256).max,
            type(uint256).max / 250 + 1, // smallest amount whose amount * 250 overflows
            (uint256(1) << 128) + 1,
            uint256(1) << 128,
            type(uint128).max,
            type(uint128).max - 1,
            10_001,
            10_000,
            9_999,
            1
        ];
        uint256[4] memory fees = [uint256(0), 1, 250, 500];
        _stake(prov, 1 ether);
        for (uint256 f = 0; f < fees.length; f++) {
            market = new InferenceMarket(registry, feeTo, fees[f], SLASH_BPS, DELAY, MIN_STAKE);
            _stake(prov, 1 ether);
            for (uint256 i = 0; i < amounts.length; i++) {
                bool accepted = _roundTrip(amounts[i], MockERC20(address(0)));
                assertEq(accepted ? 1 : 0, amounts[i] <= type(uint128).max ? 1 : 0, "ETH accepted iff < 2^128");
                accepted = _roundTrip(amounts[i], new MockERC20("T", "T")); // fresh token: mint never overflows
                assertEq(accepted ? 1 : 0, amounts[i] <= type(uint128).max ? 1 : 0, "token accepted iff < 2^128");
            }
        }
    }

    /// Credits from many maximal jobs accumulate without overflow and can all be withdrawn.
    function test_amount_maxJobsAccumulateCredits() public {
        uint256 amount = type(uint128).max;
        uint256 n = 4;
        _stake(prov, 1 ether);
        token.mint(alice, amount * n);
        vm.prank(alice);
        token.approve(address(market), type(uint256).max);
        for (uint256 i = 0; i < n; i++) {
            uint256 id = _postToken(alice, address(token), amount);
            _claim(prov, id);
            _submit(prov, id, verifierA);
        }
        uint256 fee = (amount * FEE_BPS) / 10_000;
        assertEq(market.withdrawable(address(token), prov), n * (amount - fee));
        assertEq(market.withdrawable(address(token), feeTo), n * fee);
        // maximal jobs cancelled / expired (with slashing) refund in full too
        token.mint(bob, amount * 2);
        vm.prank(bob);
        token.approve(address(market), type(uint256).max);
        uint256 idC = _postToken(bob, address(token), amount);
        uint256 idE = _postToken(bob, address(token), amount);
        vm.prank(bob);
        market.cancel(idC);
        _claim(prov, idE);
        vm.warp(block.timestamp + 1 hours);
        market.expire(idE);
        assertEq(market.withdrawable(address(token), bob), 2 * amount);
        assertEq(market.withdrawable(address(0), bob), (MIN_STAKE * SLASH_BPS) / 10_000);

        vm.prank(prov);
        market.withdrawFunds(address(token));
        vm.prank(feeTo);
        market.withdrawFunds(address(token));
        vm.prank(bob);
        market.withdrawFunds(address(token));
        assertEq(token.balanceOf(prov), n * (amount - fee));
        assertEq(token.balanceOf(feeTo), n * fee);
        assertEq(token.balanceOf(bob), 2 * amount);
        assertEq(token.balanceOf(address(market)), 0);
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
            market.submit(id, _inputs(), _outputs(), _noParams(), proof);
            assertTrue(_state(id) == InferenceMarket.JobState.Paid);
        } else {
            if (claimFirst) {
                vm.expectRevert(abi.encodeWithSelector(InferenceMarket.DeadlinePassed.selector, id, dl));
                vm.prank(prov);
                market.submit(id, _inputs(), _outputs(), _noParams(), proof);
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
        market.submit(id, _inputs(), outs, _noParams(), proof);
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
        market.submit(id, _inputs(), _outputs(), _noParams(), proof);
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
        market.submit(id, _inputs(), _outputs(), _noParams(), proof);
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
