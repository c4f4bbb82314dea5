//! The flags, resolved once into plain decisions (ripgrep's low args -> high args): where the
//! objects come from (files, one cluster, a fleet), which namespaces and labels the user means,
//! how to print, and the clock. Nothing below the command line reads a flag again.

use crate::flags::{ColorChoice, CommonFlags};
use chrono::{DateTime, Utc};
use kubectl_flux_model::error::{Error, Result};
use kubectl_flux_model::selector::Selector;
use kubectl_flux_output::color::Palette;
use kubectl_flux_output::{Format, Output};
use kubectl_flux_source::{Connection, Namespaces, Source, WatchCache};
use std::path::PathBuf;
use std::time::Duration;

/// Everything a plugin needs from the shared flags, decided once.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Where the objects come from.
    pub origin: Origin,
    /// Which namespaces and objects the user means.
    pub scope: Scope,
    /// How the answer is printed.
    pub output: Output,
    /// "Now": the clock, or `KUBECTL_FLUX_NOW` (golden outputs, reproductions).
    pub now: DateTime<Utc>,
    /// `--request-timeout`: how long one request may take (to a cluster, or to GitHub).
    pub request_timeout: Duration,
}

impl Resolved {
    /// Answers every cluster read of this resolution from `cache`'s watch-backed lists (a
    /// server that answers many questions: `kubectl flux-mcp --watch-cache`); files stay files.
    pub fn read_through(&mut self, cache: &WatchCache) {
        let sources: Vec<&mut Source> = match &mut self.origin {
            Origin::One(source) => vec![source],
            Origin::Fleet(fleet) => fleet.members.iter_mut().map(|m| &mut m.source).collect(),
        };
        for source in sources {
            if let Source::Cluster(connection) = source {
                connection.watch_cache = Some(cache.clone());
            }
        }
    }
}

/// Where the objects come from: one source, or a fleet of them.
// One per command: its size does not matter, and unboxed it matches plainly.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Origin {
    /// One cluster, or snapshot files.
    One(Source),
    /// Many clusters at once: several `--context`, `--all-contexts` or `--cluster-from-dir`.
    Fleet(Fleet),
}

/// The clusters of a fleet and how many are asked at once.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// The clusters, in the order the user named them.
    pub members: Vec<Member>,
    /// How many are asked at once (`--parallel`, else the default for the fleet's kind).
    pub parallel: usize,
}

/// One cluster of a fleet.
#[derive(Debug, Clone)]
pub struct Member {
    /// The context name, or the snapshot directory's name.
    pub name: String,
    /// Where its objects come from.
    pub source: Source,
}

/// Which namespaces and objects the user means (`-n`, `-A`, `-l`).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// `-n`.
    pub namespace: Option<String>,
    /// `-A`.
    pub all_namespaces: bool,
    /// `-l`, parsed.
    pub selector: Option<Selector>,
}

impl Scope {
    /// The namespaces as kubectl would read them: every one with `-A`, else `-n`, else the
    /// context's.
    pub fn namespaces(&self) -> Namespaces {
        match (&self.namespace, self.all_namespaces) {
            (_, true) => Namespaces::All,
            (Some(ns), false) => Namespaces::One(ns.clone()),
            (None, false) => Namespaces::Context,
        }
    }

    /// Every namespace unless `-n` names one: plugins whose question is about the whole
    /// cluster (tenants, budgets) read it whole by default.
    pub fn namespaces_or_all(&self) -> Namespaces {
        match (&self.namespace, self.all_namespaces) {
            (Some(ns), false) => Namespaces::One(ns.clone()),
            _ => Namespaces::All,
        }
    }

    /// Whether an object in `namespace` is in the scope the user gave (no `-n`: every one).
    pub fn holds_namespace(&self, namespace: &str) -> bool {
        self.all_namespaces || self.namespace.as_deref().is_none_or(|n| n == namespace)
    }
}

/// Clusters asked at once unless `--parallel` says: asking a cluster is mostly waiting for its
/// API server, so many at once (a fleet of 50 answers in about the time of its slowest member);
/// reading snapshot directories is CPU work, so one per CPU.
pub const DEFAULT_PARALLEL_CLUSTERS: usize = 64;

impl CommonFlags {
    /// Resolves the shared flags for a plugin printing `formats` (its default first).
    pub fn resolve(&self, formats: &[Format]) -> Result<Resolved> {
        let output = self.resolve_output(formats)?;
        let now = kubectl_flux_model::time::now().map_err(Error::usage)?;
        let selector = self.scope.selector.as_deref().map(Selector::parse).transpose().map_err(Error::usage)?;
        let scope =
            Scope { namespace: self.scope.namespace.clone(), all_namespaces: self.scope.all_namespaces, selector };
        Ok(Resolved {
            origin: self.resolve_origin()?,
            scope,
            output,
            now,
            request_timeout: self.connection.request_timeout,
        })
    }

