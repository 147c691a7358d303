//! Decompressing metadata files: gzip, xz and zstd (what createrepo_c can
//! write), or plain XML. Told apart by magic bytes, so a misnamed file still
//! reads; the extension only matters for the error message.

use super::RepodataError;
use std::io::Read;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Gzip,
    Xz,
    Zstd,
    Plain,
}

pub fn detect(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        Some(Format::Gzip)
    } else if bytes.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Some(Format::Xz)
    } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Format::Zstd)
    } else {
        // Plain XML: optional BOM, whitespace, then '<'.
        let b = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        match b.iter().find(|c| !c.is_ascii_whitespace()) {
            Some(b'<') => Some(Format::Plain),
            _ => None,
        }
    }
}

/// Decompresses `bytes` read from `path`.
pub fn decompress(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>, RepodataError> {
    let format = detect(&bytes).ok_or_else(|| RepodataError::UnsupportedCompression {
        path: path.to_path_buf(),
    })?;
    let mut out = Vec::with_capacity(bytes.len() * 6);
    let (name, res) = match format {
        Format::Plain => return Ok(bytes),
        Format::Gzip => (
            "gzip",
            flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_end(&mut out),
        ),
        Format::Xz => (
            "xz",
            liblzma::read::XzDecoder::new_multi_decoder(&bytes[..]).read_to_end(&mut out),
        ),
        Format::Zstd => (
            "zstd",
            zstd::stream::read::Decoder::new(&bytes[..]).and_then(|mut d| d.read_to_end(&mut out)),
        ),
    };
    match res {
        Ok(_) => Ok(out),
        Err(source) => Err(RepodataError::Decompress {
            path: path.to_path_buf(),
            format: name,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const XML: &[u8] = b"<?xml version=\"1.0\"?>\n<a>hello</a>\n";

    #[test]
    fn round_trips_every_format() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(XML).unwrap();
        let gz = gz.finish().unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(XML).unwrap();
        let xz = xz.finish().unwrap();
        let zst = zstd::encode_all(XML, 3).unwrap();
        for (bytes, fmt) in [
            (gz, Format::Gzip),
            (xz, Format::Xz),
            (zst, Format::Zstd),
            (XML.to_vec(), Format::Plain),
        ] {
            assert_eq!(detect(&bytes), Some(fmt));
            assert_eq!(decompress(Path::new("x"), bytes).unwrap(), XML);
        }
    }

    #[test]
    fn truncated_and_unknown_are_errors() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&XML.repeat(100)).unwrap();
        let gz = gz.finish().unwrap();
        let err = decompress(Path::new("p.xml.gz"), gz[..gz.len() / 2].to_vec()).unwrap_err();
        assert!(err.to_string().contains("p.xml.gz"), "{err}");
        assert!(err.to_string().contains("gzip"), "{err}");
        let err = decompress(Path::new("p.xml.bz2"), b"BZh91AY".to_vec()).unwrap_err();
        assert!(matches!(err, RepodataError::UnsupportedCompression { .. }));
    }
}
