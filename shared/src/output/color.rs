//! Colour: `--color auto|always|never`, `NO_COLOR`, and only on a terminal in auto mode.

use crate::health::State;
use owo_colors::OwoColorize;
use std::io::IsTerminal;

/// The `--color` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Paints text, or leaves it plain when colour is off.
#[derive(Debug, Clone, Copy)]
pub struct Palette {
    on: bool,
}

impl Palette {
    /// Decides once whether to colour stdout.
    pub fn new(choice: ColorChoice) -> Self {
        let on = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
            }
        };
        Palette { on }
    }

    /// A palette that never colours.
    pub fn plain() -> Self {
        Palette { on: false }
    }

    /// Whether colour is on.
    pub fn enabled(self) -> bool {
        self.on
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
