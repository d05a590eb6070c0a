// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

import {Test} from "./utils/Test.sol";
import {ModelRegistry} from "../src/ModelRegistry.sol";
import {MockVerifier} from "./mocks/MockVerifier.sol";

contract ModelRegistryTest is Test {
    event ModelRegistered(
        uint256 indexed modelId,
        address indexed owner,
        address indexed verifier,
        bytes32 vkHash,
        bytes32 verifierCodeHash,
        uint32 nInputs,
        uint32 nOutputs,
        uint32 nParams,
        bytes32 paramsHash
    );

    bytes32 internal constant EMPTY = keccak256("");

    ModelRegistry internal registry;
    MockVerifier internal v;

    function setUp() public {
        registry = new ModelRegistry();
        v = new MockVerifier(4, keccak256("vk"), false);
    }

    function test_register_sequentialIdsAndGetter() public {
        address owner = makeAddr("owner");
        vm.expectEmit(true, true, true, true, address(registry));
        emit ModelRegistered(1, owner, address(v), keccak256("vk"), address(v).codehash, 2, 1, 0, EMPTY);
        vm.prank(owner);
        uint256 id1 = registry.register(address(v), keccak256("vk"), 2, 1, 0, EMPTY);
        uint256 id2 = registry.register(address(v), keccak256("vk v2"), 3, 0, 0, EMPTY); // new version = new id
        assertEq(id1, 1);
        assertEq(id2, 2);
        assertEq(registry.modelCount(), 2);
        assertEq(registry.EMPTY_PARAMS_HASH(), EMPTY);

        ModelRegistry.Model memory m = registry.getModel(id1);
        assertEq(m.verifier, address(v));
        assertEq(m.owner, owner);
        assertEq(m.vkHash, keccak256("vk"));
        assertEq(m.verifierCodeHash, address(v).codehash);
        assertEq(m.nInputs, 2);
        assertEq(m.nOutputs, 1);
        assertEq(m.nParams, 0);
        assertEq(m.paramsHash, EMPTY);
        assertEq(registry.getModel(id2).owner, address(this));

        (address ver, bytes32 ch, uint32 nIn, uint32 nOut, uint32 nPar, bytes32 ph) = registry.verifierInfo(id2);
        assertEq(ver, address(v));
        assertEq(ch, address(v).codehash);
        assertEq(nIn, 3);
        assertEq(nOut, 0);
        assertEq(nPar, 0);
        assertEq(ph, EMPTY);
        assertTrue(registry.exists(1) && registry.exists(2) && !registry.exists(0) && !registry.exists(3));
    }

    /// A model with weight instances: nParams and paramsHash are stored, emitted and returned.
    function test_register_withParams() public {
        uint256[] memory params = new uint256[](3);
        params[0] = 1;
        params[1] = 2;
        params[2] = 3;
        bytes32 ph = keccak256(abi.encodePacked(params));
        vm.expectEmit(true, true, true, true, address(registry));
        emit ModelRegistered(1, address(this), address(v), keccak256("vk"), address(v).codehash, 2, 1, 3, ph);
        uint256 id = registry.register(address(v), keccak256("vk"), 2, 1, 3, ph);
        ModelRegistry.Model memory m = registry.getModel(id);
        assertEq(m.nInputs, 2);
        assertEq(m.nOutputs, 1);
        assertEq(m.nParams, 3);
        assertEq(m.paramsHash, ph);
        assertEq(m.verifierCodeHash, address(v).codehash);
        (address ver, bytes32 ch, uint32 nIn, uint32 nOut, uint32 nPar, bytes32 ph2) = registry.verifierInfo(id);
        assertEq(ver, address(v));
        assertEq(ch, address(v).codehash);
        assertEq(nIn, 2);
        assertEq(nOut, 1);
        assertEq(nPar, 3);
        assertEq(ph2, ph);
    }

    /// paramsHash must be consistent with nParams: keccak256("") iff there are no params.
    function test_register_rejectsInconsistentParamsHash() public {
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.BadParamsHash.selector, uint32(0), bytes32(0)));
        registry.register(address(v), keccak256("vk"), 1, 1, 0, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.BadParamsHash.selector, uint32(0), keccak256("x")));
        registry.register(address(v), keccak256("vk"), 1, 1, 0, keccak256("x"));
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.BadParamsHash.selector, uint32(2), EMPTY));
        registry.register(address(v), keccak256("vk"), 1, 1, 2, EMPTY);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.BadParamsHash.selector, uint32(1), bytes32(0)));
        registry.register(address(v), keccak256("vk"), 1, 1, 1, bytes32(0));
        assertEq(registry.modelCount(), 0);
    }

    function test_register_rejects() public {
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.VerifierHasNoCode.selector, address(0xBEEF)));
        registry.register(address(0xBEEF), keccak256("vk"), 1, 1, 0, EMPTY);
        vm.expectRevert(ModelRegistry.ZeroVkHash.selector);
        registry.register(address(v), bytes32(0), 1, 1, 0, EMPTY);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.UnknownModel.selector, 0));
        registry.getModel(0);
        vm.expectRevert(abi.encodeWithSelector(ModelRegistry.UnknownModel.selector, 1));
        registry.verifierInfo(1);
        assertEq(registry.modelCount(), 0);
    }

    function test_registry_hasNoMutators() public {
        // Immutability: the only state-changing function is register().
        registry.register(address(v), keccak256("vk"), 1, 1, 0, EMPTY);
        (bool ok, ) = address(registry).call(abi.encodeWithSignature("update(uint256,address)", 1, address(this)));
        assertTrue(!ok, "no update function");
        assertEq(registry.getModel(1).verifier, address(v));
    }

    function testFuzz_register(
        address owner,
        bytes32 vk,
        uint32 nIn,
        uint32 nOut,
        uint32 nPar,
        bytes32 ph,
        uint8 count
    ) public {
        vm.assume(vk != bytes32(0));
        if (nPar == 0) ph = EMPTY;
        else vm.assume(ph != bytes32(0) && ph != EMPTY);
        count = uint8(bound(count, 1, 10));
        for (uint256 i = 1; i <= count; i++) {
            vm.prank(owner);
            assertEq(registry.register(address(v), vk, nIn, nOut, nPar, ph), i);
        }
        ModelRegistry.Model memory m = registry.getModel(count);
        assertEq(m.owner, owner);
        assertEq(m.vkHash, vk);
        assertEq(m.nInputs, nIn);
        assertEq(m.nOutputs, nOut);
        assertEq(m.nParams, nPar);
        assertEq(m.paramsHash, ph);
    }
}
