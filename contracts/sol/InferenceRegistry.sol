// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.19;

/// Records inference results only when a zkinfer verifier accepts their proof.
///
/// Each model is registered under its zkinfer model digest with its verifier contract (from
/// `zkinfer export-verifier`) and the layout of its public instances: the verifier's calldata
/// (`zkinfer calldata PROOF.json`) is `inputWords` 32-byte instances holding the inputs, then
/// `outputWords` holding the outputs, then the proof. The registry keeps, per model, the
/// keccak256 of the output words of the last accepted result and a count of accepted results.
contract InferenceRegistry {
    struct Model {
        address verifier;
        uint32 inputWords;
        uint32 outputWords;
    }

    mapping(bytes32 => Model) public models;
    mapping(bytes32 => bytes32) public acceptedOutput;
    mapping(bytes32 => uint256) public acceptedCount;

    event ModelRegistered(bytes32 indexed digest, address verifier, uint32 inputWords, uint32 outputWords);
    event ResultAccepted(bytes32 indexed digest, bytes32 outputHash);

    error UnknownModel(bytes32 digest);
    error AlreadyRegistered(bytes32 digest);
    error MalformedCalldata();
    error ProofRejected();

    function register(bytes32 digest, address verifier, uint32 inputWords, uint32 outputWords) external {
        if (models[digest].verifier != address(0)) revert AlreadyRegistered(digest);
        if (verifier == address(0) || outputWords == 0) revert MalformedCalldata();
        models[digest] = Model(verifier, inputWords, outputWords);
        emit ModelRegistered(digest, verifier, inputWords, outputWords);
    }

    /// Verifies `proofCalldata` with the model's verifier and records the hash of its output
    /// words. Reverts (recording nothing) if the verifier rejects it.
    function submit(bytes32 digest, bytes calldata proofCalldata) external returns (bytes32 outputHash) {
        Model memory m = models[digest];
        if (m.verifier == address(0)) revert UnknownModel(digest);
        uint256 start = uint256(m.inputWords) * 32;
        uint256 end = start + uint256(m.outputWords) * 32;
        if (proofCalldata.length <= end) revert MalformedCalldata();
        (bool ok, ) = m.verifier.staticcall(proofCalldata);
        if (!ok) revert ProofRejected();
        outputHash = keccak256(proofCalldata[start:end]);
        acceptedOutput[digest] = outputHash;
        acceptedCount[digest] += 1;
        emit ResultAccepted(digest, outputHash);
    }
}
