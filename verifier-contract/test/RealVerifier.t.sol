// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

import {Test} from "./utils/Test.sol";
import {ModelRegistry} from "../src/ModelRegistry.sol";
import {InferenceMarket} from "../src/InferenceMarket.sol";

/// @notice Checks the market's calling convention against a real snark-verifier contract made by
///         this repository (test/fixtures/digits_mlp: the digits_mlp model's Verifier.sol compiled
///         with the pinned solcjs, and one honest proof; see test/fixtures/README.md):
///         calldata = 32-byte big-endian instances ++ proof, called with STATICCALL, success =
///         no revert with empty return data, failure = revert.
contract RealVerifierTest is Test {
    address internal verifier;
    bytes internal callData; // 7 instances (binding 0, 5 input words, 1 output word) ++ 2528-byte proof
    uint256 internal constant N_INSTANCES = 7;
    uint256 internal constant N_IN = 5;
    uint256 internal constant N_OUT = 1;

    function setUp() public {
        bytes memory code = vm.parseBytes(vm.readFile("test/fixtures/digits_mlp/verifier.bytecode.hex"));
        callData = vm.parseBytes(vm.readFile("test/fixtures/digits_mlp/calldata.hex"));
        address v;
        assembly {
            v := create(0, add(code, 0x20), mload(code))
        }
        require(v != address(0), "deploy failed");
        verifier = v;
    }

    /// @dev Like the market: STATICCALL, no return data copied. Gas is capped because a real
    ///      verifier can consume everything it is given on a bad proof (a failing ecPairing
    ///      precompile call burns all its gas), and forge's default test gas limit is ~1e9.
    function _staticcall(bytes memory data) internal view returns (bool ok, uint256 retSize, uint256 gasUsed) {
        address v = verifier;
        uint256 g = gasleft();
        assembly {
            ok := staticcall(3000000, v, add(data, 0x20), mload(data), 0, 0)
            retSize := returndatasize()
        }
        gasUsed = g - gasleft();
    }

    function test_realVerifier_acceptsHonestProofViaStaticcall() public view {
        assertLe(verifier.code.length, 24_576, "EIP-170");
        (bool ok, uint256 retSize, uint256 gasUsed) = _staticcall(callData);
        assertTrue(ok, "honest proof rejected under STATICCALL");
        assertEq(retSize, 0, "success returns empty data");
        assertLt(gasUsed, 1_000_000, "verification gas");
    }

    function test_realVerifier_rejectsTampering() public view {
        uint256 n = N_INSTANCES * 32;
        uint256[4] memory positions = [n, n + (callData.length - n) / 2, callData.length - 1, 31];
        for (uint256 i = 0; i < positions.length; i++) {
            bytes memory bad = callData;
            bad = abi.encodePacked(bad); // copy
            bad[positions[i]] ^= 0x01; // a proof byte, or (31) the last byte of instance 0
            (bool ok, , ) = _staticcall(bad);
            assertTrue(!ok, "tampered calldata accepted");
        }
        (bool ok3, , ) = _staticcall("");
        assertTrue(!ok3, "empty calldata accepted");
        // the honest proof still verifies
        (bool ok4, , ) = _staticcall(callData);
        assertTrue(ok4, "honest proof rejected after failures");
    }

    /// The generated verifier does NOT range-check instances: instance + R verifies like instance
    /// (it only does arithmetic mod R). So a word w >= R would alias w - R; this is why the market
    /// rejects every instance >= R before calling the verifier (InstanceOutOfField).
    function test_realVerifier_aliasesInstancesModR_soMarketMustRangeCheck() public view {
        bytes memory shifted = abi.encodePacked(callData);
        uint256 first;
        assembly {
            first := mload(add(shifted, 0x20))
        }
        first += 21888242871839275222246405745257275088548364400416034343698204186575808495617;
        assembly {
            mstore(add(shifted, 0x20), first)
        }
        (bool ok, , ) = _staticcall(shifted);
        assertTrue(ok, "verifier now range-checks instances (fine; the market check stays)");
    }

    /// Through the market, a valid proof made for another binding (here 0, the unbound default)
    /// is rejected: the market supplies bindingOf(jobId, provider) as instance 0, and the
    /// failed verification reverts cleanly with InvalidProof, leaving the job Claimed.
    /// (The Rust tests in service/tests/market*.rs run the bound proof through the market.)
    function test_realVerifier_throughMarket_rejectsUnboundProof() public {
        ModelRegistry registry = new ModelRegistry();
        uint256 modelId = registry.register(
            verifier, keccak256("digits_mlp vk"), uint32(N_IN), uint32(N_OUT), 0, keccak256("") // private weights
        );
        InferenceMarket market = new InferenceMarket(registry, address(0xFEE), 100, 5_000, 1 days, 0);
        assertEq(_word(0), 0, "the fixture proof is unbound");
        uint256[] memory ins = new uint256[](N_IN);
        uint256[] memory outs = new uint256[](N_OUT);
        for (uint256 i = 0; i < N_IN; i++) ins[i] = _word(1 + i);
        for (uint256 i = 0; i < N_OUT; i++) outs[i] = _word(1 + N_IN + i);
        address prov = address(0xBEEF);
        vm.deal(prov, 1 ether);
        uint256 id = market.postJob{value: 1}(modelId, ins, uint64(block.timestamp + 1 hours), address(0), 1, 0);
        vm.prank(prov);
        market.claim(id);
        bytes memory proof = _slice(callData, N_INSTANCES * 32, callData.length);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InvalidProof.selector, id));
        vm.prank(prov);
        market.submit{gas: 2_000_000}(id, ins, outs, new uint256[](0), proof);
        assertTrue(market.job(id).state == InferenceMarket.JobState.Claimed);
    }

    function _word(uint256 i) internal view returns (uint256 w) {
        bytes memory d = callData;
        assembly {
            w := mload(add(add(d, 0x20), mul(i, 32)))
        }
    }

    function _slice(bytes memory d, uint256 from, uint256 to) internal pure returns (bytes memory out) {
        out = new bytes(to - from);
        for (uint256 i = 0; i < out.length; i++) out[i] = d[from + i];
    }
}
