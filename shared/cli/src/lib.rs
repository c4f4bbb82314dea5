//! The command line every plugin shares: its flags ([`flags`]), resolved once into plain
//! decisions ([`resolve`]: where objects come from, scope, output, the clock), fleet mode
//! ([`fleet`]: many clusters, each answer a value until one renderer prints them) and the
//! binary edge ([`run`]: completion, exit codes, a closed pipe is success).

pub mod flags;
pub mod fleet;
pub mod resolve;
pub mod run;

pub use flags::CommonFlags;
pub use fleet::Answers;
pub use resolve::{Origin, Resolved, Scope};
pub use run::{Command, command, main, print_completion, to_stdout};
