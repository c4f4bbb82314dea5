//! Ports for a cluster's listeners, handed out so that nothing else takes them between the
//! choice and the bind.
//!
//! A port the kernel picks with `bind(0)` lies in its ephemeral range, the one it also gives to
//! outgoing connections. Once the probe socket is closed, a controller's connection to the API
//! server may get that port as its local end and keep it for as long as its watch lasts; the
//! component started on it then fails with "address already in use" on every restart. So ports
//! come from below the ephemeral range, which outgoing connections never use, and in turn from
//! a counter shared by every devcluster process on the machine (a file under a lock): clusters
//! started at once never get the same port, and a port comes back only after thousands of
//! others.

use anyhow::{Context, Result, bail};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::net::TcpListener;
use std::ops::Range;
use std::path::Path;

/// How many ports below the ephemeral range are handed out in turn.
const SPAN: u16 = 12_000;

/// A port free now on 127.0.0.1 and on the machine's own address (pods' processes listen on
/// either), and that no other devcluster will be handed soon.
pub(crate) fn free_port() -> Result<u16> {
    match range() {
        Some(range) => allocate(&std::env::temp_dir().join("devcluster-ports.next"), range),
        // The ephemeral range starts too low to leave room below it: the kernel's choice.
        None => Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()),
    }
}

/// The ports below the kernel's ephemeral range (`ip_local_port_range`), if there is room.
fn range() -> Option<Range<u16>> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let low = text.split_whitespace().next().and_then(|p| p.parse::<u16>().ok()).unwrap_or(32_768);
    let start = low.saturating_sub(SPAN).max(1_024);
    (low.saturating_sub(start) >= 1_000).then_some(start..low)
}

/// The next port of `range` after the one recorded in `state` that can be bound now; records it.
fn allocate(state: &Path, range: Range<u16>) -> Result<u16> {
    let mut file: File = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(state)
        .with_context(|| format!("opening {}", state.display()))?;
    // Released when the file is closed, on return.
    file.lock().with_context(|| format!("locking {}", state.display()))?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    let last = text.trim().parse::<u16>().ok().filter(|p| range.contains(p));
    // Without a record, processes start at different places of the range.
    let span = u32::from(range.end - range.start);
    let mut port = last.unwrap_or(range.start + (std::process::id() % span) as u16);
    for _ in 0..range.len() {
        port = if port + 1 >= range.end { range.start } else { port + 1 };
        if bindable(port) {
            file.set_len(0)?;
            file.rewind()?;
            file.write_all(port.to_string().as_bytes())?;
            return Ok(port);
        }
    }
    bail!("no free port on 127.0.0.1 in {}..{}", range.start, range.end)
}

/// Whether `port` can be bound on 127.0.0.1 and on the machine's own address, if it has one.
fn bindable(port: u16) -> bool {
    let node = crate::netaddr::node_address().ok();
    TcpListener::bind(("127.0.0.1", port)).is_ok() && node.is_none_or(|ip| TcpListener::bind((ip, port)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_handed_out_in_turn_skipping_those_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("next");
        let range = range().expect("room below the ephemeral range");
        let first = allocate(&state, range.clone()).unwrap();
        assert!(range.contains(&first));
        // A port someone listens on is passed over.
        let mut held = first;
        let holder = loop {
            held = if held + 1 >= range.end { range.start } else { held + 1 };
            if let Ok(l) = TcpListener::bind(("127.0.0.1", held)) {
                break l;
            }
        };
        let next = allocate(&state, range.clone()).unwrap();
        assert_ne!(next, held, "a port in use was handed out");
        assert_ne!(next, first, "a port was handed out twice in a row");
        drop(holder);
        // The record survives the process: another "process" continues after it.
        assert_eq!(std::fs::read_to_string(&state).unwrap(), next.to_string());
        // The range wraps around.
        std::fs::write(&state, (range.end - 1).to_string()).unwrap();
        let wrapped = allocate(&state, range.clone()).unwrap();
        assert!(wrapped < range.start + 100, "{wrapped} did not wrap to the start of {range:?}");
    }

    #[test]
    fn the_range_lies_below_the_ephemeral_one() {
        let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
        let low: u16 = text.split_whitespace().next().unwrap().parse().unwrap();
        let range = range().unwrap();
        assert_eq!(range.end, low);
        assert!(range.start >= 1_024);
        assert!(free_port().unwrap() < low);
    }
}
