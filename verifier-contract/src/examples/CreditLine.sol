// SPDX-License-Identifier: MIT
pragma solidity ^0.8.19;

import {ModelRegistry} from "../ModelRegistry.sol";
import {Zkinfer} from "../kit/Zkinfer.sol";

/// @title CreditLine: a lending pool's credit limits, set from a proven scoring model
/// @notice Example consumer of the Zkinfer kit. An attestor (a data provider the pool trusts)
///         commits to each borrower's features (the keccak256 of the model's input instances);
///         anyone then sets the borrower's limit by submitting a zkinfer proof that the
///         registered model, run on exactly those features, produced a score. The limit is
///         the score (18-decimal fixed point) times `limitPerScore`, floored at zero.
///         Each proof is bound to (this chain, this contract, borrower, the borrower's nonce),
///         so it cannot be replayed: not twice, not for another borrower, not on another
///         contract or chain.
/// @dev The score output's packing, zero point and scale come from the model's
///      instances.json (`zkinfer evm-verifier DIR`); see docs/solidity-kit.md.
contract CreditLine {
    ModelRegistry public immutable registry;
    uint256 public immutable modelId;
    address public immutable attestor;
    /// index of the score among the output values
    uint256 public immutable scoreIndex;
    int256 public immutable scoreLo;
    uint256 public immutable scoreBytes;
    uint256 public immutable scorePerWord;
    uint256 public immutable scoreCount;
    int256 public immutable scoreZeroPoint;
    int256 public immutable scoreScaleWad;
    /// credit (wei) per unit of score
    uint256 public immutable limitPerScore;

    mapping(address => bytes32) public featuresHash;
    mapping(address => uint256) public nonce;
    mapping(address => uint256) public creditLimit;

    event FeaturesAttested(address indexed borrower, bytes32 inputsHash);
    event LimitSet(address indexed borrower, int256 scoreWad, uint256 limit, uint256 nonce);

    error NotAttestor(address caller);
    error NotAttested(address borrower);

    struct Config {
        ModelRegistry registry;
        uint256 modelId;
        address attestor;
        uint256 scoreIndex;
        Zkinfer.Packing score;
        int256 scoreZeroPoint;
        int256 scoreScaleWad;
        uint256 limitPerScore;
    }

    constructor(Config memory c) {
        registry = c.registry;
        modelId = c.modelId;
        attestor = c.attestor;
        scoreIndex = c.scoreIndex;
        scoreLo = c.score.lo;
        scoreBytes = c.score.bytesPer;
        scorePerWord = c.score.perWord;
        scoreCount = c.score.count;
        scoreZeroPoint = c.scoreZeroPoint;
        scoreScaleWad = c.scoreScaleWad;
        limitPerScore = c.limitPerScore;
    }

    /// @notice The attestor commits to a borrower's features (keccak256 of the input instances).
    function attest(address borrower, bytes32 inputsHash) external {
        if (msg.sender != attestor) revert NotAttestor(msg.sender);
        featuresHash[borrower] = inputsHash;
        emit FeaturesAttested(borrower, inputsHash);
    }

    /// @notice The binding the borrower's next proof must carry (`zkinfer prove --binding`).
    function bindingFor(address borrower) public view returns (uint256) {
        return Zkinfer.binding(keccak256(abi.encode(borrower, nonce[borrower])));
    }

    /// @notice Sets the borrower's limit from a proof of the model on the attested features.
    function setLimit(address borrower, uint256[] calldata inputs, uint256[] calldata outputs, bytes calldata proof)
        external
        returns (uint256 limit)
    {
        bytes32 committed = featuresHash[borrower];
        if (committed == bytes32(0)) revert NotAttested(borrower);
        Zkinfer.requireInputs(inputs, committed);
        Zkinfer.verify(registry, modelId, bindingFor(borrower), inputs, outputs, new uint256[](0), proof);
        uint256 used = nonce[borrower]++;
        int256 score = scoreWad(outputs);
        limit = score <= 0 ? 0 : (uint256(score) * limitPerScore) / 1e18;
        creditLimit[borrower] = limit;
        emit LimitSet(borrower, score, limit, used);
    }

    /// @notice The score in `outputs` as an 18-decimal fixed-point value.
    function scoreWad(uint256[] calldata outputs) public view returns (int256) {
        Zkinfer.Packing memory p = Zkinfer.Packing({lo: scoreLo, bytesPer: scoreBytes, perWord: scorePerWord, count: scoreCount});
        int256[] memory q = Zkinfer.decode(outputs, 0, p);
        int256[] memory one = new int256[](1);
        one[0] = q[scoreIndex];
        return Zkinfer.toWad(one, scoreZeroPoint, scoreScaleWad)[0];
    }
}
