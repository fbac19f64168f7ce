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
/// A model can instead be registered with its wrapper's verifier (`zkinfer export-verifier
/// --wrap`, calldata from `zkinfer calldata --wrap`): the wrapper's public words start with the
/// 12 words of a KZG accumulator (checked by the verifier) and the model digest as two 128-bit
/// halves, then the model's input and output words. The registry accepts such a proof only if
/// the digest it carries is the one it is submitted under: a wrapper proof of another model is
/// rejected even by a verifier that accepts it.
///
/// For each accepted result the registry keeps the keccak256 of its input words and of its
/// output words: `proven[digest][inputHash]` is the output hash proven for that input of that
/// model (zero if none), and per model the hashes of the last accepted result and a count.
contract InferenceRegistry {
    struct Model {
        address verifier;
        uint32 inputWords;
        uint32 outputWords;
        bool wrapped;
    }

    /// Words before the model's inputs in a wrapper's calldata: the accumulator, the digest.
    uint256 private constant WRAPPER_PREFIX_WORDS = 14;
    /// Where the digest's halves sit in a wrapper's calldata.
    uint256 private constant WRAPPER_DIGEST_WORD = 12;

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
    error WrongModel(bytes32 digest);

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
        _register(digest, verifier, inputWords, outputWords, false);
    }

    /// As `register`, for the model's wrapper verifier: `inputWords` and `outputWords` count the
    /// model's own public words, after the wrapper's 14.
    function registerWrapped(bytes32 digest, address verifier, uint32 inputWords, uint32 outputWords) external {
        _register(digest, verifier, inputWords, outputWords, true);
    }

    function _register(bytes32 digest, address verifier, uint32 inputWords, uint32 outputWords, bool wrapped) private {
        if (msg.sender != owner) revert NotOwner();
        if (models[digest].verifier != address(0)) revert AlreadyRegistered(digest);
        // A call to an address without code succeeds, so it would accept every proof.
        if (verifier.code.length == 0 || outputWords == 0) revert MalformedCalldata();
        models[digest] = Model(verifier, inputWords, outputWords, wrapped);
        emit ModelRegistered(digest, verifier, inputWords, outputWords);
    }

    /// Verifies `proofCalldata` with the model's verifier and records the hashes of its input
    /// words (the hash of empty bytes if the model has none) and of its output words. Reverts
    /// (recording nothing) if the verifier rejects it.
    function submit(bytes32 digest, bytes calldata proofCalldata) external returns (bytes32 outputHash) {
        Model memory m = models[digest];
        if (m.verifier == address(0)) revert UnknownModel(digest);
        uint256 prefix = m.wrapped ? WRAPPER_PREFIX_WORDS * 32 : 0;
        uint256 start = prefix + uint256(m.inputWords) * 32;
        uint256 end = start + uint256(m.outputWords) * 32;
        if (proofCalldata.length <= end) revert MalformedCalldata();
        if (m.wrapped) {
            uint256 at = WRAPPER_DIGEST_WORD * 32;
            uint256 hi = uint256(bytes32(proofCalldata[at:at + 32]));
            uint256 lo = uint256(bytes32(proofCalldata[at + 32:at + 64]));
            if (hi != uint256(digest) >> 128 || lo != uint256(digest) & type(uint128).max) {
                revert WrongModel(digest);
            }
        }
        (bool ok, ) = m.verifier.staticcall(proofCalldata);
        if (!ok) revert ProofRejected();
        bytes32 inputHash = keccak256(proofCalldata[prefix:start]);
        outputHash = keccak256(proofCalldata[start:end]);
        acceptedInput[digest] = inputHash;
        acceptedOutput[digest] = outputHash;
        proven[digest][inputHash] = outputHash;
        acceptedCount[digest] += 1;
        emit ResultAccepted(digest, inputHash, outputHash);
    }
}
