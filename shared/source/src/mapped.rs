//! Large snapshot files, mapped rather than copied, and their pages given back as reading
//! passes them. A mapped file's pages count in the process's resident memory for as long as
//! they stay mapped: 205 MB for a 10,000-app snapshot, on top of the objects read from it.
//! Read twice (the Events of an answer come in a second pass), it was the peak. Here the pages
//! a pass has read are dropped from the mapping every few MiB; when read again (an item parsed
//! after the delimiting pass), the kernel maps them again from its page cache.
//! Where there is no madvise (Windows) the file is mapped all the same, and its map stays whole
//! until reading ends.

use memmap2::{Mmap, MmapOptions};
use std::cell::Cell;
use std::fs::File;

/// How far reading goes between two releases.
const RELEASE_EVERY: usize = 4 << 20;

/// A read-only private map of a whole file.
pub(super) struct Mapped(Mmap);

impl Mapped {
    /// Maps the file.
    pub fn open(file: &File) -> std::io::Result<Self> {
        // SAFETY: the map is read-only and private, and only read while the reader holds it. A
        // program writing the file meanwhile could change what is read (then the parse fails
        // or reads what was written) or truncate it (then the process gets SIGBUS), the risk
        // every mapped read carries (ripgrep's too). The gain: a large snapshot is read from
        // the page cache where it is, neither copied nor its pages zeroed first (a 205 MB copy
        // was 40% of flux-ratelimit's time).
        unsafe { MmapOptions::new().map(file) }.map(Mapped)
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Runs `read` with the map's pages released as reading passes them ([`passed`]), on this
    /// thread and on the threads given [`Pages::current`].
    pub fn releasing<T>(&self, read: impl FnOnce() -> T) -> T {
        let pages = Pages { start: self.0.as_ptr() as usize, len: self.0.len() };
        let earlier = CURRENT.replace(Some((pages, 0)));
        // Cleared however `read` ends: a panic unwinds through here before the map is dropped.
        struct Restore(Option<(Pages, usize)>);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT.set(self.0);
            }
        }
        let _restore = Restore(earlier);
        read()
    }
}

/// The address range of a map being read, to release its pages from any thread.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pages {
    start: usize,
    len: usize,
}

thread_local! {
    /// The map this thread is reading, and the offset up to which its pages are released.
    static CURRENT: Cell<Option<(Pages, usize)>> = const { Cell::new(None) };
}

impl Pages {
    /// The map this thread reads under [`Mapped::releasing`], to hand to the threads it starts.
    pub fn current() -> Option<Pages> {
        CURRENT.get().map(|(pages, _)| pages)
    }

    /// The offset of an address in the map.
    pub fn offset(self, at: *const u8) -> Option<usize> {
        (at as usize).checked_sub(self.start).filter(|&o| o <= self.len)
    }

    /// Releases the whole pages from `*done` up to `at` (an address in the map; anything else is
    /// ignored) once they span [`RELEASE_EVERY`] bytes, or at once with `now`; moves `*done`.
    /// An `at` before `*done` starts a new pass there.
    pub fn release(self, at: *const u8, done: &mut usize, now: bool) {
        let Some(offset) = self.offset(at) else { return };
        if offset < *done {
            // A new pass over the text (the delimiting after the UTF-8 check) starts here.
            *done = offset;
            return;
        }
        if !now && offset - *done < RELEASE_EVERY {
            return;
        }
        let page = page_size();
        let from = done.next_multiple_of(page);
        let to = offset / page * page;
        if to > from {
            // SAFETY: [from, to) lies inside a live read-only private file map (`Pages` are made
            // only by `Mapped::releasing`, and handed to threads that end before it returns).
            unsafe { drop_pages(self.start + from, to - from) };
        }
        *done = offset;
    }
}

/// Gives `len` bytes of whole pages at `start` back to the kernel.
///
/// # Safety
/// The range lies inside a live read-only private file map.
// cfg(unix): madvise is POSIX; MADV_DONTNEED drops the pages at once on Linux (a hint on macOS).
#[cfg(unix)]
unsafe fn drop_pages(start: usize, len: usize) {
    // SAFETY: the range lies inside a live read-only private file map (the caller's promise).
    // Its pages were never written, so the kernel maps them again from the file, with the same
    // bytes, when they are next read; a thread reading one meanwhile only faults it in again.
    unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
}

/// Elsewhere (Windows) the map stays whole until it is dropped: its pages are clean and backed
/// by the file, so the system trims them from the working set under memory pressure anyway.
///
/// # Safety
/// None needed (nothing is done); unsafe to match the unix version.
// cfg(not(unix)): no madvise; the mapping itself (memmap2) works there as it does on unix.
#[cfg(not(unix))]
unsafe fn drop_pages(_start: usize, _len: usize) {}

