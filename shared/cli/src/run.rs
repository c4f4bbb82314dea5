//! The binary edge: parse, resolve, run a plugin, turn its result into an exit code, print
//! errors plainly. A closed pipe (`| head`) is success, as in ripgrep.

use crate::flags::CommonFlags;
use crate::resolve::Resolved;
use clap::builder::StyledStr;
use kubectl_flux_model::error::{EXIT_FAILED, Error};
use std::io::Write;
use std::process::ExitCode;

/// Runs a plugin's main function and maps its outcome to the process exit code (DESIGN §3.3):
/// `Ok(code)` exits with `code`; errors print `error: ...` on stderr with their own code.
pub fn run(plugin: &str, main: impl FnOnce() -> kubectl_flux_model::Result<u8>) -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let _ =
            writeln!(std::io::stderr(), "error: internal error: {msg}; please report this with the command you ran");
    }));
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(main)) {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(Error::Output(e))) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Ok(Err(Error::Reported(code))) => ExitCode::from(code),
        Ok(Err(err)) => {
            let _ = writeln!(std::io::stderr(), "error: {plugin}: {err}");
            ExitCode::from(err.exit_code())
        }
        Err(_) => ExitCode::from(EXIT_FAILED),
    }
}

/// Prints a plugin's answer on stdout, as the command line asked (`-o`, `--jq`, colour),
/// buffered and flushed once: `answer` is the plugin's printing function.
pub fn to_stdout(
    output: &kubectl_flux_output::Output,
    answer: impl FnOnce(&mut [kubectl_flux_output::Printer]) -> kubectl_flux_model::Result<u8>,
) -> kubectl_flux_model::Result<u8> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let code = answer(&mut [kubectl_flux_output::Printer { output: output.clone(), out: &mut out }])?;
    out.flush()?;
    Ok(code)
}

/// Prints a completion script for a plugin's command.
pub fn print_completion(shell: clap_complete::Shell, mut cmd: clap::Command) -> kubectl_flux_model::Result<u8> {
    let name = cmd.get_name().to_string();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    out.flush()?;
    Ok(0)
}

/// Cobra's directive bits, printed as the last line of `__complete` output.
const DIRECTIVE_NO_SPACE: u8 = 2;
const DIRECTIVE_NO_FILE: u8 = 4;

/// A plugin's command line: clap's parser, with the shared flags flattened in.
pub trait Command: clap::Parser {
    /// The shared flags, which only this crate reads ([`CommonFlags::resolve`]).
    fn common(&self) -> &CommonFlags;
}

/// Implements [`Command`] for a plugin's clap struct whose shared flags are its `common` field:
/// `kubectl_flux_cli::command!(Args);`.
#[macro_export]
macro_rules! command {
    ($args:ty) => {
        impl $crate::Command for $args {
            fn common(&self) -> &$crate::CommonFlags {
                &self.common
            }
        }
    };
}

/// The entry point of every plugin binary: answers kubectl's plugin completion protocol
/// (`kubectl_complete-flux_<name>` runs `kubectl-flux_<name> __complete ARGS... WORD`, kubectl
/// 1.26 and later), else parses the command line, prints a completion script when asked
/// (`--completion SHELL`), resolves the shared flags once and runs the plugin.
pub fn main<A: Command>(
    plugin: &str,
    formats: &[kubectl_flux_output::Format],
    run_plugin: impl FnOnce(A, Resolved) -> kubectl_flux_model::Result<u8>,
) -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("__complete") {
        let mut out = std::io::stdout().lock();
        let (words, directive) = complete(&A::command(), formats, &argv[2..]);
        for w in words {
            let _ = writeln!(out, "{w}");
        }
        let _ = writeln!(out, ":{directive}");
        return ExitCode::SUCCESS;
    }
    kubectl_flux_model::snapshot::leave_to_exit();
    run(plugin, || {
        let mut cmd = command::<A>(argv.first().map(String::as_str).unwrap_or_default());
        let args = A::from_arg_matches_mut(&mut cmd.clone().get_matches())
            .map_err(|e| e.format(&mut cmd))
            .unwrap_or_else(|e| e.exit());
        if let Some(shell) = args.common().completion {
            return print_completion(shell, cmd);
        }
        let resolved = args.common().resolve(formats)?;
        run_plugin(args, resolved)
    })
}

/// A plugin's clap command as the user started it: `--version` names the version, the commit
/// and the target (`kubectl-flux_lineage 0.1.0 (commit abc1234, x86_64-unknown-linux-gnu)`;
/// commit `unknown` when built from sources without git), and when the program runs as
/// `flux-<name>` (a Flux CLI plugin: `flux lineage` executes `$FLUXCD_PLUGINS/flux-lineage`),
/// help, usage and errors name `flux <name>` instead of `kubectl flux-<name>`.
pub fn command<A: Command>(argv0: &str) -> clap::Command {
    named(A::command(), argv0)
}

