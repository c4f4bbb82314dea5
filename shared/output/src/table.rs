//! kubectl-like tables (columns separated by three spaces, upper-case headers) and tsv.

use std::io::Write;

/// A table: headers, rows, and which columns only `-o wide` shows.
#[derive(Debug, Default, Clone)]
pub struct Table {
    headers: Vec<&'static str>,
    wide_only: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns; a header ending in `+` is shown only with `-o wide`
    /// (the `+` is dropped).
    pub fn new(headers: &[&'static str]) -> Self {
        Table {
            headers: headers.iter().map(|h| h.trim_end_matches('+')).collect(),
            wide_only: headers.iter().map(|h| h.ends_with('+')).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (cells may carry ANSI colour; widths ignore it).
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len());
        self.rows.push(cells);
    }

    /// Adds a first column holding `value` in every row (fleet mode's CLUSTER).
    pub fn prepend(&mut self, header: &'static str, value: &str) {
        self.headers.insert(0, header);
        self.wide_only.insert(0, false);
        for row in &mut self.rows {
            row.insert(0, value.to_string());
        }
    }

    /// Adds a first column with one value per row.
    pub fn prepend_column(&mut self, header: &'static str, values: Vec<String>) {
        debug_assert_eq!(values.len(), self.rows.len());
        self.headers.insert(0, header);
        self.wide_only.insert(0, false);
        for (row, value) in self.rows.iter_mut().zip(values) {
            row.insert(0, value);
        }
    }

    /// Appends the rows of a table with the same columns.
    pub fn append(&mut self, other: Table) {
        debug_assert_eq!(self.headers, other.headers);
        self.rows.extend(other.rows);
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn columns(&self, wide: bool) -> Vec<usize> {
        (0..self.headers.len()).filter(|&i| wide || !self.wide_only[i]).collect()
    }

    /// Writes aligned columns like kubectl (three spaces between columns).
    pub fn write(&self, out: &mut dyn Write, wide: bool, headers: bool) -> std::io::Result<()> {
        let cols = self.columns(wide);
        let mut tw = tabwriter::TabWriter::new(Vec::new()).padding(3).ansi(true);
        let mut line = |cells: Vec<&str>| -> std::io::Result<()> {
            let clean: Vec<String> = cells.iter().map(|c| c.replace(['\t', '\n'], " ")).collect();
            writeln!(tw, "{}", clean.join("\t"))
        };
        if headers {
            line(cols.iter().map(|&i| self.headers[i]).collect())?;
        }
        for row in &self.rows {
            line(cols.iter().map(|&i| row[i].as_str()).collect())?;
        }
        tw.flush()?;
        let bytes = tw.into_inner().map_err(|e| std::io::Error::other(e.to_string()))?;
        // tabwriter pads the last column too; kubectl does not.
        for l in String::from_utf8_lossy(&bytes).lines() {
            writeln!(out, "{}", l.trim_end())?;
        }
        Ok(())
    }

    /// Writes tab-separated rows with every column (wide included) and no header.
    pub fn write_tsv(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for row in &self.rows {
            let clean: Vec<String> = row.iter().map(|c| strip_ansi(c).replace(['\t', '\n'], " ")).collect();
            writeln!(out, "{}", clean.join("\t"))?;
        }
        Ok(())
    }
}

/// The text without ANSI escape sequences (colour, and anything else a terminal would eat), as
/// anstream strips them: a stray ESC is dropped, not the text after it.
pub fn strip_ansi(text: &str) -> String {
    anstream::adapter::strip_str(text).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_like_kubectl() {
        let mut t = Table::new(&["NAME", "READY", "EXTRA+"]);
        t.row(vec!["web".into(), "\x1b[32mTrue\x1b[0m".into(), "x".into()]);
        t.row(vec!["database".into(), "False".into(), "y".into()]);
        let mut out = Vec::new();
        t.write(&mut out, false, true).unwrap();
        let text = strip_ansi(&String::from_utf8(out).unwrap());
        assert_eq!(text, "NAME       READY\nweb        True\ndatabase   False\n");
        let mut out = Vec::new();
        t.write_tsv(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "web\tTrue\tx\ndatabase\tFalse\ty\n");
    }

    #[test]
    fn a_stray_escape_does_not_swallow_the_text_after_it() {
        // Skipping to the next `m`, as the text once was, lost everything after a stray ESC.
        assert_eq!(strip_ansi("\x1b[1mbold\x1b[0m \x1b7 tail without that letter"), "bold  tail without that letter");
    }
}
