// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

import {Fixture} from "./utils/Fixture.sol";
import {InferenceMarket} from "../src/InferenceMarket.sol";
import {MarketHandler} from "./handlers/MarketHandler.sol";

/// @notice Invariant (stateful fuzz) tests: forge calls random MarketHandler actions (deposit,
///         requestWithdraw, withdraw, postJob in ETH or token, claim, submit valid/invalid proofs,
///         expire, cancel, withdrawFunds, warp) and checks the invariants after every call.
contract InferenceMarketInvariantTest is Fixture {
    MarketHandler internal handler;

    function setUp() public override {
        super.setUp();
        // a short unbonding delay so that runs also reach stake withdrawals
        market = new InferenceMarket(registry, feeTo, FEE_BPS, SLASH_BPS, 1 days, MIN_STAKE);
        // a model with registered weight instances, so every submit also passes the params checks
        handler = new MarketHandler(market, verifierP, token, modelP, N_IN, N_OUT, _params());
        bytes4[] memory sel = new bytes4[](10);
        sel[0] = MarketHandler.deposit.selector;
        sel[1] = MarketHandler.requestWithdraw.selector;
        sel[2] = MarketHandler.withdraw.selector;
        sel[3] = MarketHandler.postJob.selector;
        sel[4] = MarketHandler.claim.selector;
        sel[5] = MarketHandler.submit.selector;
        sel[6] = MarketHandler.expire.selector;
        sel[7] = MarketHandler.cancel.selector;
        sel[8] = MarketHandler.withdrawFunds.selector;
        sel[9] = MarketHandler.warp.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: sel}));
    }

    /// Sum over jobs still in escrow (Open or Claimed) paid in `tok`.
    function _escrowed(address tok) internal view returns (uint256 sum) {
        uint256 n = market.jobCount();
        for (uint256 id = 1; id <= n; id++) {
            InferenceMarket.Job memory j = market.job(id);
            if (
                j.token == tok && (j.state == InferenceMarket.JobState.Open || j.state == InferenceMarket.JobState.Claimed)
            ) sum += j.amount;
        }
    }

    function _credited(address tok) internal view returns (uint256 sum) {
        for (uint256 i = 0; i < handler.accountCount(); i++) sum += market.withdrawable(tok, handler.accounts(i));
    }

    function _staked() internal view returns (uint256 sum) {
        for (uint256 i = 0; i < handler.providerCount(); i++) {
            (uint256 total, , , ) = market.stakeOf(handler.providers(i));
            sum += total;
        }
    }

    /// The market's ETH balance is exactly escrowed ETH payments + stakes + withdrawable ETH, and
    /// equals everything that came in minus everything that went out.
    function invariant_ethSolvency() public view {
        uint256 bal = address(market).balance;
        assertEq(bal, _escrowed(address(0)) + _staked() + _credited(address(0)), "ETH balance != liabilities");
        assertEq(bal, handler.ghostEthIn() - handler.ghostEthOut(), "ETH balance != in - out");
    }

    /// Same for the ERC-20.
    function invariant_tokenSolvency() public view {
        uint256 bal = token.balanceOf(address(market));
        assertEq(bal, _escrowed(address(token)) + _credited(address(token)), "token balance != liabilities");
        assertEq(bal, handler.ghostTokenIn() - handler.ghostTokenOut(), "token balance != in - out");
    }

    /// Each provider's locked stake is exactly the stake of the jobs it has claimed and not yet
    /// settled, and locked + pending withdrawal never exceeds its total.
    function invariant_stakeAccounting() public view {
        uint256 n = market.jobCount();
        for (uint256 i = 0; i < handler.providerCount(); i++) {
            address p = handler.providers(i);
            uint256 sumClaimed;
            for (uint256 id = 1; id <= n; id++) {
                InferenceMarket.Job memory j = market.job(id);
                if (j.state == InferenceMarket.JobState.Claimed && j.provider == p) sumClaimed += j.stake;
            }
            (uint256 total, uint256 locked, uint256 pending, ) = market.stakeOf(p);
            assertEq(locked, sumClaimed, "locked != claimed stakes");
            assertLe(locked + pending, total, "locked + pending > total");
        }
    }
}
