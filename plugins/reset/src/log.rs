//! The lines a reset says as each step completes: printed at once with `-o table`, kept for
//! the `ResetReport` document otherwise.

/// Lines the steps print as they complete (stdout, or collected for -o json).
#[derive(Debug, Default)]
pub struct Log {
    /// Print each line as it comes.
    pub print: bool,
    /// Every line, by step.
    pub lines: Vec<(String, String)>,
    /// Keep the `ResetReport` here instead of printing it (the caller prints it, as
    /// [`crate::reset_confirmed`] does).
    pub keep_report: bool,
    /// The report, when kept.
    pub report: Option<serde_json::Value>,
}

impl Log {
    /// Says what a step did.
    pub fn say(&mut self, step: &str, text: impl Into<String>) {
        let text = text.into();
        if self.print {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = write_line(&mut out, step, &text);
            let _ = out.flush();
        }
        self.lines.push((step.to_string(), text));
    }

    /// Writes every line said so far, as `-o table` prints them while they come.
    pub fn write(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        self.lines.iter().try_for_each(|(step, text)| write_line(out, step, text))
    }
}

/// One line of the log: the step, padded, then what it did.
fn write_line(out: &mut dyn std::io::Write, step: &str, text: &str) -> std::io::Result<()> {
    writeln!(out, "{step:<10} {text}")
}
