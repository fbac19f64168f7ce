// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.19;

/// Records inference results only when a zkinfer verifier accepts their proof.
///
/// Each model is registered under its zkinfer model digest with its verifier contract (from
/// `zkinfer export-verifier`) and the layout of its public instances: the verifier's calldata
/// (`zkinfer calldata PROOF.json`) is `inputWords` 32-byte instances holding the inputs, then
/// `outputWords` holding the outputs, then the proof. Only the owner (the deployer, until it
/// transfers ownership) registers models, and a digest is bound to its verifier once: nobody
/// can bind a digest to a verifier of their own before the owner does, nor re-bind it after.
/// The contract cannot check that a verifier belongs to a digest; the owner vouches for that.
///
/// For each accepted result the registry keeps the keccak256 of its input words and of its
/// output words: `proven[digest][inputHash]` is the output hash proven for that input of that
/// model (zero if none), and per model the hashes of the last accepted result and a count.
contract InferenceRegistry {
    struct Model {
        address verifier;
        uint32 inputWords;
        uint32 outputWords;
    }

    /// The only account that can register models.
    address public owner;
    mapping(bytes32 => Model) public models;
    /// keccak256 of the input words of the model's last accepted result.
    mapping(bytes32 => bytes32) public acceptedInput;
    /// keccak256 of the output words of the model's last accepted result.
    mapping(bytes32 => bytes32) public acceptedOutput;
    mapping(bytes32 => uint256) public acceptedCount;
    /// digest => input hash => output hash of an accepted result for that input (zero if none).
    mapping(bytes32 => mapping(bytes32 => bytes32)) public proven;

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event ModelRegistered(bytes32 indexed digest, address verifier, uint32 inputWords, uint32 outputWords);
    event ResultAccepted(bytes32 indexed digest, bytes32 indexed inputHash, bytes32 outputHash);

    error NotOwner();
    error ZeroAddress();
    error UnknownModel(bytes32 digest);
    error AlreadyRegistered(bytes32 digest);
    error MalformedCalldata();
    error ProofRejected();

    constructor() {
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    /// Hands the right to register models to `newOwner` (not the zero address). Owner only.
    function transferOwnership(address newOwner) external {
        if (msg.sender != owner) revert NotOwner();
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    /// Binds `digest` to `verifier`, a deployed contract, and its instance layout. Owner only;
    /// reverts if the digest is already registered.
    function register(bytes32 digest, address verifier, uint32 inputWords, uint32 outputWords) external {
        if (msg.sender != owner) revert NotOwner();
        if (models[digest].verifier != address(0)) revert AlreadyRegistered(digest);
        // A call to an address without code succeeds, so it would accept every proof.
        if (verifier.code.length == 0 || outputWords == 0) revert MalformedCalldata();
        models[digest] = Model(verifier, inputWords, outputWords);
        emit ModelRegistered(digest, verifier, inputWords, outputWords);
    }

    /// Verifies `proofCalldata` with the model's verifier and records the hashes of its input
    /// words (the hash of empty bytes if the model has none) and of its output words. Reverts
    /// (recording nothing) if the verifier rejects it.
    function submit(bytes32 digest, bytes calldata proofCalldata) external returns (bytes32 outputHash) {
        Model memory m = models[digest];
        if (m.verifier == address(0)) revert UnknownModel(digest);
        uint256 start = uint256(m.inputWords) * 32;
        uint256 end = start + uint256(m.outputWords) * 32;
        if (proofCalldata.length <= end) revert MalformedCalldata();
        (bool ok, ) = m.verifier.staticcall(proofCalldata);
        if (!ok) revert ProofRejected();
        bytes32 inputHash = keccak256(proofCalldata[0:start]);
        outputHash = keccak256(proofCalldata[start:end]);
        acceptedInput[digest] = inputHash;
        acceptedOutput[digest] = outputHash;
        proven[digest][inputHash] = outputHash;
        acceptedCount[digest] += 1;
        emit ResultAccepted(digest, inputHash, outputHash);
    }
}
