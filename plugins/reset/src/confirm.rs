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

/// Asks on stderr for the context name and reads it from `input`.
pub fn ask(context: &str, question: &str, input: &mut dyn BufRead) -> Result<()> {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{question}\nType the context name ({context}) to continue: ");
    let _ = err.flush();
    let mut line = String::new();
    input.read_line(&mut line).map_err(|e| ResetError::Usage(format!("reading the confirmation: {e}")))?;
    if line.trim() == context {
        Ok(())
    } else {
        Err(ResetError::Usage(format!(
            "confirmation {:?} is not the context name {context:?}: nothing was changed",
            line.trim()
        )))
    }
}

/// The name of the kubeconfig context in use, as kubectl resolves it: `--context`, else the
/// current-context of `--kubeconfig`, of the first `KUBECONFIG` file that sets one, or of
/// `~/.kube/config`; `in-cluster` when there is no kubeconfig.
pub fn context_name(flags: &kubectl_flux_shared::flags::ConnectionFlags) -> String {
    if let Some(c) = flags.context.last() {
        return c.clone();
    }
    let files: Vec<std::path::PathBuf> =
        match (&flags.kubeconfig, std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty())) {
            (Some(p), _) => vec![p.clone()],
            (None, Some(list)) => std::env::split_paths(&list).collect(),
            (None, None) => {
                std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".kube/config")).into_iter().collect()
            }
        };
    files
        .iter()
        .filter_map(|f| kube::config::Kubeconfig::read_from(f).ok())
        .find_map(|k| k.current_context.filter(|c| !c.is_empty()))
        .unwrap_or_else(|| "in-cluster".to_string())
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
