//! One controller pod's Prometheus endpoint, parsed (the text exposition format, with the
//! prometheus-parse crate) into the series flux-controllers reads: counters and gauges by
//! labels, histograms with their buckets, count and sum, and quantiles as Prometheus'
//! `histogram_quantile` computes them. Hostile text is refused or read in part, never a panic:
//! text that is not UTF-8 is refused, values that are not finite are dropped, a series given
//! twice keeps its last value.

use std::collections::BTreeMap;

/// The largest scrape read (a controller's endpoint is a few hundred KiB; 10,000 objects'
/// `gotk_reconcile_duration_seconds` histograms make a few MiB).
pub const MAX_SCRAPE_BYTES: usize = 64 << 20;

/// A series' labels, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// One histogram: cumulative bucket counts by upper bound, total count and sum.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// `(le, cumulative count)`, by `le`, `+Inf` last.
    pub buckets: Vec<(f64, f64)>,
    /// Observations (`_count`, else the `+Inf` bucket).
    pub count: f64,
    /// Sum of the observations (`_sum`).
    pub sum: f64,
}

impl Histogram {
    /// The `q` quantile (0..=1) as Prometheus' `histogram_quantile` estimates it: linear within
    /// the bucket that holds it; the highest finite bound when it falls in `+Inf`. `None`
    /// without observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.buckets.last().map(|(_, c)| *c).filter(|c| *c > 0.0)?;
        let rank = q.clamp(0.0, 1.0) * total;
        let mut lower = (0.0, 0.0);
        for &(le, count) in &self.buckets {
            if count >= rank {
                if le.is_infinite() {
                    return Some(lower.0);
                }
                if count == lower.1 {
                    return Some(le);
                }
                return Some(lower.0 + (le - lower.0) * (rank - lower.1) / (count - lower.1));
            }
            lower = (le, count);
        }
        Some(lower.0)
    }

    /// The mean observation, `None` without observations.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0.0).then(|| self.sum / self.count)
    }

    /// What was observed since `earlier` (a scrape of the same process).
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        let before = |le: f64| earlier.buckets.iter().find(|(l, _)| *l == le).map_or(0.0, |(_, c)| *c);
        Histogram {
            buckets: self.buckets.iter().map(|&(le, c)| (le, (c - before(le)).max(0.0))).collect(),
            count: (self.count - earlier.count).max(0.0),
            sum: (self.sum - earlier.sum).max(0.0),
        }
    }

    /// This histogram and `other` added (several series of one metric).
    fn add(&mut self, other: &Histogram) {
        for &(le, c) in &other.buckets {
            match self.buckets.iter_mut().find(|(l, _)| *l == le) {
                Some((_, count)) => *count += c,
                None => self.buckets.push((le, c)),
            }
        }
        self.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        self.count += other.count;
        self.sum += other.sum;
    }
}

/// One scrape of one process.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    /// Counters, gauges and untyped samples: metric -> labels -> value.
    values: BTreeMap<String, BTreeMap<Labels, f64>>,
    /// Histograms: metric -> labels (without `le`) -> histogram.
    histograms: BTreeMap<String, BTreeMap<Labels, Histogram>>,
    /// What was dropped while reading, in words (non-finite values).
    pub dropped: Vec<String>,
}

