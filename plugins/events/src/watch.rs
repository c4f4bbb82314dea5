//! `--watch`: the current timeline, then every new or changed Event as it happens, one table
//! line or one JSON object per line.

use crate::args::Args;
use crate::filter::Filters;
use crate::gather::FLUX_COMPONENTS;
use crate::render::{entry_json, object_words};
use crate::timeline;
use kubectl_flux_cli::{Origin, Resolved};
use kubectl_flux_model::error::{Error, Result};
use kubectl_flux_model::kinds::{self, FLUX_KINDS, is_flux_group};
use kubectl_flux_model::time;
use kubectl_flux_output::Format;
use kubectl_flux_source::live::{self, Change};
use kubectl_flux_source::{Namespaces, Source, Want};
use std::collections::HashMap;
use std::io::Write;

/// `--watch`: the current timeline, then every new or changed Event as it happens, one line (or
/// one JSON object) each. An Event already printed at the same resourceVersion is never printed
/// again, so a resumed or relisted watch repeats nothing.
pub fn run(args: &Args, resolved: &Resolved, filters: &Filters) -> Result<u8> {
    let (format, now) = (resolved.output.format, resolved.now);
    let connection = match &resolved.origin {
        Origin::One(Source::Cluster(connection)) if args.logs_files.is_empty() && !args.logs => connection,
        Origin::Fleet(_) => return Err(Error::usage("--watch follows one cluster's Events, not a fleet's")),
        _ => {
            return Err(Error::usage(
                "--watch follows a cluster's Events; it cannot be combined with -f, --logs or --logs-file",
            ));
        }
    };
    if args.related || args.for_object.is_some() {
        return Err(Error::usage("--watch shows Flux objects' Events; --related and --for are not supported with it"));
    }
    if !matches!(format, Format::Table | Format::Json) || resolved.output.jq.is_some() {
        return Err(Error::usage("--watch prints table lines or, with -o json, one JSON object per line"));
    }
    let source = Source::Cluster(connection.clone());
    let mut wants: Vec<Want> = FLUX_KINDS.iter().map(Want::all).collect();
    if filters.tenant.is_some() {
        wants.push(Want::namespaces());
    }
    let snapshot = kubectl_flux_source::load(&source, &Namespaces::All, &wants)?;
    let event_kind = kinds::find("", "Event").expect("Event is a known kind");
    let mut printed: HashMap<String, String> = HashMap::new();
    let stdout = std::io::stdout();
    let mut failed: Option<std::io::Error> = None;
    live::watch(connection, None, event_kind, |change, obj| {
        if change == Change::Deleted {
            return true;
        }
        let rv = obj.str_at("/metadata/resourceVersion").unwrap_or("").to_string();
        if printed.get(obj.uid()).is_some_and(|seen| *seen == rv) {
            return true;
        }
        printed.insert(obj.uid().to_string(), rv);
        let e = timeline::from_event(&kubectl_flux_model::event::Event::from_object(&obj));
        let flux_object =
            e.object.as_ref().is_some_and(|o| is_flux_group(&o.group)) || FLUX_COMPONENTS.contains(&e.source.as_str());
        let since_ok = change != Change::Listed || filters.keeps(&e, &snapshot, now);
        let live_ok = change == Change::Listed
            || Filters { since: None, ..filters.clone() }.keeps(&e, &snapshot, time::now().unwrap_or(now));
        if !flux_object || !since_ok || !live_ok {
            return true;
        }
        let mut out = stdout.lock();
        let line = match format {
            Format::Json => serde_json::to_string(&entry_json(&e)).map_err(std::io::Error::from),
            _ => Ok(format!(
                "{} {} {} {} {} x{} {}",
                e.last.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_else(|| "-".into()),
                e.kind,
                e.class.word(),
                object_words(&e),
                e.reason,
                e.count,
                e.message.replace('\n', " ")
            )),
        };
        match line.and_then(|l| writeln!(out, "{l}").and_then(|_| out.flush())) {
            Ok(()) => true,
            Err(err) => {
                failed = Some(err);
                false
            }
        }
    })?;
    match failed {
        Some(e) => Err(Error::Output(e)),
        None => Ok(0),
    }
}
