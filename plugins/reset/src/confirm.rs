//! Interactive confirmation: the user types the context name; `--yes` for automation; without a
//! terminal and without `--yes`, writes are refused (exit 2) before anything is read or changed.

use crate::error::{ResetError, Result};
use std::io::{BufRead, IsTerminal, Write};

/// Refuses early when there is no terminal to ask on and no `--yes`.
pub fn require_terminal_or_yes(yes: bool, what: &str) -> Result<()> {
    if yes || std::io::stdin().is_terminal() {
        return Ok(());
    }
    Err(ResetError::Usage(format!(
        "refusing to {what} without confirmation: standard input is not a terminal; pass --yes to confirm non-interactively"
    )))
}

/// How a write is confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// Ask on the terminal for the context's name.
    Ask,
    /// Already confirmed (`--yes`).
    Given,
    /// The name a caller gave without a terminal (an MCP tool's argument): it must be the
    /// context's.
    Typed(String),
}

impl Confirmation {
    /// Confirms a write to `context`, asking the user if need be (`question` says what it does).
    pub fn check(&self, context: &str, question: &str) -> Result<()> {
        match self {
            Confirmation::Ask => ask(context, question, &mut std::io::stdin().lock()),
            Confirmation::Given => Ok(()),
            Confirmation::Typed(name) => matches(context, name),
        }
    }
}

/// Asks on stderr for the context name and reads it from `input`.
pub fn ask(context: &str, question: &str, input: &mut dyn BufRead) -> Result<()> {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{question}\nType the context name ({context}) to continue: ");
    let _ = err.flush();
    let mut line = String::new();
    input.read_line(&mut line).map_err(|e| ResetError::Usage(format!("reading the confirmation: {e}")))?;
    matches(context, line.trim())
}

fn matches(context: &str, given: &str) -> Result<()> {
    if given == context {
        Ok(())
    } else {
        Err(ResetError::Usage(format!(
            "confirmation {given:?} is not the context name {context:?}: nothing was changed"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_context_name_confirms() {
        assert!(ask("prod", "Reset?", &mut "prod\n".as_bytes()).is_ok());
        assert!(ask("prod", "Reset?", &mut "yes\n".as_bytes()).is_err());
        assert!(ask("prod", "Reset?", &mut "".as_bytes()).is_err());
    }
}