impl Scrape {
    /// Parses a scrape; `name` (the pod or file) names it in errors.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Scrape, String> {
        if bytes.len() > MAX_SCRAPE_BYTES {
            return Err(format!(
                "{name}: {} bytes of metrics, more than the {} MiB read",
                bytes.len(),
                MAX_SCRAPE_BYTES >> 20
            ));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|e| format!("{name}: not Prometheus text: invalid UTF-8 at byte {}", e.valid_up_to()))?;
        if !text.lines().any(|l| l.starts_with('#') || l.split_whitespace().count() >= 2) {
            return Err(format!("{name}: not Prometheus text: no metric in it"));
        }
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let parsed = prometheus_parse::Scrape::parse(lines).map_err(|e| format!("{name}: {e}"))?;
        let mut scrape = Scrape::default();
        let mut non_finite = 0usize;
        for sample in parsed.samples {
            let labels: Labels = sample.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            match sample.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => {
                    if !v.is_finite() {
                        non_finite += 1;
                        continue;
                    }
                    // A series given twice keeps its last value.
                    scrape.values.entry(sample.metric).or_default().insert(labels, v);
                }
                prometheus_parse::Value::Histogram(buckets) => {
                    let mut h = Histogram::default();
                    for b in buckets {
                        if b.count.is_nan() || b.less_than.is_nan() {
                            non_finite += 1;
                            continue;
                        }
                        match h.buckets.iter_mut().find(|(le, _)| *le == b.less_than) {
                            Some((_, count)) => *count = b.count,
                            None => h.buckets.push((b.less_than, b.count)),
                        }
                    }
                    h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                    scrape.histograms.entry(sample.metric).or_default().insert(labels, h);
                }
                prometheus_parse::Value::Summary(_) => {}
            }
        }
        // `_count` and `_sum` of each histogram, read as plain samples.
        for (metric, series) in &mut scrape.histograms {
            for (labels, h) in series.iter_mut() {
                let get =
                    |suffix: &str| scrape.values.get(&format!("{metric}{suffix}")).and_then(|s| s.get(labels)).copied();
                h.count = get("_count").or_else(|| h.buckets.last().map(|(_, c)| *c)).unwrap_or(0.0);
                h.sum = get("_sum").unwrap_or(0.0);
            }
        }
        if non_finite > 0 {
            scrape
                .dropped
                .push(format!("{name}: {non_finite} samples whose value is not a finite number (NaN, Inf) dropped"));
        }
        Ok(scrape)
    }

    /// Every series of a counter or gauge whose labels include `matching`.
    pub fn series<'a>(
        &'a self,
        metric: &str,
        matching: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = (&'a Labels, f64)> + 'a {
        self.values
            .get(metric)
            .into_iter()
            .flatten()
            .filter(move |(labels, _)| matches(labels, matching))
            .map(|(l, v)| (l, *v))
    }

    /// The sum of a counter's or gauge's series whose labels include `matching`; `None` when
    /// the scrape has no such series.
    pub fn sum(&self, metric: &str, matching: &[(&str, &str)]) -> Option<f64> {
        let mut found = false;
        let total = self.series(metric, matching).fold(0.0, |acc, (_, v)| {
            found = true;
            acc + v
        });
        found.then_some(total)
    }

    /// The histogram of `metric` over every series whose labels include `matching`, added up.
    pub fn histogram(&self, metric: &str, matching: &[(&str, &str)]) -> Option<Histogram> {
        let mut out: Option<Histogram> = None;
        for (_, h) in self.histograms.get(metric).into_iter().flatten().filter(|(l, _)| matches(l, matching)) {
            out.get_or_insert_with(Histogram::default).add(h);
        }
        out
    }

    /// Every series of a histogram, with its labels.
    pub fn histograms(&self, metric: &str) -> impl Iterator<Item = (&Labels, &Histogram)> {
        self.histograms.get(metric).into_iter().flatten()
    }

    /// Whether the scrape has any series of `metric`.
    pub fn has(&self, metric: &str) -> bool {
        self.values.contains_key(metric) || self.histograms.contains_key(metric)
    }
}

