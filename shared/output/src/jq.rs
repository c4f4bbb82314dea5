//! `--jq EXPR`: filters the JSON answer in-process with jaq, like `gh --jq`: strings print raw,
//! everything else as compact JSON, one result per line.

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data, unwrap_valr};
use jaq_json::Val;
use kubectl_flux_model::error::{Error, Result};
use serde_json::Value;
use std::io::Write;

/// Compiles `expr` and runs it on `doc`, writing each result on its own line.
pub fn run(out: &mut dyn Write, expr: &str, doc: &Value) -> Result<()> {
    let program = File { code: expr, path: () };
    let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs());
    let funs = jaq_core::funs().chain(jaq_std::funs()).chain(jaq_json::funs()).chain(jaq_fmts::funs());
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let modules = loader
        .load(&arena, program)
        .map_err(|errs| Error::Jq(format!("cannot parse {expr:?}: {}", describe_load(&errs))))?;
    let filter = Compiler::default().with_funs(funs).compile(modules).map_err(|errs| {
        let names: Vec<String> =
            errs.into_iter().flat_map(|(_, es)| es.into_iter().map(|(name, _)| format!("undefined {name}"))).collect();
        Error::Jq(format!("cannot compile {expr:?}: {}", names.join(", ")))
    })?;
    let input = jaq_json::read::parse_single(serde_json::to_string(doc).map_err(std::io::Error::from)?.as_bytes())
        .map_err(|e| Error::Jq(format!("internal JSON: {e}")))?;
    let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, Vars::new([]));
    for result in filter.id.run((ctx, input)).map(unwrap_valr) {
        let value = result.map_err(|e| Error::Jq(format!("{expr:?}: {e}")))?;
        match &value {
            Val::TStr(s) => writeln!(out, "{}", jaq_json::bstr(&**s))?,
            other => writeln!(out, "{other}")?,
        }
    }
    Ok(())
}

fn describe_load<T: std::fmt::Debug>(errs: &T) -> String {
    // jaq's load errors carry spans of the source; their Debug form names what was expected.
    let text = format!("{errs:?}");
    // By characters: an expression with non-ASCII text must not be cut inside a character
    // (found by fuzzing --jq).
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jq(expr: &str, doc: Value) -> Result<String> {
        let mut out = Vec::new();
        run(&mut out, expr, &doc)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn a_long_error_about_non_ascii_text_is_cut_between_characters() {
        let expr = format!(".a | {}", "é".repeat(400));
        assert!(matches!(jq(&expr, serde_json::json!({})), Err(Error::Jq(_))));
    }

    #[test]
    fn filters_like_gh_jq() {
        let doc = serde_json::json!({"items": [{"name": "a", "n": 1}, {"name": "b", "n": 2}]});
        assert_eq!(jq(".items[].name", doc.clone()).unwrap(), "a\nb\n");
        assert_eq!(jq("[.items[].n] | add", doc.clone()).unwrap(), "3\n");
        assert_eq!(jq(".items[0]", doc.clone()).unwrap(), "{\"name\":\"a\",\"n\":1}\n");
        assert_eq!(jq("[.items[] | select(.n > 1) | .name]", doc.clone()).unwrap(), "[\"b\"]\n");
        assert_eq!(jq(".items[] | [.name, .n] | @tsv", doc.clone()).unwrap(), "a\t1\nb\t2\n");
        assert_eq!(jq(".items[] | [.name, .n] | @csv", doc.clone()).unwrap(), "\"a\",1\n\"b\",2\n");
        assert!(jq(".items[", doc.clone()).unwrap_err().to_string().starts_with("--jq: cannot parse"));
        assert!(jq("nosuchfn", doc.clone()).unwrap_err().to_string().contains("undefined nosuchfn"));
        assert!(jq(".items | keys | .[] | error", doc).is_err());
    }
}
