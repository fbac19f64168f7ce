//! Pieces shared by the on-chain commands.

use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use zkinfer_contracts::Solc;
use zkinfer_verifier::{VerifierKey, VK_FILE};

/// Where the pinned Solidity compiler is.
#[derive(Args)]
pub struct SolcArg {
    /// The npm `solc` 0.8.19 package folder (or a folder holding `node_modules/solc`).
    /// Default: `contracts/` of the zkinfer source tree, after `npm ci --prefix contracts`.
    #[arg(long, value_name = "PATH")]
    pub solcjs: Option<PathBuf>,
}

impl SolcArg {
    /// Finds solcjs.
    pub fn locate(&self) -> Result<Solc> {
        Ok(Solc::locate(self.solcjs.as_deref())?)
    }
}

/// Loads a model folder's verifying key.
pub fn load_key(dir: &Path) -> Result<VerifierKey> {
    let path = dir.join(VK_FILE);
    VerifierKey::load(&path)
        .with_context(|| format!("loading {} (run `zkinfer setup` first)", path.display()))
}