fn matches(labels: &Labels, matching: &[(&str, &str)]) -> bool {
    matching.iter().all(|(k, v)| labels.get(*k).is_some_and(|l| l == v))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# HELP controller_runtime_reconcile_total Total number of reconciliations per controller
# TYPE controller_runtime_reconcile_total counter
controller_runtime_reconcile_total{controller=\"kustomization\",result=\"error\"} 3
controller_runtime_reconcile_total{controller=\"kustomization\",result=\"success\"} 97
controller_runtime_reconcile_total{controller=\"kustomization\",result=\"success\"} 99
# TYPE workqueue_depth gauge
workqueue_depth{name=\"kustomization\"} 12
workqueue_depth{name=\"other\"} NaN
# TYPE controller_runtime_reconcile_time_seconds histogram
controller_runtime_reconcile_time_seconds_bucket{controller=\"kustomization\",le=\"1\"} 50
controller_runtime_reconcile_time_seconds_bucket{controller=\"kustomization\",le=\"10\"} 90
controller_runtime_reconcile_time_seconds_bucket{controller=\"kustomization\",le=\"+Inf\"} 100
controller_runtime_reconcile_time_seconds_sum{controller=\"kustomization\"} 420
controller_runtime_reconcile_time_seconds_count{controller=\"kustomization\"} 100
";

    #[test]
    fn counters_gauges_and_histograms_are_read_by_labels() {
        let s = Scrape::parse("pod", TEXT.as_bytes()).unwrap();
        // The duplicated series keeps its last value.
        assert_eq!(s.sum("controller_runtime_reconcile_total", &[("controller", "kustomization")]), Some(102.0));
        assert_eq!(s.sum("controller_runtime_reconcile_total", &[("result", "error")]), Some(3.0));
        assert_eq!(s.sum("workqueue_depth", &[]), Some(12.0));
        assert_eq!(s.dropped, ["pod: 1 samples whose value is not a finite number (NaN, Inf) dropped"]);
        let h = s.histogram("controller_runtime_reconcile_time_seconds", &[]).unwrap();
        assert_eq!((h.count, h.sum, h.mean()), (100.0, 420.0, Some(4.2)));
        assert_eq!(h.quantile(0.5), Some(1.0));
        assert_eq!(h.quantile(0.7), Some(5.5));
        // In the +Inf bucket: the highest finite bound, as histogram_quantile says.
        assert_eq!(h.quantile(0.99), Some(10.0));
        assert_eq!(s.sum("absent", &[]), None);
    }

    #[test]
    fn what_happened_between_two_scrapes() {
        let a = Histogram { buckets: vec![(1.0, 10.0), (f64::INFINITY, 10.0)], count: 10.0, sum: 5.0 };
        let b = Histogram { buckets: vec![(1.0, 10.0), (f64::INFINITY, 14.0)], count: 14.0, sum: 805.0 };
        let d = b.since(&a);
        assert_eq!((d.count, d.sum, d.quantile(0.5)), (4.0, 800.0, Some(1.0)));
        assert_eq!(Histogram::default().quantile(0.5), None);
    }

    #[test]
    fn hostile_text_is_refused_with_its_name_or_read_in_part() {
        assert_eq!(
            Scrape::parse("flux-system/source-controller-abc", b"ok 1\n\xff\xfe").unwrap_err(),
            "flux-system/source-controller-abc: not Prometheus text: invalid UTF-8 at byte 5"
        );
        assert!(Scrape::parse("f", b"<html>nope</html>").unwrap_err().contains("no metric in it"));
        let big = vec![b'#'; MAX_SCRAPE_BYTES + 1];
        assert!(Scrape::parse("f", &big).unwrap_err().contains("more than the 64 MiB read"));
        // Cut mid-line: what came before is read.
        let cut = &TEXT[..TEXT.find("workqueue_depth{name=\"kust").unwrap() + 20];
        let s = Scrape::parse("f", cut.as_bytes()).unwrap();
        assert_eq!(s.sum("controller_runtime_reconcile_total", &[]), Some(102.0));
        // +Inf and -Inf gauges are not numbers a controller would report: dropped, said once.
        let s = Scrape::parse("f", b"process_resident_memory_bytes +Inf\nprocess_start_time_seconds -Inf\n").unwrap();
        assert_eq!(s.sum("process_resident_memory_bytes", &[]), None);
        assert_eq!(s.dropped.len(), 1);
    }
}
