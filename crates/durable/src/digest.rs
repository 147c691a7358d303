//! SHA-256, the one digest every mk output is checked and reported with:
//! the [`Digest`] type, and [`HashingReader`] / [`HashingWriter`], which
//! hash and count bytes as they pass so that a copy or a stream is hashed
//! in the same pass that moves it.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A SHA-256 digest. Displayed as `sha256:<hex>` (the OCI form);
/// [`Digest::hex`] is the bare form `sha256sum` and file names use.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

/// A string that is not `sha256:` and 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid digest {input:?}: {reason} (expected \"sha256:\" and 64 lowercase hex digits)")]
pub struct BadDigest {
    pub input: String,
    pub reason: String,
}

/// Large sequential reads keep syscalls rare.
const CHUNK: usize = 1 << 20;

impl Digest {
    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Digest {
        Digest(Sha256::digest(data).into())
    }

    /// Digest and length of everything `reader` yields.
    pub fn of_reader(reader: impl Read) -> io::Result<(Digest, u64)> {
        let mut r = HashingReader::new(reader);
        io::copy(&mut r, &mut io::sink())?;
        Ok(r.finish())
    }

    /// Digest and length of a file's content.
    pub fn of_file(path: &Path) -> io::Result<(Digest, u64)> {
        Digest::of_reader(io::BufReader::with_capacity(CHUNK, File::open(path)?))
    }

    /// Digest of `len` bytes at `offset` of `file` as the medium holds
    /// them, to check what was just written and synced: the kernel is
    /// first asked to drop its cached pages of the range (best effort:
    /// where the advice is ignored, what the kernel returns is still
    /// checked). Used by `mk-node update` (a slot) and `mk-node install`
    /// (a disk).
    pub fn read_back(file: &File, offset: u64, len: u64) -> io::Result<Digest> {
        let _ = rustix::fs::fadvise(
            file,
            offset,
            std::num::NonZeroU64::new(len),
            rustix::fs::Advice::DontNeed,
        );
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 4 * CHUNK];
        let end = offset + len;
        let mut at = offset;
        while at < end {
            let n = (end - at).min(buf.len() as u64) as usize;
            std::os::unix::fs::FileExt::read_exact_at(file, &mut buf[..n], at)?;
            hasher.update(&buf[..n]);
            at += n as u64;
        }
        Ok(Digest(hasher.finalize().into()))
    }

    /// Parses `sha256:<64 lowercase hex digits>`.
    pub fn parse(s: &str) -> Result<Digest, BadDigest> {
        let bad = |reason: String| BadDigest {
            input: s.to_string(),
            reason,
        };
        let (alg, hex_part) = s
            .split_once(':')
            .ok_or_else(|| bad("no \"algorithm:\" prefix".into()))?;
        if alg != "sha256" {
            return Err(bad(format!("algorithm {alg:?} is not supported")));
        }
        Digest::from_hex(hex_part).map_err(|e| bad(e.reason))
    }

    /// Parses bare 64 lowercase hex digits (a blob file name, a
    /// `sha256sum` line).
    pub fn from_hex(hex_part: &str) -> Result<Digest, BadDigest> {
        let bad = |reason: String| BadDigest {
            input: hex_part.to_string(),
            reason,
        };
        if hex_part.len() != 64 {
            return Err(bad(format!("{} hex digits", hex_part.len())));
        }
        if !hex_part
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad("not lowercase hex".into()));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut out).map_err(|e| bad(e.to_string()))?;
        Ok(Digest(out))
    }

    /// The 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The raw 32 bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The algorithm name, always `sha256`.
    pub fn algorithm(&self) -> &'static str {
        "sha256"
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = BadDigest;
    fn from_str(s: &str) -> Result<Self, BadDigest> {
        Digest::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A writer that hashes and counts what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }
    /// Digest and length of what was written so far.
    pub fn finish(self) -> (Digest, u64) {
        (Digest(self.hasher.finalize().into()), self.len)
    }
    /// Digest, length and the inner writer.
    pub fn into_parts(self) -> (Digest, u64, W) {
        (Digest(self.hasher.finalize().into()), self.len, self.inner)
    }
    pub fn get_ref(&self) -> &W {
        &self.inner
    }
    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts what is read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    len: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }
    /// Digest and length of what was read so far.
    pub fn finish(self) -> (Digest, u64) {
        (Digest(self.hasher.finalize().into()), self.len)
    }
    /// Bytes read so far.
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// Which side of [`copy_hashed`] failed, so that the caller names the
/// right file.
#[derive(Debug)]
pub enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// Copies `from` into `to`, hashing and counting on the way: one pass for
/// the copy and its check.
pub fn copy_hashed(from: impl Read, to: impl Write) -> Result<(Digest, u64), CopyError> {
    /// Remembers that the error `io::copy` returns came from the writer.
    struct Tagged<W> {
        inner: W,
        failed: bool,
    }
    impl<W: Write> Write for Tagged<W> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.inner.write(buf).inspect_err(|_| self.failed = true)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.inner.flush().inspect_err(|_| self.failed = true)
        }
    }
    let mut r = HashingReader::new(io::BufReader::with_capacity(CHUNK, from));
    let mut w = Tagged {
        inner: to,
        failed: false,
    };
    match io::copy(&mut r, &mut w).and_then(|_| w.flush()) {
        Ok(()) => Ok(r.finish()),
        Err(e) if w.failed => Err(CopyError::Write(e)),
        Err(e) => Err(CopyError::Read(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn parse_roundtrip_and_errors() {
        let d = Digest::of(b"");
        assert_eq!(
            d.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
        assert_eq!(Digest::from_hex(&d.hex()).unwrap(), d);
        for (bad, why) in [
            (
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "prefix",
            ),
            ("sha512:abcd", "not supported"),
            ("sha256:abcd", "4 hex digits"),
            (
                "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                "lowercase",
            ),
        ] {
            let e = Digest::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn readers_writers_and_files_agree() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            Digest::of_file(&p).unwrap(),
            (Digest::from_hex(ABC).unwrap(), 3)
        );
        let mut out = Vec::new();
        let (d, n) = copy_hashed(&b"abc"[..], &mut out).unwrap();
        assert_eq!((d.hex().as_str(), n, out.as_slice()), (ABC, 3, &b"abc"[..]));
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"abc").unwrap();
        assert_eq!(w.finish(), (Digest::of(b"abc"), 3));
    }

    #[test]
    fn copy_says_which_side_failed() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk gone"))
            }
        }
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        assert!(matches!(
            copy_hashed(Broken, Vec::new()),
            Err(CopyError::Read(e)) if e.to_string() == "disk gone"
        ));
        assert!(matches!(
            copy_hashed(&b"abc"[..], Broken),
            Err(CopyError::Write(e)) if e.to_string() == "disk full"
        ));
    }
}
