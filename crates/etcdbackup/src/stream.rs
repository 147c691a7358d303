//! etcd's snapshot as its v3 JSON gateway streams it (`POST
//! /v3/maintenance/snapshot`): one JSON object per line,
//! `{"result":{"remaining_bytes":"<uint64>","blob":"<base64>"}}`.
//!
//! etcd (v3rpc `maintenanceServer.Snapshot`, 3.4 and 3.5) sends the bbolt
//! database in pieces of 32 KiB, each saying how many bytes are still to
//! come (so the first gives the size; proto3 JSON leaves out a zero
//! `remaining_bytes`), then one more message whose blob is the SHA-256 of
//! everything before it. `etcdctl snapshot save` writes both, database then
//! hash, and `etcdctl snapshot restore` checks the hash. An error in the
//! middle of the stream comes as `{"error":{...}}`.
//!
//! Pure: the body's bytes in, in pieces of any size; the snapshot file's
//! bytes out; every step checked against what came before.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// Size of the SHA-256 trailer.
pub const HASH_LEN: usize = 32;
/// Longest line (one message) taken: etcd's pieces are 32 KiB, 44 KiB in
/// base64.
pub const MAX_LINE: usize = 1 << 20;

/// Why feeding stopped: the stream is not a valid snapshot, or the output
/// failed.
#[derive(Debug)]
pub enum Fed<E> {
    Bad(String),
    Out(E),
}

#[derive(Debug)]
pub struct Decoder {
    line: Vec<u8>,
    max_size: u64,
    /// The database's size, from the first message.
    size: Option<u64>,
    /// Database bytes received so far.
    data: u64,
    sha: Sha256,
    hash: Option<[u8; HASH_LEN]>,
    messages: u64,
}

/// A complete, consistent stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    /// The database's bytes (the file has [`HASH_LEN`] more).
    pub size: u64,
    /// The SHA-256 trailer, which matched the database.
    pub sha256: [u8; HASH_LEN],
    pub messages: u64,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    result: Option<Piece<'a>>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Piece<'a> {
    #[serde(default)]
    remaining_bytes: Option<Uint>,
    #[serde(borrow, default)]
    blob: Option<Cow<'a, str>>,
}

/// The gateway writes uint64 as a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Uint {
    Text(String),
    Number(u64),
}

impl Uint {
    fn get(&self) -> Result<u64, String> {
        match self {
            Uint::Number(n) => Ok(*n),
            Uint::Text(s) => s
                .parse()
                .map_err(|_| format!("remaining_bytes {s:?} is not a uint64")),
        }
    }
}

impl Decoder {
    /// A decoder that refuses databases larger than `max_size` bytes.
    pub fn new(max_size: u64) -> Decoder {
        Decoder {
            line: Vec::new(),
            max_size,
            size: None,
            data: 0,
            sha: Sha256::new(),
            hash: None,
            messages: 0,
        }
    }

    /// Database bytes received, and the database's size once known.
    pub fn progress(&self) -> (u64, Option<u64>) {
        (self.data, self.size)
    }

    /// Takes the next bytes of the body; the snapshot file's bytes go to
    /// `out` as each message is complete.
    pub fn feed<E>(
        &mut self,
        mut input: &[u8],
        out: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), Fed<E>> {
        while !input.is_empty() {
            let nl = input.iter().position(|&b| b == b'\n');
            let take = nl.map_or(input.len(), |i| i + 1);
            if self.line.len() + take > MAX_LINE + 1 {
                return Err(Fed::Bad(format!(
                    "a message longer than {MAX_LINE} bytes after {} messages: not etcd's snapshot stream",
                    self.messages
                )));
            }
            self.line.extend_from_slice(&input[..take]);
            input = &input[take..];
            if nl.is_some() {
                let line = std::mem::take(&mut self.line);
                self.message(&line, out)?;
            }
        }
        Ok(())
    }

    /// The stream has ended: complete and consistent, or why not.
    pub fn finish<E>(
        mut self,
        out: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<Done, Fed<E>> {
        // A last message without its newline still counts.
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.message(&line, out)?;
        }
        let bad = |m: String| Err(Fed::Bad(m));
        match (self.size, self.hash) {
            (None, _) => bad("the stream ended before any data".into()),
            (Some(size), None) if self.data < size => bad(format!(
                "the stream ended after {} of {size} bytes",
                self.data
            )),
            (Some(_), None) => bad(format!(
                "the stream ended without the SHA-256 trailer after all {} bytes",
                self.data
            )),
            (Some(size), Some(sha256)) => Ok(Done {
                size,
                sha256,
                messages: self.messages,
            }),
        }
    }

