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

/// @notice submitBatch's own cost (an accept-all batch verifier) at 4 and 16 jobs:
///         forge test --match-contract InferenceMarketBatchGasTest --gas-report --isolate
contract InferenceMarketBatchGasTest is Fixture {
    function _batch(uint256 n) internal {
        market.registerBatchVerifier(modelAny, n, address(acceptAll));
        _stake(prov, 100 ether);
        uint256[] memory ids = new uint256[](n);
        uint256[][] memory ins = new uint256[][](n);
        uint256[][] memory outs = new uint256[][](n);
        for (uint256 i = 0; i < n; i++) {
            ids[i] = _postEth(alice, modelAny, 1 ether, 0);
            _claim(prov, ids[i]);
            ins[i] = _inputs();
            outs[i] = _outputs();
        }
        bytes memory proof = new bytes(12 * 32 + 32);
        vm.prank(prov);
        market.submitBatch(ids, ins, outs, _params(), proof);
    }

    function test_gas_batch4() public {
        _batch(4);
    }

    function test_gas_batch16() public {
        _batch(16);
    }
}
