//! One module per subcommand.

pub mod compile;
pub mod demo;
pub mod inspect;
pub mod prove;
pub mod setup;
pub mod verify;
