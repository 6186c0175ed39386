//! Reading what a run writes: byte streams split into lines (bounded), the `SWEEP_METRIC` marker on stdout, the tail
//! of stderr, and the metrics file followed as it grows.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;

/// A stdout line that carries a metric record: `SWEEP_METRIC {json}`.
pub const STDOUT_MARKER: &str = "SWEEP_METRIC";

/// Longest line kept whole; the rest of a longer line is dropped (no record is that long; a progress bar redrawn
/// with `\r` for a whole epoch can be). A dropped line's number is kept in [`Lines::dropped`], so that a record
/// lost so is warned about.
pub(crate) const MAX_LINE: usize = 1 << 20;

/// Splits a byte stream into `\n`-terminated lines, numbered from 1.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    pending: Vec<u8>,
    /// The line in `pending` grew past `MAX_LINE`: drop bytes until its end.
    overlong: bool,
    pub(crate) count: u64,
    /// The numbers of the lines dropped whole for being longer than `MAX_LINE`, until the caller takes them.
    pub(crate) dropped: Vec<u64>,
}

impl Lines {
    /// Feeds bytes; calls `f(number, line)` for each completed line (without its `\n`). A line longer than
    /// `MAX_LINE` is dropped whether it arrives whole or in pieces (so what is dropped does not depend on how the
    /// bytes were chunked), its number kept in `dropped`.
    pub(crate) fn feed(&mut self, mut bytes: &[u8], f: &mut dyn FnMut(u64, &[u8])) {
        loop {
            let nl = bytes.iter().position(|&b| b == b'\n');
            if !self.overlong {
                self.pending.extend_from_slice(&bytes[..nl.unwrap_or(bytes.len())]);
                self.bound();
            }
            let Some(nl) = nl else { return };
            self.count += 1;
            if self.overlong {
                self.dropped.push(self.count);
            } else {
                f(self.count, &self.pending);
            }
            self.pending.clear();
            self.overlong = false;
            bytes = &bytes[nl + 1..];
        }
    }

    /// Keeps the line being read within `MAX_LINE`: what follows its last carriage return (a progress bar's current
    /// state) when that is short enough, else nothing, the line then dropped until its end.
    fn bound(&mut self) {
        if self.pending.len() <= MAX_LINE {
            return;
        }
        match self.pending.iter().rposition(|&b| b == b'\r') {
            Some(cr) if self.pending.len() - cr <= MAX_LINE => {
                self.pending.drain(..=cr);
            }
            _ => {
                self.pending.clear();
                self.overlong = true;
            }
        }
    }

    /// The unterminated rest, as a last line (at the end of the stream).
    pub(crate) fn finish(&mut self, f: &mut dyn FnMut(u64, &[u8])) {
        if self.overlong {
            self.count += 1;
            self.dropped.push(self.count);
        } else if !self.pending.is_empty() {
            self.count += 1;
            f(self.count, &self.pending);
        }
        self.pending.clear();
        self.overlong = false;
    }
}

/// The record carried by a stdout line, if it has the marker: the text after the last `SWEEP_METRIC` followed by
/// whitespace, up to a carriage return. A progress bar redrawn on the same line (`\r`) does not hide it.
pub(crate) fn marked_record(line: &str) -> Option<&str> {
    let mut search = line;
    while let Some(pos) = search.rfind(STDOUT_MARKER) {
        let after = &search[pos + STDOUT_MARKER.len()..];
        if after.starts_with([' ', '\t']) {
            let payload = after.trim_start();
            return Some(payload.split('\r').next().unwrap_or(payload).trim_end());
        }
        search = &search[..pos];
    }
    None
}

/// The last lines of a stream (stderr), each at most `WIDTH` characters, after the last `\r` of the line.
#[derive(Debug)]
pub(crate) struct Tail {
    lines: VecDeque<String>,
    keep: usize,
}

const WIDTH: usize = 300;

impl Tail {
    pub(crate) fn new(keep: usize) -> Self {
        Self {
            lines: VecDeque::with_capacity(keep),
            keep,
        }
    }

    pub(crate) fn push(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let shown = text.rsplit('\r').find(|s| !s.trim().is_empty()).unwrap_or("").trim_end();
        if shown.is_empty() {
            return;
        }
        if self.lines.len() == self.keep {
            self.lines.pop_front();
        }
        self.lines.push_back(shorten(shown, WIDTH));
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        self.lines.iter().cloned().collect()
    }
}

/// `text` cut to at most `max` characters, with an ellipsis where it was cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// A file another process appends to, read from a starting offset as it grows.
#[derive(Debug)]
pub(crate) struct FileTail {
    path: PathBuf,
    offset: u64,
    pub(crate) lines: Lines,
    /// The file became shorter than what was read: the program truncated it.
    pub(crate) truncated: bool,
}

