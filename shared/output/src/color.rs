//! Colour: always, never, or only on a terminal without `NO_COLOR` (auto), as `--color` says.

use kubectl_flux_model::state::State;
use owo_colors::OwoColorize;
use std::io::IsTerminal;

/// Lets the console interpret the escape codes colours are made of.
// cfg(windows): a Windows console prints escape codes as text until its virtual terminal
// processing is on. Best effort: where it cannot be switched on (mintty, output redirected)
// escape codes already work or go to a file as they do elsewhere.
#[cfg(windows)]
fn enable_escape_codes() {
    let _ = anstyle_query::windows::enable_ansi_colors();
}

/// Nothing to do: unix terminals interpret escape codes.
// cfg(not(windows)): see above.
#[cfg(not(windows))]
fn enable_escape_codes() {}

/// Paints text, or leaves it plain when colour is off.
#[derive(Debug, Clone, Copy)]
pub struct Palette {
    on: bool,
}

impl Palette {
    /// A palette that always colours (`--color always`).
    pub fn colored() -> Self {
        enable_escape_codes();
        Palette { on: true }
    }

    /// Colours when stdout is a terminal and `NO_COLOR` is unset (`--color auto`).
    pub fn auto() -> Self {
        let on = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal();
        if on {
            enable_escape_codes();
        }
        Palette { on }
    }

    /// A palette that never colours.
    pub fn plain() -> Self {
        Palette { on: false }
    }

    /// Colours text by the state it describes: red for failed/missing, yellow for progressing,
    /// blue for suspended, green for ready.
    pub fn state(self, state: State, text: &str) -> String {
        if !self.on {
            return text.to_string();
        }
        match state {
            State::Ready => text.green().to_string(),
            State::Failed | State::Missing => text.red().bold().to_string(),
            State::Progressing => text.yellow().to_string(),
            State::Suspended => text.blue().to_string(),
            State::Unknown => text.dimmed().to_string(),
        }
    }

    /// Bold text (headings).
    pub fn bold(self, text: &str) -> String {
        if self.on { text.bold().to_string() } else { text.to_string() }
    }

    /// Dimmed text (relations, hints).
    pub fn dim(self, text: &str) -> String {
        if self.on { text.dimmed().to_string() } else { text.to_string() }
    }
}