    /// `-o` together with `--jq`, the same way in every plugin: `--jq` alone means JSON, and
    /// `--jq` with a format that is not JSON or YAML is a usage error.
    fn resolve_output(&self, formats: &[Format]) -> Result<Output> {
        let flags = &self.output;
        let format = match (flags.output.as_deref(), &flags.jq) {
            (None, Some(_)) => Format::Json,
            (word, _) => Format::resolve(word, formats)?,
        };
        if flags.jq.is_some() && !matches!(format, Format::Json | Format::Yaml) {
            return Err(Error::usage(format!("--jq filters JSON; it cannot be combined with -o {}", format.word())));
        }
        let palette = match flags.color {
            ColorChoice::Always => Palette::colored(),
            ColorChoice::Never => Palette::plain(),
            ColorChoice::Auto => Palette::auto(),
        };
        Ok(Output { format, jq: flags.jq.clone(), palette, headers: !flags.no_headers, inline_notes: false })
    }

    /// The one place that decides files, cluster or fleet.
    fn resolve_origin(&self) -> Result<Origin> {
        let fleet = &self.fleet;
        let contexts = &self.connection.context;
        let files = &self.input.filenames;
        if !fleet.cluster_from_dir.is_empty() {
            if !contexts.is_empty() || fleet.all_contexts.is_some() || !files.is_empty() {
                return Err(Error::usage(
                    "--cluster-from-dir reads snapshots: do not combine it with --context, --all-contexts or -f",
                ));
            }
            let mut members: Vec<Member> = Vec::new();
            for spec in &fleet.cluster_from_dir {
                let (name, dir) = match spec.split_once('=') {
                    Some((name, dir)) if !name.is_empty() => (name.to_string(), PathBuf::from(dir)),
                    _ => {
                        let dir = PathBuf::from(spec);
                        let name =
                            dir.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| spec.clone());
                        (name, dir)
                    }
                };
                if members.iter().any(|m| m.name == name) {
                    return Err(Error::usage(format!(
                        "--cluster-from-dir: two clusters are named {name:?}; use NAME=DIR"
                    )));
                }
                members.push(Member { name, source: Source::Files(vec![dir]) });
            }
            let parallel = self.parallel(std::thread::available_parallelism().map_or(1, |n| n.get()));
            return Ok(Origin::Fleet(Fleet { members, parallel }));
        }
        if contexts.len() <= 1 && fleet.all_contexts.is_none() {
            return Ok(Origin::One(match files.is_empty() {
                true => Source::Cluster(self.connection(contexts.last().cloned())),
                false => Source::Files(files.clone()),
            }));
        }
        if !files.is_empty() {
            return Err(Error::usage(
                "-f reads snapshot files, not clusters; use --cluster-from-dir for an offline fleet",
            ));
        }
        let mut names: Vec<String> = contexts.clone();
        if let Some(glob) = &fleet.all_contexts {
            let kubeconfig = kubectl_flux_source::live::kubeconfig(&self.connection(None))?
                .ok_or_else(|| Error::Kubeconfig("--all-contexts: no kubeconfig found".into()))?;
            let matching: Vec<String> =
                kubeconfig.contexts.iter().map(|c| c.name.clone()).filter(|n| glob_matches(glob, n)).collect();
            if matching.is_empty() {
                return Err(Error::usage(format!("--all-contexts: no context of the kubeconfig matches {glob:?}")));
            }
            names.extend(matching);
        }
        let mut seen = std::collections::HashSet::new();
        names.retain(|n| seen.insert(n.clone()));
        let members = names
            .into_iter()
            .map(|name| Member { source: Source::Cluster(self.connection(Some(name.clone()))), name })
            .collect();
        Ok(Origin::Fleet(Fleet { members, parallel: self.parallel(DEFAULT_PARALLEL_CLUSTERS) }))
    }

    /// `--parallel`, else `default`.
    fn parallel(&self, default: usize) -> usize {
        self.fleet.parallel.map_or(default, usize::from)
    }

    /// The connection flags for one context.
    fn connection(&self, context: Option<String>) -> Connection {
        let c = &self.connection;
        Connection {
            kubeconfig: c.kubeconfig.clone(),
            context,
            cluster: c.cluster.clone(),
            user: c.user.clone(),
            server: c.server.clone(),
            token: c.token.clone(),
            certificate_authority: c.certificate_authority.clone(),
            insecure_skip_tls_verify: c.insecure_skip_tls_verify,
            as_user: c.as_user.clone(),
            as_groups: c.as_groups.clone(),
            request_timeout: c.request_timeout,
            watch_cache: None,
        }
    }
}

