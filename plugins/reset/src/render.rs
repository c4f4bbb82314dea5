//! How a reset ends: the verification's checks and findings as lines (`-o table`), or one
//! `ResetReport` document (json/yaml) with every line the steps said, the checks, failures and
//! findings.

use crate::error::Result;
use crate::log::Log;
use crate::steps::Verification;
use kubectl_flux_cli::Resolved;
use serde_json::json;
use std::path::Path;

/// Prints the verification (tables print as they go; json/yaml print one `ResetReport`).
pub fn finish(resolved: &Resolved, log: &mut Log, v: Option<&Verification>, dir: Option<&Path>) -> Result<u8> {
    if let Some(v) = v {
        for (name, ok, detail) in &v.checks {
            log.say("verify", format!("{} {name}: {detail}", if *ok { "ok    " } else { "FAILED" }));
        }
        for f in &v.findings {
            log.say("finding", f.clone());
        }
    }
    if resolved.output.is_document() || log.keep_report {
        let mut fields = serde_json::Map::new();
        if let Some(d) = dir {
            fields.insert("dir".into(), json!(d.display().to_string()));
        }
        fields.insert(
            "log".into(),
            json!(log.lines.iter().map(|(s, t)| json!({"step": s, "message": t})).collect::<Vec<_>>()),
        );
        if let Some(v) = v {
            fields.insert(
                "checks".into(),
                json!(v.checks.iter().map(|(n, ok, d)| json!({"check": n, "ok": ok, "detail": d})).collect::<Vec<_>>()),
            );
            fields.insert("failures".into(), json!(v.failures));
            fields.insert("findings".into(), json!(v.findings));
        }
        let doc = kubectl_flux_output::envelope("ResetReport", fields);
        if log.keep_report {
            log.report = Some(doc);
        } else {
            let mut out = std::io::stdout().lock();
            resolved.output.write_document(&mut out, &doc)?;
        }
    }
    Ok(0)
}