/// [`command`] for any clap command (flux-mcp's has none of the shared flags).
pub fn named(cmd: clap::Command, argv0: &str) -> clap::Command {
    let version = format!(
        "{} (commit {}, {})",
        cmd.get_version().unwrap_or_default(),
        env!("KUBECTL_FLUX_COMMIT"),
        env!("KUBECTL_FLUX_TARGET")
    );
    let cmd = cmd.version(version);
    match flux_command_name(argv0) {
        Some(typed) => renamed(cmd, &typed),
        None => cmd,
    }
}

/// `flux <name>` when the program file is `flux-<name>` (`flux-<name>.exe` on Windows): how the
/// Flux CLI runs a plugin (flux2 internal/plugin: discovery of `flux-*` executables, then
/// exec of that path). Any other name is kubectl's (`kubectl-flux_<name>`).
pub fn flux_command_name(argv0: &str) -> Option<String> {
    let file = argv0.rsplit(['/', '\\']).next()?;
    let file = file.strip_suffix(".exe").or_else(|| file.strip_suffix(".EXE")).unwrap_or(file);
    let name = file.strip_prefix("flux-").filter(|n| !n.is_empty())?;
    Some(format!("flux {name}"))
}

/// The command with `kubectl flux-<name>` replaced by `typed` in its usage and every help text.
fn renamed(cmd: clap::Command, typed: &str) -> clap::Command {
    let Some(kubectl) = cmd.get_bin_name().map(str::to_string) else {
        return cmd.bin_name(typed);
    };
    let swap = |s: &StyledStr| StyledStr::from(s.to_string().replace(&kubectl, typed));
    rewrite(cmd, &swap).bin_name(typed)
}

fn rewrite(mut cmd: clap::Command, swap: &dyn Fn(&StyledStr) -> StyledStr) -> clap::Command {
    if let Some(t) = cmd.get_about().map(swap) {
        cmd = cmd.about(t);
    }
    if let Some(t) = cmd.get_long_about().map(swap) {
        cmd = cmd.long_about(t);
    }
    if let Some(t) = cmd.get_before_help().map(swap) {
        cmd = cmd.before_help(t);
    }
    if let Some(t) = cmd.get_before_long_help().map(swap) {
        cmd = cmd.before_long_help(t);
    }
    if let Some(t) = cmd.get_after_help().map(swap) {
        cmd = cmd.after_help(t);
    }
    if let Some(t) = cmd.get_after_long_help().map(swap) {
        cmd = cmd.after_long_help(t);
    }
    cmd.mut_args(|mut a| {
        if let Some(t) = a.get_help().map(swap) {
            a = a.help(t);
        }
        if let Some(t) = a.get_long_help().map(swap) {
            a = a.long_help(t);
        }
        a
    })
    .mut_subcommands(|sc| rewrite(sc, swap))
}

/// Completion candidates for the last word of `args`, and the Cobra directive.
pub fn complete(cmd: &clap::Command, formats: &[kubectl_flux_output::Format], args: &[String]) -> (Vec<String>, u8) {
    let word = args.last().map(String::as_str).unwrap_or("");
    let prev = if args.len() >= 2 { args[args.len() - 2].as_str() } else { "" };
    let flag = |name: &str| {
        cmd.get_arguments().find(|a| {
            a.get_long().is_some_and(|l| format!("--{l}") == name)
                || a.get_short().is_some_and(|s| format!("-{s}") == name)
        })
    };
    if let Some(arg) = flag(prev).filter(|a| a.get_action().takes_values()) {
        let values: Vec<String> = if arg.get_id() == "output" {
            formats.iter().map(|f| f.word().to_string()).collect()
        } else {
            arg.get_possible_values().iter().map(|v| v.get_name().to_string()).collect()
        };
        let is_path = matches!(arg.get_id().as_str(), "filenames" | "kubeconfig" | "certificate_authority");
        let directive = if is_path { 0 } else { DIRECTIVE_NO_FILE };
        return (values.into_iter().filter(|v| v.starts_with(word)).collect(), directive);
    }
    if word.starts_with('-') {
        let mut words: Vec<String> = cmd
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .filter(|l| l.starts_with(word))
            .collect();
        words.sort();
        return (words, DIRECTIVE_NO_FILE);
    }
    if cmd.get_positionals().next().is_some() && !word.contains('/') {
        let mut words: Vec<String> = kubectl_flux_model::kinds::all()
            .flat_map(|k| k.short.iter().copied().chain([k.plural]))
            .filter(|w| w.starts_with(word))
            .map(|w| format!("{w}/"))
            .collect();
        words.sort();
        words.dedup();
        return (words, DIRECTIVE_NO_FILE | DIRECTIVE_NO_SPACE);
    }
    (Vec::new(), DIRECTIVE_NO_FILE)
}