impl FileTail {
    /// Follows `path` from byte `offset`, whose line number is `lines_before + 1`.
    pub(crate) fn new(path: PathBuf, offset: u64, lines_before: u64) -> Self {
        Self {
            path,
            offset,
            lines: Lines {
                count: lines_before,
                ..Lines::default()
            },
            truncated: false,
        }
    }

    /// Reads what was appended since the last call; calls `f(line number, line)` for each complete line.
    pub(crate) fn poll(&mut self, f: &mut dyn FnMut(u64, &[u8])) -> io::Result<()> {
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        if len < self.offset {
            // Rewritten from the start (opened with "w" instead of "a"): read it again from there.
            self.truncated = true;
            self.offset = 0;
            self.lines = Lines::default();
        }
        if len == self.offset {
            return Ok(());
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::with_capacity((len - self.offset).min(1 << 20) as usize);
        file.take(len - self.offset).read_to_end(&mut buf)?;
        self.offset += buf.len() as u64;
        self.lines.feed(&buf, f);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(chunks: &[&[u8]]) -> Vec<(u64, String)> {
        let mut lines = Lines::default();
        let mut out = Vec::new();
        for c in chunks {
            lines.feed(c, &mut |n, l| out.push((n, String::from_utf8_lossy(l).into_owned())));
        }
        lines.finish(&mut |n, l| out.push((n, String::from_utf8_lossy(l).into_owned())));
        out
    }

    #[test]
    fn lines_join_chunks_and_keep_the_last_unterminated_one() {
        let got = collect(&[b"a", b"b\nc\n\nd", b"e"]);
        assert_eq!(got, [(1, "ab".into()), (2, "c".into()), (3, "".into()), (4, "de".into())]);
    }

    #[test]
    fn an_endless_progress_bar_keeps_its_last_state_only() {
        let bar: Vec<u8> = (0..200_000).flat_map(|i| format!("\r{i:>6}").into_bytes()).collect();
        let got = collect(&[&bar, b" SWEEP_METRIC {\"epoch\": 1}\n", b"x\n"]);
        assert_eq!(got.len(), 2);
        assert!(got[0].1.len() < MAX_LINE, "the line was bounded");
        assert_eq!(marked_record(&got[0].1), Some("{\"epoch\": 1}"));
        // With no carriage return at all, an overlong line is dropped whole, and the next line is intact.
        let long = vec![b'x'; MAX_LINE + 10];
        assert_eq!(collect(&[&long, &long, b"y\nz\n"]), [(2, "z".into())]);
    }

    /// A line dropped for its length is counted, so that the record it may have held is warned about, not lost silently.
    #[test]
    fn an_overlong_line_is_dropped_with_its_number_kept() {
        let mut lines = Lines::default();
        let long = vec![b'x'; MAX_LINE + 10];
        let mut got = Vec::new();
        lines.feed(b"{\"epoch\": 1}\n", &mut |n, _| got.push(n));
        lines.feed(&long, &mut |n, _| got.push(n));
        lines.feed(b"\n", &mut |n, _| got.push(n));
        lines.feed(&long, &mut |n, _| got.push(n));
        lines.finish(&mut |n, _| got.push(n));
        assert_eq!(got, [1]);
        assert_eq!(lines.dropped, [2, 3]);
        // Whole in one chunk, the same line is dropped too: what is kept does not depend on how it arrived.
        let mut lines = Lines::default();
        lines.feed(&[&long[..], b"\n{\"epoch\": 2}\n"].concat(), &mut |n, _| got.push(n));
        assert_eq!((got, lines.dropped), (vec![1, 2], vec![1]));
    }

    #[test]
    fn the_marker_is_found_past_progress_bars_and_not_in_other_words() {
        assert_eq!(marked_record("SWEEP_METRIC {\"epoch\": 2}"), Some("{\"epoch\": 2}"));
        assert_eq!(
            marked_record(" 45%|####  |\rSWEEP_METRIC\t{\"epoch\": 2}\r"),
            Some("{\"epoch\": 2}")
        );
        assert_eq!(marked_record("[train] SWEEP_METRIC {\"epoch\": 2} "), Some("{\"epoch\": 2}"));
        assert_eq!(marked_record("SWEEP_METRICS=/tmp/m.jsonl"), None);
        assert_eq!(marked_record("epoch 2 done"), None);
    }

    #[test]
    fn the_tail_keeps_the_last_visible_lines() {
        let mut t = Tail::new(2);
        for l in ["one", "two", "  ", "50%\r100%\r", "three"] {
            t.push(l.as_bytes());
        }
        assert_eq!(t.lines(), ["100%", "three"]);
        assert_eq!(shorten("ééééé", 3), "ééé…");
    }
}
