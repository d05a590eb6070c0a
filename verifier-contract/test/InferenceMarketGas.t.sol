// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

import {Fixture} from "./utils/Fixture.sol";

/// @notice One successful call of each lifecycle step (3 inputs, 2 outputs, mock verifier; the
///         params job adds 2 registered weight instances), for
///         gas numbers:  forge test --match-contract InferenceMarketGasTest --gas-report --isolate
///         (--isolate runs every top-level call as its own transaction: cold storage, 21000 base).
contract InferenceMarketGasTest is Fixture {
    function test_gas_ethJob() public {
        _stake(prov, 1 ether);
        uint256 id = _postEth(alice, modelA, 1 ether, 0);
        _claim(prov, id);
        _submit(prov, id, verifierA);
        vm.prank(prov);
        market.withdrawFunds(address(0));
    }

    function test_gas_tokenJob() public {
        _stake(prov, 1 ether);
        token.mint(alice, 1 ether);
        vm.prank(alice);
        token.approve(address(market), 1 ether);
        uint256 id = _postToken(alice, address(token), 1 ether);
        _claim(prov, id);
        _submit(prov, id, verifierA);
        vm.prank(prov);
        market.withdrawFunds(address(token));
    }

    function test_gas_paramsJob() public {
        _stake(prov, 1 ether);
        uint256 id = _postEth(alice, modelP, 1 ether, 0);
        _claim(prov, id);
        _submitP(prov, id);
    }
}
