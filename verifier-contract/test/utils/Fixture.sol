// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

import {Test} from "./Test.sol";
import {ModelRegistry} from "../../src/ModelRegistry.sol";
import {InferenceMarket} from "../../src/InferenceMarket.sol";
import {MockVerifier, GasBurningVerifier, AcceptAllVerifier} from "../mocks/MockVerifier.sol";
import {MockERC20} from "../mocks/MockERC20.sol";

/// @notice Shared deployment and helpers for the market tests.
abstract contract Fixture is Test {
    uint256 internal constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    uint32 internal constant N_IN = 3;
    uint32 internal constant N_OUT = 2;
    uint32 internal constant N_PARAMS = 2; // modelP / modelAny: two registered weight instances
    uint256 internal constant FEE_BPS = 250; // 2.5%
    uint256 internal constant SLASH_BPS = 5_000; // 50%
    uint256 internal constant DELAY = 7 days;
    uint256 internal constant MIN_STAKE = 1 ether;
    uint256 internal constant T0 = 1_700_000_000;

    ModelRegistry internal registry;
    InferenceMarket internal market;
    MockVerifier internal verifierA;
    MockVerifier internal verifierB;
    GasBurningVerifier internal burner;
    MockVerifier internal verifierP; // checks [binding, inputs, outputs, params] (N_PARAMS params)
    AcceptAllVerifier internal acceptAll; // accepts every proof: only the market's checks remain
    MockERC20 internal token;
    uint256 internal modelA;
    uint256 internal modelB;
    uint256 internal modelBurn;
    uint256 internal modelP; // verifierP, params _params()
    uint256 internal modelAny; // acceptAll, params _params()

    address internal feeTo;
    address internal alice; // requester
    address internal bob; // requester
    address internal prov; // provider
    address internal prov2; // provider

    function setUp() public virtual {
        vm.warp(T0);
        feeTo = makeAddr("feeTo");
        alice = makeAddr("alice");
        bob = makeAddr("bob");
        prov = makeAddr("prov");
        prov2 = makeAddr("prov2");

        registry = new ModelRegistry();
        verifierA = new MockVerifier(1 + N_IN + N_OUT, keccak256("vk A"), false);
        verifierB = new MockVerifier(1 + N_IN + N_OUT, keccak256("vk B"), false);
        burner = new GasBurningVerifier(1 + N_IN + N_OUT, keccak256("vk A"));
        verifierP = new MockVerifier(1 + N_IN + N_OUT + N_PARAMS, keccak256("vk P"), false);
        acceptAll = new AcceptAllVerifier();
        bytes32 empty = keccak256("");
        modelA = registry.register(address(verifierA), keccak256("vk A"), N_IN, N_OUT, 0, empty);
        modelB = registry.register(address(verifierB), keccak256("vk B"), N_IN, N_OUT, 0, empty);
        modelBurn = registry.register(address(burner), keccak256("vk A"), N_IN, N_OUT, 0, empty);
        bytes32 ph = keccak256(abi.encodePacked(_params()));
        modelP = registry.register(address(verifierP), keccak256("vk P"), N_IN, N_OUT, N_PARAMS, ph);
        modelAny = registry.register(address(acceptAll), keccak256("any"), N_IN, N_OUT, N_PARAMS, ph);

        market = new InferenceMarket(registry, feeTo, FEE_BPS, SLASH_BPS, DELAY, MIN_STAKE);
        token = new MockERC20("Token", "TKN");

        vm.deal(alice, 1_000 ether);
        vm.deal(bob, 1_000 ether);
        vm.deal(prov, 1_000 ether);
        vm.deal(prov2, 1_000 ether);
    }

    // ---- instance helpers
    function _inputs() internal pure returns (uint256[] memory a) {
        a = new uint256[](N_IN);
        a[0] = 11;
        a[1] = 22;
        a[2] = R - 1;
    }

    function _outputs() internal pure returns (uint256[] memory a) {
        a = new uint256[](N_OUT);
        a[0] = 7;
        a[1] = 123456789;
    }

    /// @dev The registered weight instances of modelP / modelAny.
    function _params() internal pure returns (uint256[] memory a) {
        a = new uint256[](N_PARAMS);
        a[0] = 0x1234;
        a[1] = R - 2;
    }

    function _noParams() internal pure returns (uint256[] memory a) {
        a = new uint256[](0);
    }

    function _instances(uint256 binding, uint256[] memory ins, uint256[] memory outs, uint256[] memory params)
        internal
        pure
        returns (uint256[] memory all)
    {
        all = new uint256[](1 + ins.length + outs.length + params.length);
        all[0] = binding;
        for (uint256 i = 0; i < ins.length; i++) all[1 + i] = ins[i];
        for (uint256 i = 0; i < outs.length; i++) all[1 + ins.length + i] = outs[i];
        for (uint256 i = 0; i < params.length; i++) all[1 + ins.length + outs.length + i] = params[i];
    }

    /// @dev The proof `v` accepts for (jobId, provider) with these inputs/outputs (no params).
    function _proof(MockVerifier v, uint256 jobId, address provider, uint256[] memory ins, uint256[] memory outs)
        internal
        view
        returns (bytes memory)
    {
        return v.proofFor(_instances(market.bindingOf(jobId, provider), ins, outs, _noParams()));
    }

    /// @dev The proof `v` accepts for (jobId, provider) with these inputs/outputs/params.
    function _proofP(
        MockVerifier v,
        uint256 jobId,
        address provider,
        uint256[] memory ins,
        uint256[] memory outs,
        uint256[] memory params
    ) internal view returns (bytes memory) {
        return v.proofFor(_instances(market.bindingOf(jobId, provider), ins, outs, params));
    }

    // ---- action helpers
    function _stake(address p, uint256 amount) internal {
        vm.prank(p);
        market.deposit{value: amount}();
    }

    function _postEth(address requester, uint256 modelId, uint256 amount, uint256 stakeRequired)
        internal
        returns (uint256 jobId)
    {
        vm.prank(requester);
        jobId = market.postJob{value: amount}(
            modelId, _inputs(), uint64(block.timestamp + 1 hours), address(0), amount, stakeRequired
        );
    }

    function _postToken(address requester, address tok, uint256 amount) internal returns (uint256 jobId) {
        vm.prank(requester);
        jobId = market.postJob(modelA, _inputs(), uint64(block.timestamp + 1 hours), tok, amount, 0);
    }

    function _claim(address p, uint256 jobId) internal {
        vm.prank(p);
        market.claim(jobId);
    }

    function _submit(address p, uint256 jobId, MockVerifier v) internal {
        bytes memory proof = _proof(v, jobId, p, _inputs(), _outputs());
        vm.prank(p);
        market.submit(jobId, _inputs(), _outputs(), _noParams(), proof);
    }

    /// @dev Submits a valid proof with the registered params for a modelP job.
    function _submitP(address p, uint256 jobId) internal {
        bytes memory proof = _proofP(verifierP, jobId, p, _inputs(), _outputs(), _params());
        vm.prank(p);
        market.submit(jobId, _inputs(), _outputs(), _params(), proof);
    }

    function _state(uint256 jobId) internal view returns (InferenceMarket.JobState) {
        return market.job(jobId).state;
    }

    function _locked(address p) internal view returns (uint256 locked) {
        (, locked, , ) = market.stakeOf(p);
    }

    function _total(address p) internal view returns (uint256 total) {
        (total, , , ) = market.stakeOf(p);
    }
}
