// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

import {Fixture} from "./utils/Fixture.sol";
import {InferenceMarket} from "../src/InferenceMarket.sol";
import {AggregatedVerifierAdapter} from "../src/AggregatedVerifierAdapter.sol";
import {MockVerifier} from "./mocks/MockVerifier.sol";

/// @notice The adapter that lets the market take aggregated proofs: the aggregation verifier
///         (a MockVerifier over 12 accumulator words + the model's instances) receives exactly
///         [accumulator, binding, inputs, outputs] ++ proof; a paid job through the market; and
///         every way the reordering or the accumulator could be abused is refused.
contract AggregatedVerifierAdapterTest is Fixture {
    MockVerifier internal agg;
    AggregatedVerifierAdapter internal adapter;
    uint256 internal modelAgg;
    uint256 internal constant N_MODEL = 1 + N_IN + N_OUT;

    function setUp() public override {
        super.setUp();
        agg = new MockVerifier(12 + N_MODEL, keccak256("aggregation vk"), false);
        adapter = new AggregatedVerifierAdapter(address(agg), N_MODEL);
        modelAgg = registry.register(address(adapter), keccak256("sharded model"), N_IN, N_OUT, 0, registry.EMPTY_PARAMS_HASH());
    }

    function _acc() internal pure returns (uint256[] memory a) {
        a = new uint256[](12);
        for (uint256 i = 0; i < 12; i++) a[i] = uint256(keccak256(abi.encode("limb", i))) >> 176; // 80-bit limbs
    }

    function _cat(uint256[] memory a, uint256[] memory b) internal pure returns (uint256[] memory c) {
        c = new uint256[](a.length + b.length);
        for (uint256 i = 0; i < a.length; i++) c[i] = a[i];
        for (uint256 i = 0; i < b.length; i++) c[a.length + i] = b[i];
    }

    /// @dev What a provider submits as `proof`: accumulator ++ aggregation proof.
    function _aggProof(uint256 jobId, address provider, uint256[] memory acc) internal view returns (bytes memory) {
        uint256[] memory model = _instances(market.bindingOf(jobId, provider), _inputs(), _outputs(), _noParams());
        return abi.encodePacked(acc, agg.proofFor(_cat(acc, model)));
    }

    function test_adapter_reordersForTheAggregationVerifier() public view {
        uint256[] memory model = _instances(42, _inputs(), _outputs(), _noParams());
        bytes memory proof = agg.proofFor(_cat(_acc(), model));
        (bool ok, ) = address(adapter).staticcall(abi.encodePacked(model, _acc(), proof));
        assertTrue(ok, "honest call accepted");
        // a changed accumulator limb, model instance, or proof byte is refused
        uint256[] memory acc2 = _acc();
        acc2[5] += 1;
        (ok, ) = address(adapter).staticcall(abi.encodePacked(model, acc2, proof));
        assertTrue(!ok, "changed accumulator");
        uint256[] memory model2 = _instances(43, _inputs(), _outputs(), _noParams());
        (ok, ) = address(adapter).staticcall(abi.encodePacked(model2, _acc(), proof));
        assertTrue(!ok, "changed binding");
        // the accumulator cannot be passed where the instances go (no reordering by the caller)
        (ok, ) = address(adapter).staticcall(abi.encodePacked(_acc(), model, proof));
        assertTrue(!ok, "accumulator first");
    }

    function test_adapter_refusesShortCalldataAndBadConstruction() public {
        bytes memory short = new bytes(N_MODEL * 32 + 12 * 32 - 1);
        vm.expectRevert(abi.encodeWithSelector(AggregatedVerifierAdapter.CalldataTooShort.selector, short.length, N_MODEL * 32 + 384));
        (bool ok, ) = address(adapter).call(short);
        ok;
        vm.expectRevert(abi.encodeWithSelector(AggregatedVerifierAdapter.VerifierHasNoCode.selector, address(0xbeef)));
        new AggregatedVerifierAdapter(address(0xbeef), N_MODEL);
        vm.expectRevert(AggregatedVerifierAdapter.NoInstances.selector);
        new AggregatedVerifierAdapter(address(agg), 0);
        assertEq(adapter.verifierCodeHash(), address(agg).codehash);
    }

    function test_adapter_refusesAChangedVerifier() public {
        uint256[] memory model = _instances(42, _inputs(), _outputs(), _noParams());
        bytes memory proof = agg.proofFor(_cat(_acc(), model));
        vm.etch(address(agg), address(verifierA).code);
        vm.expectRevert(abi.encodeWithSelector(AggregatedVerifierAdapter.VerifierCodeChanged.selector, address(agg)));
        (bool ok, ) = address(adapter).call(abi.encodePacked(model, _acc(), proof));
        ok;
    }

    function test_market_paysAnAggregatedProof() public {
        _stake(prov, 2 ether);
        uint256 id = _postEth(alice, modelAgg, 1 ether, 0);
        _claim(prov, id);
        // another provider's binding, or a proof for other outputs, is refused
        bytes memory wrong = _aggProof(id, alice, _acc());
        vm.prank(prov);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InvalidProof.selector, id));
        market.submit(id, _inputs(), _outputs(), _noParams(), wrong);
        bytes memory proof = _aggProof(id, prov, _acc());
        uint256[] memory outs = _outputs();
        outs[0] += 1;
        vm.prank(prov);
        vm.expectRevert(abi.encodeWithSelector(InferenceMarket.InvalidProof.selector, id));
        market.submit(id, _inputs(), outs, _noParams(), proof);
        vm.prank(prov);
        market.submit(id, _inputs(), _outputs(), _noParams(), proof);
        assertTrue(_state(id) == InferenceMarket.JobState.Paid);
    }
}
