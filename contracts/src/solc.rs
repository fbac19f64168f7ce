//! The pinned Solidity compiler: npm's `solc` 0.8.19 (solcjs), installed by `npm ci` in
//! `contracts/`, run with node through its standard-JSON interface. The optimizer stays off
//! (snark-verifier's output hits "stack too deep" with it on).

use crate::error::ContractError;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Creation and runtime bytecode of a compiled contract.
#[derive(Clone, Debug)]
pub struct Bytecode {
    /// Creation (deployment) code.
    pub creation: Vec<u8>,
    /// Runtime (deployed) code.
    pub runtime: Vec<u8>,
}

/// A located solcjs.
#[derive(Clone, Debug)]
pub struct Solc {
    /// The `solc` npm package folder (holds `package.json` and `soljson.js`).
    module: PathBuf,
}

/// Reads standard-JSON input on stdin and writes the output to stdout, letting node exit on its
/// own so the (large) output is flushed in full (`solc.js --standard-json` may cut it at 64 KiB).
const DRIVER: &str = "const solc=require(process.argv[1]);\
let input='';process.stdin.setEncoding('utf8');\
process.stdin.on('data',c=>input+=c);\
process.stdin.on('end',()=>{process.stdout.write(solc.compile(input));});";

impl Solc {
    /// Uses `explicit` (the `solc` package folder, or a folder holding `node_modules/solc`), else
    /// the `contracts/` folder of this source tree.
    pub fn locate(explicit: Option<&Path>) -> Result<Self, ContractError> {
        let candidates: Vec<PathBuf> = match explicit {
            Some(p) => vec![p.join("node_modules/solc"), p.to_path_buf()],
            None => vec![
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node_modules/solc"),
                PathBuf::from("contracts/node_modules/solc"),
            ],
        };
        candidates
            .into_iter()
            .find(|c| c.join("soljson.js").is_file())
            .map(|module| Solc { module })
            .ok_or_else(|| ContractError::Solc("solcjs 0.8.19 not found: run `npm ci --prefix contracts` (or pass --solcjs PATH)".into()))
    }

    /// Compiles `source` and returns contract `name`'s bytecode.
    pub fn compile(&self, source: &str, name: &str) -> Result<Bytecode, ContractError> {
        let input = serde_json::json!({
            "language": "Solidity",
            "sources": { "Contract.sol": { "content": source } },
            "settings": {
                "optimizer": { "enabled": false },
                "outputSelection": { "*": { "*": ["evm.bytecode.object", "evm.deployedBytecode.object"] } }
            }
        });
        let mut child = Command::new("node")
            .arg("-e")
            .arg(DRIVER)
            .arg(&self.module)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                ContractError::Solc(format!(
                    "cannot run node ({e}); Node.js is needed for solcjs"
                ))
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(input.to_string().as_bytes())
                .map_err(|e| ContractError::Solc(e.to_string()))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| ContractError::Solc(e.to_string()))?;
        if !out.status.success() {
            return Err(ContractError::Solc(format!(
                "solcjs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        // solcjs may print warnings before the JSON.
        let text = String::from_utf8_lossy(&out.stdout);
        let json = text
            .find('{')
            .map(|i| &text[i..])
            .ok_or_else(|| ContractError::Solc("no JSON output".into()))?;
        let v: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| ContractError::Solc(format!("bad JSON output: {e}")))?;
        if let Some(errors) = v["errors"].as_array() {
            let fatal: Vec<String> = errors
                .iter()
                .filter(|e| e["severity"] == "error")
                .map(|e| {
                    e["formattedMessage"]
                        .as_str()
                        .unwrap_or("error")
                        .to_string()
                })
                .collect();
            if !fatal.is_empty() {
                return Err(ContractError::Solc(fatal.join("\n")));
            }
        }
        let c = &v["contracts"]["Contract.sol"][name];
        let get = |k: &str| -> Result<Vec<u8>, ContractError> {
            let h = c["evm"][k]["object"]
                .as_str()
                .ok_or_else(|| ContractError::Solc(format!("no {k} for contract {name}")))?;
            hex::decode(h).map_err(|e| ContractError::Solc(e.to_string()))
        };
        Ok(Bytecode {
            creation: get("bytecode")?,
            runtime: get("deployedBytecode")?,
        })
    }
}
