// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

import {Test} from "../utils/Test.sol";
import {ModelRegistry} from "../../src/ModelRegistry.sol";
import {Zkinfer} from "../../src/kit/Zkinfer.sol";
import {CreditLine} from "../../src/examples/CreditLine.sol";
import {KitFixture as F} from "../fixtures/kit/KitFixture.sol";

/// @notice The Solidity kit with real zkinfer verifiers and proofs (test/fixtures/kit, made and
///         checked by service/tests/kit.rs): the example CreditLine consumer sets a limit from
///         an honest proof, and refuses a tampered proof, a changed output, a proof of another
///         model, a replayed proof, a proof for another borrower, unattested inputs, a changed
///         verifier and out-of-field instances.
contract CreditLineTest is Test {
    ModelRegistry internal registry;
    address internal verifierA;
    address internal verifierB;
    uint256 internal modelA;
    uint256 internal modelB;
    CreditLine internal line;
    uint256[] internal inputs;
    uint256[] internal outputs;
    bytes internal proofA;
    uint256[] internal inputsB;
    uint256[] internal outputsB;
    bytes internal proofB;
    address internal constant OTHER = address(0xA11CE);
    uint256 internal constant LIMIT_PER_SCORE = 1e15; // 0.001 ETH of credit per unit of score

    function _deploy(string memory path) internal returns (address v) {
        bytes memory code = vm.parseBytes(vm.readFile(path));
        assembly {
            v := create(0, add(code, 0x20), mload(code))
        }
        require(v != address(0), "deploy failed");
    }

    function _split(string memory path, uint256 nIn, uint256 nOut)
        internal
        view
        returns (uint256[] memory ins, uint256[] memory outs, bytes memory proof)
    {
        bytes memory d = vm.parseBytes(vm.readFile(path));
        ins = new uint256[](nIn);
        outs = new uint256[](nOut);
        for (uint256 i = 0; i < nIn; i++) ins[i] = _word(d, 1 + i);
        for (uint256 i = 0; i < nOut; i++) outs[i] = _word(d, 1 + nIn + i);
        uint256 from = (1 + nIn + nOut) * 32;
        proof = new bytes(d.length - from);
        for (uint256 i = 0; i < proof.length; i++) proof[i] = d[from + i];
    }

    function _word(bytes memory d, uint256 i) internal pure returns (uint256 w) {
        assembly {
            w := mload(add(add(d, 0x20), mul(i, 32)))
        }
    }

    /// A CreditLine for `modelId` with its code at the fixture's consumer address (the proofs
    /// are bound to it); immutables live in the code, storage starts empty.
    function _lineAt(uint256 modelId) internal returns (CreditLine) {
        CreditLine made = new CreditLine(
            CreditLine.Config({
                registry: registry,
                modelId: modelId,
                attestor: address(this),
                scoreIndex: 0,
                score: Zkinfer.Packing({lo: F.SCORE_LO, bytesPer: F.SCORE_BYTES, perWord: F.SCORE_PER_WORD, count: F.SCORE_COUNT}),
                scoreZeroPoint: F.SCORE_ZERO_POINT,
                scoreScaleWad: F.SCORE_SCALE_WAD,
                limitPerScore: LIMIT_PER_SCORE
            })
        );
        vm.etch(F.CONSUMER, address(made).code);
        return CreditLine(F.CONSUMER);
    }

    function setUp() public {
        vm.chainId(F.CHAIN_ID);
        registry = new ModelRegistry();
        verifierA = _deploy("test/fixtures/kit/a.verifier.hex");
        verifierB = _deploy("test/fixtures/kit/b.verifier.hex");
        modelA = registry.register(verifierA, F.A_MODEL_ID, F.A_N_INPUTS, F.A_N_OUTPUTS, 0, keccak256(""));
        modelB = registry.register(verifierB, F.B_MODEL_ID, F.B_N_INPUTS, F.B_N_OUTPUTS, 0, keccak256(""));
        (inputs, outputs, proofA) = _split("test/fixtures/kit/a.calldata.hex", F.A_N_INPUTS, F.A_N_OUTPUTS);
        (inputsB, outputsB, proofB) = _split("test/fixtures/kit/b.calldata.hex", F.B_N_INPUTS, F.B_N_OUTPUTS);
        line = _lineAt(modelA);
        line.attest(F.BORROWER, Zkinfer.inputsHash(inputs));
    }

    function _expectedLimit() internal pure returns (uint256) {
        int256 wad = (F.SCORE_Q - F.SCORE_ZERO_POINT) * F.SCORE_SCALE_WAD;
        return wad <= 0 ? 0 : (uint256(wad) * LIMIT_PER_SCORE) / 1e18;
    }

    function test_bindingMatchesTheProver() public view {
        assertEq(line.bindingFor(F.BORROWER), F.BINDING_0, "Zkinfer.binding differs from what the prover computed");
    }

    function test_honestProof_setsTheLimit() public {
        uint256 g = gasleft();
        uint256 limit = line.setLimit(F.BORROWER, inputs, outputs, proofA);
        uint256 used = g - gasleft();
        assertEq(limit, _expectedLimit(), "limit");
        assertEq(line.creditLimit(F.BORROWER), limit, "stored");
        assertEq(line.nonce(F.BORROWER), 1, "nonce");
        assertEq(line.bindingFor(F.BORROWER), F.BINDING_1, "next binding");
        // the decoded score is the model's output: about 196.84 for this input
        int256 score = line.scoreWad(outputs);
        assertTrue(score > 196e18 && score < 198e18, "score");
        assertLt(used, 1_000_000, "gas of setLimit with verification");
    }

    function test_replayedProof_isRejected() public {
        line.setLimit(F.BORROWER, inputs, outputs, proofA);
        vm.expectRevert(abi.encodeWithSelector(Zkinfer.InvalidProof.selector, modelA));
        line.setLimit(F.BORROWER, inputs, outputs, proofA);
    }

    function test_proofForAnotherBorrower_isRejected() public {
        line.attest(OTHER, Zkinfer.inputsHash(inputs));
        vm.expectRevert(abi.encodeWithSelector(Zkinfer.InvalidProof.selector, modelA));
        line.setLimit(OTHER, inputs, outputs, proofA);
    }

    function test_proofOfAnotherModel_isRejected() public {
        // model B's proof, bound to the same consumer, borrower and nonce, on the same input
        assertEq(inputsB.length, inputs.length, "same layout");
        line.attest(F.BORROWER, Zkinfer.inputsHash(inputsB));
        vm.expectRevert(abi.encodeWithSelector(Zkinfer.InvalidProof.selector, modelA));
        line.setLimit(F.BORROWER, inputsB, outputsB, proofB);
        // ... and it is a valid proof: a line for model B accepts it
        CreditLine lineB = _lineAt(modelB);
        lineB.attest(F.BORROWER, Zkinfer.inputsHash(inputsB));
        lineB.setLimit(F.BORROWER, inputsB, outputsB, proofB);
        assertEq(lineB.nonce(F.BORROWER), 1, "model B's line took model B's proof");
    }

    function test_tamperedProof_isRejected() public {
        uint256[3] memory at = [uint256(0), proofA.length / 2, proofA.length - 1];
        for (uint256 i = 0; i < at.length; i++) {
            bytes memory bad = abi.encodePacked(proofA);
            bad[at[i]] ^= 0x01;
            vm.expectRevert(abi.encodeWithSelector(Zkinfer.InvalidProof.selector, modelA));
            line.setLimit(F.BORROWER, inputs, outputs, bad);
        }
        assertEq(line.nonce(F.BORROWER), 0, "nothing changed");
    }

    function test_changedOutput_isRejected() public {
        uint256[] memory more = new uint256[](outputs.length);
        for (uint256 i = 0; i < more.length; i++) more[i] = outputs[i];
        more[0] += 1; // a score one step higher
        vm.expectRevert(abi.encodeWithSelector(Zkinfer.InvalidProof.selector, modelA));
        line.setLimit(F.BORROWER, inputs, more, proofA);
        // an output word aliased by the field modulus (it would verify: the check is the kit's)
        more[0] = outputs[0] + Zkinfer.R;
        vm.expectRevert(abi.encodeWithSelector(Zkinfer.InstanceOutOfField.selector, 1 + inputs.length, more[0]));
        line.setLimit(F.BORROWER, inputs, more, proofA);
    }

    function test_inputsOtherThanAttested_areRejected() public {
        uint256[] memory other = new uint256[](inputs.length);
        for (uint256 i = 0; i < other.length; i++) other[i] = inputs[i];
        other[0] ^= 1;
        vm.expectRevert(
            abi.encodeWithSelector(Zkinfer.InputsMismatch.selector, Zkinfer.inputsHash(inputs), Zkinfer.inputsHash(other))
        );
        line.setLimit(F.BORROWER, other, outputs, proofA);
        vm.expectRevert(abi.encodeWithSelector(CreditLine.NotAttested.selector, OTHER));
        line.setLimit(OTHER, inputs, outputs, proofA);
        vm.prank(OTHER);
        vm.expectRevert(abi.encodeWithSelector(CreditLine.NotAttestor.selector, OTHER));
        line.attest(OTHER, bytes32(uint256(1)));
    }

    function test_changedVerifierCode_isRefused() public {
        vm.etch(verifierA, hex"00");
        vm.expectRevert(abi.encodeWithSelector(Zkinfer.VerifierCodeChanged.selector, verifierA));
        line.setLimit(F.BORROWER, inputs, outputs, proofA);
    }

    function test_wrongInstanceCounts_areRefused() public {
        uint256[] memory none = new uint256[](0);
        vm.expectRevert(abi.encodeWithSelector(Zkinfer.WrongOutputCount.selector, F.A_N_OUTPUTS, 0));
        line.setLimit(F.BORROWER, inputs, none, proofA);
    }

    /// decode is the inverse of zkinfer's packing for any range, width and count.
    function testFuzz_decode_roundTrip(int64 lo, uint8 bytesPer, uint8 count, uint256 seed) public pure {
        uint256 b = bound(bytesPer, 1, 8);
        uint256 per = 15 / b;
        uint256 n = bound(count, 1, 40);
        int256[] memory want = new int256[](n);
        uint256[] memory words = new uint256[](1 + (n + per - 1) / per);
        words[0] = 12345; // the decoder reads from `first`
        for (uint256 j = 0; j < n; j++) {
            uint256 off = uint256(keccak256(abi.encode(seed, j))) & ((uint256(1) << (8 * b)) - 1);
            want[j] = int256(lo) + int256(off);
            words[1 + j / per] |= off << (8 * b * (j % per));
        }
        int256[] memory got = Zkinfer.decode(words, 1, Zkinfer.Packing({lo: lo, bytesPer: b, perWord: per, count: n}));
        for (uint256 j = 0; j < n; j++) {
            assertTrue(got[j] == want[j], "decoded value");
        }
    }
}
