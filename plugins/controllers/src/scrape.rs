//! Getting each controller pod's scrape: live through the API server's pod proxy (every pod at
//! once, twice `--sample` apart for growth), offline from saved files (`--metrics-file`, one
//! per pod, named after it; a pod's file twice, or two directories, for growth).

use crate::controllers::Controller;
use crate::metrics::{MAX_SCRAPE_BYTES, Scrape};
use kubectl_flux_model::error::{Error, Result};
use kubectl_flux_source::live::{self, PodEndpoint, Proxied};
use kubectl_flux_source::{Connection, Source};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The scrapes of one pod: one, or two with the seconds between them.
#[derive(Debug, Clone)]
pub struct Sampled {
    /// The (latest) scrape.
    pub now: Scrape,
    /// An earlier scrape of the same process and how many seconds before `now`.
    pub before: Option<(Scrape, f64)>,
}

/// Every pod's scrapes, by pod name, and notes on what could not be read.
#[derive(Debug, Clone, Default)]
pub struct Scrapes {
    /// By pod.
    pub pods: BTreeMap<String, Sampled>,
    /// What could not be read, and why.
    pub notes: Vec<String>,
}

/// Reads the scrapes the source gives: the pod proxy live, `--metrics-file` offline.
pub fn read(
    source: &Source,
    namespace: &str,
    controllers: &[Controller],
    files: &[PathBuf],
    sample: Option<Duration>,
) -> Result<Scrapes> {
    match source {
        _ if !files.is_empty() => from_files(files, sample),
        Source::Files(paths) if !saved_beside(paths).is_empty() => from_files(&saved_beside(paths), sample),
        Source::Files(_) => Ok(Scrapes {
            notes: vec!["no saved scrapes (--metrics-file): the answer comes from pods and lists alone".to_string()],
            ..Scrapes::default()
        }),
        Source::Cluster(connection) => live(connection, namespace, controllers, sample),
    }
}

/// Scrapes saved beside a snapshot: the `*.prom` files under the directories `-f` names (a
/// cluster's directory of a `--cluster-from-dir` fleet), sorted.
fn saved_beside(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = paths.iter().filter(|p| p.is_dir()).cloned().collect();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "prom") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Every running controller pod's endpoint.
fn endpoints(namespace: &str, controllers: &[Controller]) -> Vec<PodEndpoint> {
    controllers
        .iter()
        .flat_map(|c| &c.pods)
        .filter(|p| p.phase == "Running")
        .map(|p| PodEndpoint {
            namespace: namespace.to_string(),
            pod: p.name.clone(),
            port: p.metrics_port.clone(),
            path: "metrics".to_string(),
        })
        .collect()
}

fn live(
    connection: &Connection,
    namespace: &str,
    controllers: &[Controller],
    sample: Option<Duration>,
) -> Result<Scrapes> {
    let endpoints = endpoints(namespace, controllers);
    let mut out = Scrapes::default();
    if endpoints.is_empty() {
        return Ok(out);
    }
    let first = scrape_all(connection, &endpoints, &mut out.notes)?;
    let (before, at) = match sample {
        Some(d) => {
            std::thread::sleep(d);
            (Some(first), scrape_all(connection, &endpoints, &mut Vec::new())?)
        }
        None => (None, first),
    };
    for (pod, now) in at {
        let before =
            before.as_ref().and_then(|b| b.get(&pod)).cloned().map(|s| (s, sample.map_or(0.0, |d| d.as_secs_f64())));
        out.pods.insert(pod, Sampled { now, before });
    }
    Ok(out)
}

/// One scrape of every endpoint; pods that did not answer are noted once.
fn scrape_all(
    connection: &Connection,
    endpoints: &[PodEndpoint],
    notes: &mut Vec<String>,
) -> Result<BTreeMap<String, Scrape>> {
    let answers = live::read_pods(connection, endpoints, MAX_SCRAPE_BYTES)?;
    let mut out = BTreeMap::new();
    let mut forbidden = None;
    for (e, answer) in endpoints.iter().zip(answers) {
        let name = format!("{}/{}", e.namespace, e.pod);
        match answer {
            Proxied::Body(body) => match Scrape::parse(&name, &body) {
                Ok(s) => {
                    notes.extend(s.dropped.iter().cloned());
                    out.insert(e.pod.clone(), s);
                }
                Err(m) => notes.push(format!("metrics of {m}")),
            },
            // RBAC says who may not; other refusals (a pod address the API server will not
            // proxy to) are about the pod.
            Proxied::Forbidden(m) if m.contains("cannot get resource") => forbidden = Some(m),
            Proxied::Forbidden(m) => {
                notes.push(format!("metrics of pod {name} not read: the API server refused to proxy: {m}"))
            }
            Proxied::Failed(m) => notes.push(format!("metrics of pod {name} not read: {m}")),
        }
    }
    if let Some(m) = forbidden {
        notes.push(format!(
            "forbidden to read the controllers' metrics through the pod proxy ({m}); the answer comes from pods and lists alone: grant get on pods/proxy in {}",
            endpoints[0].namespace
        ));
    }
    Ok(out)
}

