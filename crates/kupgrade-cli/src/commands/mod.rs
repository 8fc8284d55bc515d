//! One module per subcommand.

pub mod addons;
pub mod check;
pub mod demo;
pub mod fleet;
pub mod iac;
pub mod plan;
pub mod scan;
pub mod sim;
pub mod swap;
pub mod upgrade;
pub mod verify;
pub mod versions;