/// `*` any run of characters, `?` one character; the rest literal.
fn glob_matches(glob: &str, name: &str) -> bool {
    let pattern: String = glob
        .chars()
        .map(|c| match c {
            '*' => ".*".to_string(),
            '?' => ".".to_string(),
            c => regex::escape(&c.to_string()),
        })
        .collect();
    regex::Regex::new(&format!("^{pattern}$")).is_ok_and(|r| r.is_match(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        common: CommonFlags,
    }

    fn resolve(args: &[&str]) -> Result<Resolved> {
        let cmd = Cmd::try_parse_from(std::iter::once("cmd").chain(args.iter().copied())).unwrap();
        cmd.common.resolve(&[Format::Table, Format::Json, Format::Yaml])
    }

    #[test]
    fn globs_match_whole_context_names() {
        assert!(glob_matches("prod-*", "prod-eu-1"));
        assert!(!glob_matches("prod-*", "staging-prod-1"));
        assert!(glob_matches("*", "anything"));
        assert!(glob_matches("dev-?", "dev-a"));
        assert!(!glob_matches("dev-?", "dev-ab"));
        assert!(glob_matches("a.b", "a.b") && !glob_matches("a.b", "axb"));
    }

    #[test]
    fn files_a_cluster_or_a_fleet_is_decided_once() {
        let r = resolve(&["-f", "a.yaml", "-f", "b"]).unwrap();
        assert!(
            matches!(r.origin, Origin::One(Source::Files(f)) if f == [PathBuf::from("a.yaml"), PathBuf::from("b")])
        );
        let r = resolve(&["--context", "prod", "--request-timeout", "5s"]).unwrap();
        let Origin::One(Source::Cluster(c)) = r.origin else { panic!("one cluster") };
        assert_eq!((c.context.as_deref(), c.request_timeout), (Some("prod"), Duration::from_secs(5)));
        let r = resolve(&["--context", "a", "--context", "b", "--context", "a"]).unwrap();
        let Origin::Fleet(fleet) = r.origin else { panic!("a fleet") };
        let names: Vec<&str> = fleet.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!((names, fleet.parallel), (vec!["a", "b"], DEFAULT_PARALLEL_CLUSTERS));
        let Source::Cluster(b) = &fleet.members[1].source else { panic!("a cluster") };
        assert_eq!(b.context.as_deref(), Some("b"));
    }

    #[test]
    fn snapshot_fleets_are_read_one_per_cpu_and_named_after_their_directory() {
        let r = resolve(&["--cluster-from-dir", "snapshots/prod-eu", "--cluster-from-dir", "dev=x"]).unwrap();
        let Origin::Fleet(fleet) = r.origin else { panic!("a fleet") };
        assert_eq!(fleet.parallel, std::thread::available_parallelism().unwrap().get());
        let names: Vec<&str> = fleet.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["prod-eu", "dev"]);
        assert_eq!(fleet.members[1].source, Source::Files(vec![PathBuf::from("x")]));
        let r = resolve(&["--cluster-from-dir", "a", "--parallel", "3"]).unwrap();
        assert!(matches!(r.origin, Origin::Fleet(Fleet { parallel: 3, .. })));
        for bad in [
            &["--cluster-from-dir", "a", "-f", "b"][..],
            &["--cluster-from-dir", "x/a", "--cluster-from-dir", "y/a"],
            &["--context", "a", "--context", "b", "-f", "c"],
        ] {
            assert_eq!(resolve(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn jq_means_json_and_refuses_text_formats() {
        assert_eq!(resolve(&["--jq", ".kind"]).unwrap().output.format, Format::Json);
        assert_eq!(resolve(&["-o", "yaml", "--jq", ".kind"]).unwrap().output.format, Format::Yaml);
        let err = resolve(&["-o", "table", "--jq", ".kind"]).unwrap_err();
        assert_eq!(err.to_string(), "--jq filters JSON; it cannot be combined with -o table");
        assert!(resolve(&["-o", "dot"]).is_err());
        assert!(!resolve(&["--no-headers"]).unwrap().output.headers);
    }

    #[test]
    fn the_scope_is_what_kubectl_would_read() {
        let r = resolve(&["-n", "apps", "-l", "team=a"]).unwrap();
        assert_eq!(r.scope.namespaces(), Namespaces::One("apps".into()));
        assert_eq!(r.scope.namespaces_or_all(), Namespaces::One("apps".into()));
        assert!(r.scope.holds_namespace("apps") && !r.scope.holds_namespace("shop"));
        let r = resolve(&[]).unwrap();
        assert_eq!((r.scope.namespaces(), r.scope.namespaces_or_all()), (Namespaces::Context, Namespaces::All));
        assert_eq!(resolve(&["-A"]).unwrap().scope.namespaces(), Namespaces::All);
        assert_eq!(resolve(&["-l", "a in (b"]).unwrap_err().exit_code(), 2);
    }
}
