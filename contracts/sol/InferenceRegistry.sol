// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.19;

/// Records inference results only when a zkinfer verifier accepts their proof.
///
/// Each model is registered under its zkinfer model digest with its verifier contract and the
/// layout of its public values (calldata = public values, 32 bytes each, then the proof):
/// `numInputs` words of inputs followed by `numOutputs` words of outputs. With hashed public
/// I/O (`zkinfer compile --public-io hashed`) there is one input word and one output word, each
/// a Poseidon hash.
contract InferenceRegistry {
    struct Model {
        address verifier;
        uint32 numInputs;
        uint32 numOutputs;
    }

    mapping(bytes32 => Model) public models;
    /// Output hash of the last accepted result per model: the output word itself for hashed
    /// I/O, otherwise keccak256 of the output words.
    mapping(bytes32 => bytes32) public acceptedOutput;
    mapping(bytes32 => uint256) public acceptedCount;

    event ModelRegistered(bytes32 indexed digest, address verifier, uint32 numInputs, uint32 numOutputs);
    event ResultAccepted(bytes32 indexed digest, bytes32 outputHash);

    error UnknownModel(bytes32 digest);
    error AlreadyRegistered(bytes32 digest);
    error MalformedCalldata();
    error ProofRejected();

    function register(bytes32 digest, address verifier, uint32 numInputs, uint32 numOutputs, bool hashedOutputs) external {
        if (models[digest].verifier != address(0)) revert AlreadyRegistered(digest);
        if (hashedOutputs && numOutputs != 1) revert MalformedCalldata();
        models[digest] = Model(verifier, numInputs, numOutputs);
        hashed[digest] = hashedOutputs;
        emit ModelRegistered(digest, verifier, numInputs, numOutputs);
    }

    mapping(bytes32 => bool) public hashed;

    /// Verifies `proofCalldata` (as printed by `zkinfer calldata`) with the model's verifier and
    /// stores the result's output hash. Reverts if the verifier rejects it.
    function submit(bytes32 digest, bytes calldata proofCalldata) external returns (bytes32 outputHash) {
        Model memory m = models[digest];
        if (m.verifier == address(0)) revert UnknownModel(digest);
        uint256 start = uint256(m.numInputs) * 32;
        uint256 end = start + uint256(m.numOutputs) * 32;
        if (proofCalldata.length < end) revert MalformedCalldata();
        (bool ok, ) = m.verifier.staticcall(proofCalldata);
        if (!ok) revert ProofRejected();
        if (hashed[digest]) {
            outputHash = bytes32(proofCalldata[start:end]);
        } else {
            outputHash = keccak256(proofCalldata[start:end]);
        }
        acceptedOutput[digest] = outputHash;
        acceptedCount[digest] += 1;
        emit ResultAccepted(digest, outputHash);
    }
}
