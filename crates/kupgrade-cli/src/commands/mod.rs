//! One module per subcommand.

pub mod demo;
pub mod fleet;
pub mod plan;
pub mod sim;
pub mod upgrade;
pub mod versions;