/// Releases what this thread's reading has passed, up to `at`, every [`RELEASE_EVERY`] bytes;
/// does nothing outside [`Mapped::releasing`].
pub(super) fn passed(at: *const u8) {
    if let Some((pages, mut done)) = CURRENT.get() {
        pages.release(at, &mut done, false);
        CURRENT.set(Some((pages, done)));
    }
}

/// The bytes as UTF-8 text, checked a window at a time so that a mapped file's pages are released
/// behind the check; else how many bytes from the start are valid.
pub(super) fn text(bytes: &[u8]) -> Result<&str, usize> {
    let mut at = 0;
    while at < bytes.len() {
        let mut end = (at + RELEASE_EVERY).min(bytes.len());
        // A window ends where a character starts (an invalid run of continuation bytes aside).
        while end > at && end < bytes.len() && bytes[end] & 0xC0 == 0x80 {
            end -= 1;
        }
        if end == at {
            end = (at + RELEASE_EVERY).min(bytes.len());
        }
        std::str::from_utf8(&bytes[at..end]).map_err(|e| at + e.valid_up_to())?;
        passed(bytes[end..].as_ptr());
        at = end;
    }
    // SAFETY: every window was checked, and windows split the bytes between characters: text
    // made of valid UTF-8 pieces is valid UTF-8.
    Ok(unsafe { std::str::from_utf8_unchecked(bytes) })
}

/// The system's page size, what [`drop_pages`] releases whole.
// cfg(unix): sysconf is POSIX.
#[cfg(unix)]
fn page_size() -> usize {
    // SAFETY: sysconf reads a constant of the system.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).ok().filter(|&s| s.is_power_of_two()).unwrap_or(4096)
}

/// Elsewhere only the rounding of a range that [`drop_pages`] ignores: Windows' 4 KiB pages.
// cfg(not(unix)): no sysconf.
#[cfg(not(unix))]
fn page_size() -> usize {
    4096
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The bytes of the map this process has resident (its `Rss` in `/proc/self/smaps`).
    // cfg(linux): /proc/self/smaps, and MADV_DONTNEED that drops pages at once, are Linux's.
    #[cfg(target_os = "linux")]
    fn resident(map: &Mapped) -> usize {
        let start = format!("{:x}-", map.bytes().as_ptr() as usize);
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let entry = smaps.split_once(&format!("\n{start}")).map(|(_, rest)| rest).expect("the map is listed");
        let rss = entry.lines().find_map(|l| l.strip_prefix("Rss:")).expect("with its Rss");
        rss.trim().trim_end_matches("kB").trim().parse::<usize>().unwrap() * 1024
    }

    #[test]
    fn text_is_checked_across_windows_as_a_whole() {
        let mut bytes = "é".repeat(RELEASE_EVERY).into_bytes();
        assert_eq!(text(&bytes).map(str::len), Ok(bytes.len()));
        // A character cut by a window's end is whole in the next one; a broken one is found.
        bytes.insert(0, b'a');
        assert_eq!(text(&bytes).map(str::len), Ok(bytes.len()));
        bytes[RELEASE_EVERY + 1] = 0xFF;
        assert_eq!(text(&bytes), Err(std::str::from_utf8(&bytes).unwrap_err().valid_up_to()));
        let continuation = vec![0x80u8; RELEASE_EVERY + 3];
        assert_eq!(text(&continuation), Err(0));
        assert_eq!(text(b""), Ok(""));
    }

    // cfg(linux): it measures what is resident through `resident`.
    #[cfg(target_os = "linux")]
    #[test]
    fn released_pages_read_back_as_the_file_holds_them() {
        let mut file = tempfile::tempfile().unwrap();
        let text: Vec<u8> = (0..(3 * RELEASE_EVERY)).map(|i| b'a' + (i % 26) as u8).collect();
        file.write_all(&text).unwrap();
        let map = Mapped::open(&file).unwrap();
        map.releasing(|| {
            let bytes = map.bytes();
            let sum: u64 = bytes.iter().map(|&b| u64::from(b)).sum();
            assert!(sum > 0);
            // Every page read is mapped; passing the first half releases it, in one call once
            // reading is RELEASE_EVERY bytes on.
            passed(bytes[RELEASE_EVERY / 2..].as_ptr());
            assert!(resident(&map) >= bytes.len() - page_size());
            passed(bytes[3 * RELEASE_EVERY / 2..].as_ptr());
            let left = resident(&map);
            assert!(left <= bytes.len() - 3 * RELEASE_EVERY / 2 + page_size(), "{left} bytes still mapped");
            assert_eq!(bytes, &text[..], "released pages read back the same");
        });
        assert!(Pages::current().is_none(), "cleared after reading");
        // An address outside the map releases nothing.
        let pages = Pages { start: map.bytes().as_ptr() as usize, len: map.bytes().len() };
        let mut done = 0;
        pages.release(text.as_ptr(), &mut done, true);
        assert_eq!(done, 0);
    }
}