    fn message<E>(
        &mut self,
        line: &[u8],
        out: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), Fed<E>> {
        let text = line.trim_ascii();
        if text.is_empty() {
            return Ok(());
        }
        let n = self.messages + 1;
        let bad = |m: String| Fed::Bad(format!("message {n}: {m}"));
        let msg: Message = serde_json::from_slice(text)
            .map_err(|e| bad(format!("not JSON ({e}): {}", excerpt(text))))?;
        if let Some(e) = msg.error {
            let why = e
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
                .unwrap_or_else(|| e.to_string());
            return Err(bad(format!("etcd stopped the snapshot: {why}")));
        }
        let piece = msg
            .result
            .ok_or_else(|| bad(format!("neither result nor error: {}", excerpt(text))))?;
        let remaining = match &piece.remaining_bytes {
            Some(r) => r.get().map_err(&bad)?,
            None => 0,
        };
        let blob = B64
            .decode(piece.blob.as_deref().unwrap_or("").as_bytes())
            .map_err(|e| bad(format!("blob is not base64: {e}")))?;
        self.messages = n;
        if self.hash.is_some() {
            return Err(bad("data after the SHA-256 trailer".into()));
        }
        let size = match self.size {
            Some(s) => s,
            None => {
                let s = remaining
                    .checked_add(blob.len() as u64)
                    .ok_or_else(|| bad("size overflows".into()))?;
                if s == 0 {
                    return Err(bad("an empty database".into()));
                }
                if s > self.max_size {
                    return Err(Fed::Bad(format!(
                        "the database is {s} bytes, more than the {} allowed (--max-size)",
                        self.max_size
                    )));
                }
                self.size = Some(s);
                s
            }
        };
        if self.data == size {
            // All data is in: this is the hash.
            if blob.len() != HASH_LEN || remaining != 0 {
                return Err(bad(format!(
                    "expected the {HASH_LEN}-byte SHA-256 trailer after all {size} bytes, got {} bytes with remaining_bytes {remaining}",
                    blob.len()
                )));
            }
            let got: [u8; HASH_LEN] = blob[..].try_into().expect("length checked");
            let want: [u8; HASH_LEN] = self.sha.clone().finalize().into();
            if got != want {
                return Err(bad(format!(
                    "SHA-256 trailer {} does not match the {size} bytes received (their SHA-256 is {})",
                    hex::encode(got),
                    hex::encode(want)
                )));
            }
            self.hash = Some(got);
            return out(&blob).map_err(Fed::Out);
        }
        if blob.is_empty() {
            return Err(bad(format!(
                "no data, {remaining} bytes still to come (etcd could not read its database?)"
            )));
        }
        let data = self.data + blob.len() as u64;
        if data > size || size - data != remaining {
            return Err(bad(format!(
                "{} bytes with remaining_bytes {remaining} after {} of {size}: inconsistent",
                blob.len(),
                self.data
            )));
        }
        self.sha.update(&blob);
        self.data = data;
        out(&blob).map_err(Fed::Out)
    }
}

fn excerpt(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(120)]);
    if b.len() > 120 {
        format!("{s}…")
    } else {
        s.into_owned()
    }
}