/// The files `--metrics-file` names, directories expanded (sorted), each with the pod it is of
/// and when it was written.
fn files_of(paths: &[PathBuf]) -> Result<Vec<(String, PathBuf, SystemTime)>> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| Error::Read { path: path.clone(), source })?;
        let mut files = Vec::new();
        if meta.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|source| Error::Read { path: path.clone(), source })?;
            for e in entries {
                let e = e.map_err(|source| Error::Read { path: path.clone(), source })?;
                if e.path().is_file() {
                    files.push(e.path());
                }
            }
            files.sort();
        } else {
            files.push(path.clone());
        }
        for f in files {
            let modified = std::fs::metadata(&f).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
            out.push((pod_of(&f), f, modified));
        }
    }
    Ok(out)
}

/// The pod a saved scrape is of: its file name without `.prom`, `.txt` or `.metrics`.
fn pod_of(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    for ext in [".prom", ".txt", ".metrics"] {
        if let Some(stem) = name.strip_suffix(ext) {
            return stem.to_string();
        }
    }
    name
}

fn from_files(paths: &[PathBuf], sample: Option<Duration>) -> Result<Scrapes> {
    let mut by_pod: BTreeMap<String, Vec<(SystemTime, Scrape)>> = BTreeMap::new();
    let mut out = Scrapes::default();
    for (pod, path, modified) in files_of(paths)? {
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if len > MAX_SCRAPE_BYTES as u64 {
            return Err(Error::Malformed {
                file: path.display().to_string(),
                message: format!("{len} bytes of metrics, more than the {} MiB read", MAX_SCRAPE_BYTES >> 20),
            });
        }
        let bytes = std::fs::read(&path).map_err(|source| Error::Read { path: path.clone(), source })?;
        let scrape = Scrape::parse(&path.display().to_string(), &bytes).map_err(|message| Error::Malformed {
            file: path.display().to_string(),
            message: strip_name(&message, &path),
        })?;
        out.notes.extend(scrape.dropped.iter().cloned());
        by_pod.entry(pod).or_default().push((modified, scrape));
    }
    for (pod, mut scrapes) in by_pod {
        // The later of two scrapes of one pod is `now` (more than two: the first and the last),
        // told by the process itself: a later start, else more CPU seconds (a counter only a
        // running process moves). File names and times say nothing reliable (a copy, a clone).
        let when = |s: &Scrape| {
            (
                s.sum("process_start_time_seconds", &[]).unwrap_or(0.0),
                s.sum("process_cpu_seconds_total", &[]).unwrap_or(0.0),
            )
        };
        scrapes.sort_by(|(ta, a), (tb, b)| {
            let (wa, wb) = (when(a), when(b));
            wa.0.total_cmp(&wb.0).then(wa.1.total_cmp(&wb.1)).then(ta.cmp(tb))
        });
        let Some((t1, now)) = scrapes.pop() else { continue };
        let before = scrapes.into_iter().next().map(|(t0, s)| {
            // The time between the files' writes, whichever order a copy left them in.
            let seconds = sample.map(|d| d.as_secs_f64()).unwrap_or_else(|| {
                let (a, b) = if t1 >= t0 { (t0, t1) } else { (t1, t0) };
                b.duration_since(a).map_or(0.0, |d| d.as_secs_f64())
            });
            (s, seconds)
        });
        if before.as_ref().is_some_and(|(_, s)| *s <= 0.0) {
            out.notes.push(format!(
                "the two scrapes of {pod} were saved at the same time: no growth (give --sample with the time between them)"
            ));
        }
        out.pods.insert(pod, Sampled { now, before: before.filter(|(_, s)| *s > 0.0) });
    }
    Ok(out)
}

/// An error message without the file name it starts with (the error names the file itself).
fn strip_name(message: &str, path: &Path) -> String {
    message.strip_prefix(&format!("{}: ", path.display())).unwrap_or(message).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_scrapes_are_named_after_their_pod() {
        assert_eq!(
            pod_of(Path::new("s/kustomize-controller-5d8f7c9b6d-x2k9p.prom")),
            "kustomize-controller-5d8f7c9b6d-x2k9p"
        );
        assert_eq!(pod_of(Path::new("s/source-controller-abc")), "source-controller-abc");
    }

    #[test]
    fn two_sets_of_files_give_growth_over_the_time_between_them() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("p.prom"), "process_cpu_seconds_total 10\nprocess_resident_memory_bytes 1e8\n").unwrap();
        std::fs::write(b.join("p.prom"), "process_cpu_seconds_total 12\nprocess_resident_memory_bytes 2e8\n").unwrap();
        // Given in either order: the process's CPU counter says which came first.
        let s = from_files(&[b.clone(), a.clone()], Some(Duration::from_secs(600))).unwrap();
        let p = &s.pods["p"];
        assert_eq!(p.now.sum("process_resident_memory_bytes", &[]), Some(2e8));
        let (before, seconds) = p.before.as_ref().unwrap();
        assert_eq!((before.sum("process_resident_memory_bytes", &[]), *seconds), (Some(1e8), 600.0));
        std::fs::write(b.join("bad.prom"), b"\xff\xfe").unwrap();
        let err = from_files(&[b], None).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().ends_with("bad.prom: not Prometheus text: invalid UTF-8 at byte 0"), "{err}");
    }
}
