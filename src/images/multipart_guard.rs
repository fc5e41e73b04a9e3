//! Bounds what a multipart upload can make the server hold before a single byte of the file
//! is written: the parser (multer) buffers a part's headers, and the preamble before the first
//! boundary, until it finds their end, however long that takes. This guard watches the raw
//! stream on its way in and cuts it off when the whole body passes its limit or when any
//! stretch that is not part data (preamble, part headers) passes `MAX_HEADER_BYTES`.

use std::sync::{Arc, Mutex};

use memchr::memmem::Finder;

/// The preamble and each part's headers may hold at most this many bytes.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Why the guard cut a stream off, for the handler to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breach {
    TooLarge,
    HeadersTooLarge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Before the first boundary, or inside a part's headers: both are buffered whole.
    Buffered,
    /// Part data: streamed out as it comes.
    Data,
}

/// The state of one request's stream.
pub struct Guard {
    boundary: Finder<'static>,
    end_of_headers: Finder<'static>,
    stage: Stage,
    /// Bytes seen in the current buffered stretch.
    buffered: usize,
    total: u64,
    max_total: u64,
    /// The last bytes of the previous chunk, so a delimiter split across chunks is found.
    tail: Vec<u8>,
    pub breach: Arc<Mutex<Option<Breach>>>,
}

impl Guard {
    pub fn new(boundary: &str, max_total: u64) -> Self {
        Self {
            boundary: Finder::new(format!("--{boundary}").as_bytes()).into_owned(),
            end_of_headers: Finder::new(b"\r\n\r\n").into_owned(),
            stage: Stage::Buffered,
            buffered: 0,
            total: 0,
            max_total,
            tail: Vec::new(),
            breach: Arc::default(),
        }
    }

    /// Accounts for one chunk of the body; an error ends the stream.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), Breach> {
        self.total += chunk.len() as u64;
        if self.total > self.max_total {
            return self.fail(Breach::TooLarge);
        }
        let mut window = std::mem::take(&mut self.tail);
        let carried = window.len();
        window.extend_from_slice(chunk);
        // Bytes of `start..end` not already counted with the previous chunk.
        let fresh = |start: usize, end: usize| end.saturating_sub(start.max(carried));
        let mut pos = 0;
        loop {
            let rest = &window[pos..];
            let boundary = self
                .boundary
                .find(rest)
                .map(|i| i + self.boundary.needle().len());
            if self.stage == Stage::Data {
                let Some(end) = boundary else { break };
                self.stage = Stage::Buffered;
                self.buffered = 0;
                pos += end;
                continue;
            }
            // Buffered: the preamble ends at a boundary, a part's headers at a blank line.
            let headers_end = self.end_of_headers.find(rest).map(|i| i + 4);
            let (end, next) = match (headers_end, boundary) {
                (Some(h), Some(b)) if h < b => (h, Stage::Data),
                (Some(h), None) => (h, Stage::Data),
                (_, Some(b)) => (b, Stage::Buffered),
                (None, None) => (rest.len(), Stage::Buffered),
            };
            self.buffered += fresh(pos, pos + end);
            if self.buffered > MAX_HEADER_BYTES {
                return self.fail(Breach::HeadersTooLarge);
            }
            if end == rest.len() && headers_end.is_none() && boundary.is_none() {
                break;
            }
            self.stage = next;
            self.buffered = 0;
            pos += end;
        }
        let keep = self.boundary.needle().len().max(4) - 1;
        let from = window.len().saturating_sub(keep).max(pos);
        self.tail = window[from..].to_vec();
        Ok(())
    }

    fn fail(&self, breach: Breach) -> Result<(), Breach> {
        if let Ok(mut slot) = self.breach.lock() {
            *slot = Some(breach);
        }
        Err(breach)
    }
}

impl std::fmt::Display for Breach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TooLarge => "the upload is larger than the limit",
            Self::HeadersTooLarge => "a form part's headers (or the preamble) are too long",
        })
    }
}

impl std::error::Error for Breach {}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(preamble: &str, header_pad: usize, data: usize) -> Vec<u8> {
        let mut b = preamble.as_bytes().to_vec();
        b.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"");
        b.extend(std::iter::repeat_n(b' ', header_pad));
        b.extend_from_slice(b"\r\n\r\n");
        b.extend(std::iter::repeat_n(b'a', data));
        b.extend_from_slice(b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"alt\"\r\n\r\nhi");
        b.extend_from_slice(b"\r\n--XyZ--\r\n");
        b
    }

    fn run(bytes: &[u8], chunk: usize, max: u64) -> Result<(), Breach> {
        let mut guard = Guard::new("XyZ", max);
        bytes.chunks(chunk).try_for_each(|c| guard.feed(c))
    }

    #[test]
    fn large_file_data_passes_in_any_chunking() {
        let b = body("", 0, 200_000);
        for chunk in [1, 3, 7, 64, 8192, b.len()] {
            assert_eq!(run(&b, chunk, 1 << 20), Ok(()), "chunk {chunk}");
        }
    }

    #[test]
    fn long_headers_or_preamble_are_cut_off_in_any_chunking() {
        for chunk in [1, 5, 4096, 1 << 20] {
            let long_headers = body("", MAX_HEADER_BYTES + 1, 10);
            assert_eq!(
                run(&long_headers, chunk, 1 << 30),
                Err(Breach::HeadersTooLarge)
            );
            let preamble = "p".repeat(MAX_HEADER_BYTES + 1);
            assert_eq!(
                run(&body(&preamble, 0, 10), chunk, 1 << 30),
                Err(Breach::HeadersTooLarge)
            );
        }
    }

    #[test]
    fn the_whole_body_is_capped() {
        assert_eq!(run(&body("", 0, 5000), 512, 4000), Err(Breach::TooLarge));
    }
}