/// The gateway's stream for `db` in pieces of `piece` bytes, as etcd sends
/// it: for tests and the fake gateway.
pub fn encode(db: &[u8], piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut sent = 0;
    for chunk in db.chunks(piece) {
        sent += chunk.len();
        let remaining = db.len() - sent;
        let line = if remaining == 0 {
            serde_json::json!({ "result": { "blob": B64.encode(chunk) } })
        } else {
            serde_json::json!({ "result": {
                "remaining_bytes": remaining.to_string(),
                "blob": B64.encode(chunk),
            } })
        };
        out.extend_from_slice(line.to_string().as_bytes());
        out.push(b'\n');
    }
    let sha = Sha256::digest(db);
    let line = serde_json::json!({ "result": { "blob": B64.encode(sha) } });
    out.extend_from_slice(line.to_string().as_bytes());
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(stream: &[u8], step: usize, max: u64) -> Result<(Vec<u8>, Done), String> {
        let mut d = Decoder::new(max);
        let mut file = Vec::new();
        let mut out = |b: &[u8]| -> Result<(), ()> {
            file.extend_from_slice(b);
            Ok(())
        };
        for piece in stream.chunks(step) {
            d.feed(piece, &mut out).map_err(|e| match e {
                Fed::Bad(m) => m,
                Fed::Out(()) => unreachable!(),
            })?;
        }
        let done = d.finish(&mut out).map_err(|e| match e {
            Fed::Bad(m) => m,
            Fed::Out(()) => unreachable!(),
        })?;
        Ok((file, done))
    }

    fn db(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn a_stream_decodes_into_database_and_hash() {
        let data = db(100_000);
        let s = encode(&data, 32 * 1024);
        for step in [1, 7, 4096, s.len()] {
            let (file, done) = decode(&s, step, u64::MAX).unwrap();
            assert_eq!(&file[..data.len()], &data[..]);
            assert_eq!(&file[data.len()..], &Sha256::digest(&data)[..]);
            assert_eq!((done.size, done.messages), (100_000, 5));
        }
        // One piece exactly: remaining_bytes is left out throughout.
        let (file, _) = decode(&encode(&data, data.len()), 999, u64::MAX).unwrap();
        assert_eq!(file.len(), data.len() + HASH_LEN);
        // No newline after the last message.
        let s = encode(&data, 4096);
        assert!(decode(&s[..s.len() - 1], 100, u64::MAX).is_ok());
    }

    #[test]
    fn what_etcd_3_4_sent() {
        // Recorded from etcd 3.4.23 (a fresh 20 KiB database), shortened:
        // the same shape, a 3-byte database.
        let data = b"abc";
        let s = format!(
            "{{\"result\":{{\"blob\":\"{}\"}}}}\n{{\"result\":{{\"blob\":\"{}\"}}}}\n",
            B64.encode(data),
            B64.encode(Sha256::digest(data))
        );
        let (file, done) = decode(s.as_bytes(), 5, 10).unwrap();
        assert_eq!(done.size, 3);
        assert_eq!(file.len(), 3 + HASH_LEN);
    }

    #[test]
    fn broken_streams_are_refused() {
        let data = db(70_000);
        let s = encode(&data, 32 * 1024);
        let lines: Vec<&[u8]> = s.split_inclusive(|&b| b == b'\n').collect();
        assert_eq!(lines.len(), 4);
        let e = |s: &[u8]| decode(s, 1000, u64::MAX).unwrap_err();
        // Cut after a message, and inside one.
        assert_eq!(
            e(&lines[..2].concat()),
            "the stream ended after 65536 of 70000 bytes"
        );
        assert!(
            e(&s[..lines[0].len() + 100]).starts_with("message 2: not JSON"),
            "{}",
            e(&s[..lines[0].len() + 100])
        );
        assert_eq!(
            e(&lines[..3].concat()),
            "the stream ended without the SHA-256 trailer after all 70000 bytes"
        );
        assert_eq!(e(b""), "the stream ended before any data");
        // A piece missing in the middle.
        let m = e(&[lines[0], lines[2], lines[3]].concat());
        assert!(m.contains("message 2") && m.contains("inconsistent"), "{m}");
        // A flipped bit in the data.
        let mut changed = data.clone();
        changed[40_000] ^= 1;
        let mut s2 = encode(&changed, 32 * 1024);
        let hash_line = encode(&data, 32 * 1024)
            .split_inclusive(|&b| b == b'\n')
            .next_back()
            .unwrap()
            .to_vec();
        let n = s2
            .split_inclusive(|&b| b == b'\n')
            .next_back()
            .unwrap()
            .len();
        s2.truncate(s2.len() - n);
        s2.extend_from_slice(&hash_line);
        let m = e(&s2);
        assert!(
            m.starts_with("message 4: SHA-256 trailer")
                && m.contains("does not match the 70000 bytes"),
            "{m}"
        );
        // Anything after the trailer.
        let m = e(&[&s[..], lines[3]].concat());
        assert!(m.contains("data after the SHA-256 trailer"), "{m}");
        // etcd's own error in the middle.
        let m = e(&[
            lines[0],
            b"{\"error\":{\"grpc_code\":14,\"message\":\"etcdserver: server stopped\"}}\n",
        ]
        .concat());
        assert_eq!(
            m,
            "message 2: etcd stopped the snapshot: etcdserver: server stopped"
        );
        // Too large, said before anything is written.
        assert_eq!(
            decode(&s, 1000, 65_000).unwrap_err(),
            "the database is 70000 bytes, more than the 65000 allowed (--max-size)"
        );
        // Not the gateway at all.
        assert!(e(b"<html>\n").starts_with("message 1: not JSON"));
        assert!(e(b"{}\n").contains("neither result nor error"));
        let long = vec![b' '; MAX_LINE + 10];
        assert!(e(&long).contains("longer than"));
        assert!(
            e(b"{\"result\":{\"remaining_bytes\":\"x\",\"blob\":\"\"}}\n")
                .contains("\"x\" is not a uint64")
        );
        // No progress: etcd sending empty pieces.
        let m = e(&[
            lines[0],
            b"{\"result\":{\"remaining_bytes\":\"4464\",\"blob\":\"\"}}\n",
        ]
        .concat());
        assert!(m.contains("no data, 4464 bytes still to come"), "{m}");
    }

    #[test]
    fn the_output_failing_stops_decoding() {
        let s = encode(&db(10), 4);
        let mut d = Decoder::new(u64::MAX);
        let r = d.feed(&s, &mut |_: &[u8]| Err("disk full"));
        assert!(matches!(r, Err(Fed::Out("disk full"))));
    }
}
