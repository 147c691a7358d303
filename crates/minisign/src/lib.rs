//! minisign-format keys and signatures (ed25519), so that a site can check
//! what mk signs (bundle manifests, role configs) with the standard
//! `minisign -V -p key.pub -m FILE`. Shared by mk-bundle (signs and verifies)
//! and mk-roleconfig (verifies on the node). Verification is always built;
//! secret keys and signing need the `sign` feature (default on).
//!
//! Why our own ~300 lines on `ed25519-dalek` rather than the `minisign` crate
//! (jedisct1, 0.10): its `sign()` mixes 64 fresh random bytes into every
//! signature (hedged signing), so the same key and manifest give a different
//! MANIFEST.minisig each run, and the bundle ISO would not be bit-identical
//! (R4). Plain RFC 8032 ed25519, as dalek does it, is deterministic. The
//! crate also ships its own port of the curve arithmetic instead of the
//! widely reviewed dalek, and prompts on stdout. The format itself is small
//! and fixed (below), and tests check it against the real `minisign` tool.
//!
//! Formats (every line ends with `\n`; binary parts are standard base64):
//! - public key: `untrusted comment: ...` / b64(`Ed` ‖ key id[8] ‖ pk[32])
//! - secret key: `untrusted comment: ...` / b64(`Ed` ‖ kdf `Sc` (or 0,0 for
//!   none) ‖ `B2` ‖ salt[32] ‖ opslimit u64le ‖ memlimit u64le ‖
//!   (key id[8] ‖ seed[32] ‖ pk[32] ‖ chk[32]) XOR scrypt(password, salt))
//!   where chk = BLAKE2b-256(`Ed` ‖ key id ‖ seed ‖ pk)
//! - signature: `untrusted comment: ...` / b64(`ED` ‖ key id ‖
//!   ed25519(BLAKE2b-512(data))) / `trusted comment: ...` /
//!   b64(ed25519(signature ‖ trusted comment)). `Ed` (legacy) signs the data
//!   itself instead of its BLAKE2b-512 prehash.

use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
#[cfg(feature = "sign")]
use blake2::digest::consts::U32;
#[cfg(feature = "sign")]
use blake2::Blake2b;
use blake2::{Blake2b512, Digest};
#[cfg(feature = "sign")]
use ed25519_dalek::{Signer, SigningKey};
use ed25519_dalek::{Verifier, VerifyingKey};
use thiserror::Error;
#[cfg(feature = "sign")]
use zeroize::Zeroizing;

const SIG_ALG: [u8; 2] = *b"Ed";
const SIG_ALG_PREHASHED: [u8; 2] = *b"ED";
#[cfg(feature = "sign")]
const KDF_SCRYPT: [u8; 2] = *b"Sc";
#[cfg(feature = "sign")]
const KDF_NONE: [u8; 2] = [0, 0];
#[cfg(feature = "sign")]
const CHK_BLAKE2: [u8; 2] = *b"B2";
const UNTRUSTED_PREFIX: &str = "untrusted comment: ";
const TRUSTED_PREFIX: &str = "trusted comment: ";
#[cfg(feature = "sign")]
/// Bytes of the encrypted part of a secret key: key id, seed, pk, checksum.
const KEY_MATERIAL_LEN: usize = 8 + 32 + 32 + 32;
#[cfg(feature = "sign")]
const SECRET_KEY_LEN: usize = 2 + 2 + 2 + 32 + 8 + 8 + KEY_MATERIAL_LEN;

#[derive(Debug, Error)]
pub enum SignError {
    #[error("{file}: {what}")]
    Format { file: String, what: String },
    #[error("{file}: wrong password (the decrypted key's checksum does not match)")]
    WrongPassword { file: String },
    #[error("{file}: {what}")]
    Kdf { file: String, what: String },
    #[error(
        "{file}: signed by key ID {signed_by}, but the trusted key{trusted_file} has key ID {trusted}; \
         it was not signed by a trusted key"
    )]
    UntrustedKey {
        file: String,
        signed_by: KeyId,
        trusted: KeyId,
        /// ` (path)` of the trusted key file, or empty.
        trusted_file: String,
    },
    #[error(
        "{file}: the signature does not match {data_file} (a signature of other data, \
         or {data_file} was changed after signing)"
    )]
    BadSignature { file: String, data_file: String },
    #[error("{file}: the trusted comment's signature is invalid (the comment was changed)")]
    BadCommentSignature { file: String },
    #[error("random number generator failed: {0}")]
    Random(String),
    #[error("{path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn format_err(file: &str, what: impl Into<String>) -> SignError {
    SignError::Format {
        file: file.to_string(),
        what: what.into(),
    }
}

/// The 8-byte key identifier that ties signatures to keys. Displayed like
/// minisign does: the bytes as a little-endian u64 in upper-case hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

#[cfg(feature = "sign")]
/// scrypt cost as libsodium's `crypto_pwhash_scryptsalsa208sha256` takes it
/// (and as the key file stores it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    pub opslimit: u64,
    pub memlimit: u64,
}

#[cfg(feature = "sign")]
impl KdfParams {
    /// What the `minisign` tool uses (libsodium's "sensitive"): scrypt
    /// N=2^20, r=8, p=1, 1 GiB of memory, a few seconds. For real keys.
    pub const SENSITIVE: KdfParams = KdfParams {
        opslimit: 33_554_432,
        memlimit: 1_073_741_824,
    };
    /// libsodium's "interactive" (N=2^14, 16 MiB): throwaway keys in tests and
    /// benchmarks only.
    pub const INTERACTIVE: KdfParams = KdfParams {
        opslimit: 524_288,
        memlimit: 16_777_216,
    };

    /// libsodium's mapping from (opslimit, memlimit) to scrypt (log2 N, r, p).
    fn scrypt_params(self) -> Result<scrypt::Params, String> {
        let opslimit = self.opslimit.max(32_768);
        let r: u64 = 8;
        let mut log_n: u32 = 1;
        let p: u64;
        if opslimit < self.memlimit / 32 {
            p = 1;
            let max_n = opslimit / (r * 4);
            while log_n < 63 && (1u64 << log_n) <= max_n / 2 {
                log_n += 1;
            }
        } else {
            let max_n = self.memlimit / (r * 128);
            while log_n < 63 && (1u64 << log_n) <= max_n / 2 {
                log_n += 1;
            }
            let max_rp = ((opslimit / 4) / (1u64 << log_n)).min(0x3fff_ffff);
            p = max_rp / r;
        }
        // A key file is input too: refuse costs that would exhaust memory or
        // run for minutes (1 GiB, as `minisign` itself allows at most).
        if log_n > 20 || p > 16 {
            return Err(format!(
                "scrypt cost too high (N=2^{log_n}, r={r}, p={p}; at most N=2^20, p=16)"
            ));
        }
        scrypt::Params::new(log_n as u8, r as u32, p.max(1) as u32, 32)
            .map_err(|e| format!("invalid scrypt parameters: {e}"))
    }
}

/// A trusted public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key_id: KeyId,
    key: VerifyingKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id)
    }
}

impl PublicKey {
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// Parses a public key file (comment line + base64), or the bare base64
    /// line that `minisign -P` takes. `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, SignError> {
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let b64 = match lines.as_slice() {
            [one] => one,
            [comment, key] if comment.starts_with(UNTRUSTED_PREFIX) => key,
            _ => return Err(format_err(
                file,
                "expected a minisign public key: an `untrusted comment:` line and a base64 line",
            )),
        };
        let raw = B64
            .decode(b64.trim())
            .map_err(|e| format_err(file, format!("public key is not valid base64: {e}")))?;
        if raw.len() != 42 {
            return Err(format_err(
                file,
                format!("public key is {} bytes, expected 42", raw.len()),
            ));
        }
        if raw[..2] != SIG_ALG {
            return Err(format_err(file, "not an Ed25519 minisign public key"));
        }
        let key_id = KeyId(raw[2..10].try_into().expect("8 bytes"));
        let key = VerifyingKey::from_bytes(raw[10..42].try_into().expect("32 bytes"))
            .map_err(|e| format_err(file, format!("invalid Ed25519 public key: {e}")))?;
        Ok(PublicKey { key_id, key })
    }

    pub fn from_file(path: &Path) -> Result<Self, SignError> {
        let text = read_text(path)?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The public key file's contents.
    pub fn to_file_text(&self) -> String {
        let mut raw = Vec::with_capacity(42);
        raw.extend_from_slice(&SIG_ALG);
        raw.extend_from_slice(&self.key_id.0);
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "{UNTRUSTED_PREFIX}minisign public key {}\n{}\n",
            self.key_id,
            B64.encode(raw)
        )
    }
}

#[cfg(feature = "sign")]
/// A decrypted secret key, ready to sign.
pub struct SecretKey {
    key_id: KeyId,
    key: SigningKey,
}

#[cfg(feature = "sign")]
impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.key_id)
    }
}

#[cfg(feature = "sign")]
fn random(buf: &mut [u8]) -> Result<(), SignError> {
    getrandom::fill(buf).map_err(|e| SignError::Random(e.to_string()))
}

#[cfg(feature = "sign")]
fn checksum(key_id: &KeyId, seed: &[u8; 32], pk: &[u8; 32]) -> [u8; 32] {
    let mut h = Blake2b::<U32>::new();
    h.update(SIG_ALG);
    h.update(key_id.0);
    h.update(seed);
    h.update(pk);
    h.finalize().into()
}

#[cfg(feature = "sign")]
/// The keystream that encrypts the key material: scrypt(password, salt).
fn keystream(
    password: &[u8],
    salt: &[u8],
    kdf: KdfParams,
    file: &str,
) -> Result<Zeroizing<[u8; KEY_MATERIAL_LEN]>, SignError> {
    let params = kdf.scrypt_params().map_err(|what| SignError::Kdf {
        file: file.to_string(),
        what,
    })?;
    let mut stream = Zeroizing::new([0u8; KEY_MATERIAL_LEN]);
    scrypt::scrypt(password, salt, &params, &mut stream[..]).map_err(|e| SignError::Kdf {
        file: file.to_string(),
        what: e.to_string(),
    })?;
    Ok(stream)
}

#[cfg(feature = "sign")]
impl SecretKey {
    /// A new random key pair (OS randomness).
    pub fn generate() -> Result<Self, SignError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        random(&mut seed[..])?;
        let mut key_id = [0u8; 8];
        random(&mut key_id)?;
        Ok(SecretKey {
            key_id: KeyId(key_id),
            key: SigningKey::from_bytes(&seed),
        })
    }

    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// The secret key file, encrypted with `password` (fresh random salt).
    pub fn to_encrypted_file_text(
        &self,
        password: &[u8],
        kdf: KdfParams,
    ) -> Result<Zeroizing<String>, SignError> {
        if password.is_empty() {
            return Err(SignError::Kdf {
                file: "secret key".into(),
                what: "refusing an empty password: the secret key must be password-protected"
                    .into(),
            });
        }
        let mut salt = [0u8; 32];
        random(&mut salt)?;
        let stream = keystream(password, &salt, kdf, "secret key")?;
        let seed = self.key.to_bytes();
        let pk = self.key.verifying_key().to_bytes();
        let mut material = Zeroizing::new(Vec::with_capacity(KEY_MATERIAL_LEN));
        material.extend_from_slice(&self.key_id.0);
        material.extend_from_slice(&seed);
        material.extend_from_slice(&pk);
        material.extend_from_slice(&checksum(&self.key_id, &seed, &pk));
        for (m, s) in material.iter_mut().zip(stream.iter()) {
            *m ^= s;
        }
        let mut raw = Zeroizing::new(Vec::with_capacity(SECRET_KEY_LEN));
        raw.extend_from_slice(&SIG_ALG);
        raw.extend_from_slice(&KDF_SCRYPT);
        raw.extend_from_slice(&CHK_BLAKE2);
        raw.extend_from_slice(&salt);
        raw.extend_from_slice(&kdf.opslimit.to_le_bytes());
        raw.extend_from_slice(&kdf.memlimit.to_le_bytes());
        raw.extend_from_slice(&material);
        Ok(Zeroizing::new(format!(
            "{UNTRUSTED_PREFIX}minisign encrypted secret key {}\n{}\n",
            self.key_id,
            B64.encode(&raw[..])
        )))
    }

    /// Whether a secret key file needs a password (so callers ask only then).
    pub fn file_is_encrypted(text: &str, file: &str) -> Result<bool, SignError> {
        let raw = decode_secret_key(text, file)?;
        Ok(raw[2..4] != KDF_NONE)
    }

    /// Parses and decrypts a secret key file. `password` is ignored for an
    /// unencrypted key (`minisign -G -W`).
    pub fn parse(text: &str, password: &[u8], file: &str) -> Result<Self, SignError> {
        let raw = decode_secret_key(text, file)?;
        let kdf_alg = &raw[2..4];
        let salt = &raw[6..38];
        let kdf = KdfParams {
            opslimit: u64::from_le_bytes(raw[38..46].try_into().expect("8 bytes")),
            memlimit: u64::from_le_bytes(raw[46..54].try_into().expect("8 bytes")),
        };
        let mut material = Zeroizing::new([0u8; KEY_MATERIAL_LEN]);
        material.copy_from_slice(&raw[54..]);
        if kdf_alg == KDF_SCRYPT {
            let stream = keystream(password, salt, kdf, file)?;
            for (m, s) in material.iter_mut().zip(stream.iter()) {
                *m ^= s;
            }
        } else if kdf_alg != KDF_NONE {
            return Err(format_err(
                file,
                format!("unknown key derivation {kdf_alg:?}, expected scrypt (`Sc`)"),
            ));
        }
        let key_id = KeyId(material[..8].try_into().expect("8 bytes"));
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&material[8..40]);
        let pk: [u8; 32] = material[40..72].try_into().expect("32 bytes");
        // `minisign -G -W` leaves the checksum of unencrypted keys zero; the
        // seed/public-key check below still catches corruption there.
        let unchecked = kdf_alg == KDF_NONE && material[72..].iter().all(|&b| b == 0);
        if !unchecked && checksum(&key_id, &seed, &pk)[..] != material[72..] {
            return if kdf_alg == KDF_SCRYPT {
                Err(SignError::WrongPassword {
                    file: file.to_string(),
                })
            } else {
                Err(format_err(
                    file,
                    "checksum mismatch: the key file is corrupt",
                ))
            };
        }
        let key = SigningKey::from_bytes(&seed);
        if key.verifying_key().to_bytes() != pk {
            return Err(format_err(
                file,
                "the public half stored in the secret key does not match its seed",
            ));
        }
        Ok(SecretKey { key_id, key })
    }

    pub fn from_file(path: &Path, password: &[u8]) -> Result<Self, SignError> {
        let text = Zeroizing::new(read_text(path)?);
        Self::parse(&text, password, &path.display().to_string())
    }

    /// Signs `data` (prehashed, as current minisign does). ed25519 is
    /// deterministic: same key, data and comments give the same bytes.
    pub fn sign(&self, data: &[u8], trusted_comment: &str, untrusted_comment: &str) -> Signature {
        let prehash = Blake2b512::digest(data);
        let sig = self.key.sign(&prehash).to_bytes();
        let trusted_comment = one_line(trusted_comment);
        let mut global = Vec::with_capacity(64 + trusted_comment.len());
        global.extend_from_slice(&sig);
        global.extend_from_slice(trusted_comment.as_bytes());
        let global_sig = self.key.sign(&global).to_bytes();
        Signature {
            prehashed: true,
            key_id: self.key_id,
            sig,
            untrusted_comment: one_line(untrusted_comment),
            trusted_comment,
            global_sig,
        }
    }
}

#[cfg(feature = "sign")]
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

#[cfg(feature = "sign")]
fn decode_secret_key(text: &str, file: &str) -> Result<Zeroizing<Vec<u8>>, SignError> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let (Some(comment), Some(b64), None) = (lines.next(), lines.next(), lines.next()) else {
        return Err(format_err(
            file,
            "expected a minisign secret key: an `untrusted comment:` line and a base64 line",
        ));
    };
    if !comment.starts_with(UNTRUSTED_PREFIX) {
        return Err(format_err(
            file,
            "first line must start with `untrusted comment: `",
        ));
    }
    let raw = Zeroizing::new(
        B64.decode(b64.trim())
            .map_err(|e| format_err(file, format!("secret key is not valid base64: {e}")))?,
    );
    if raw.len() != SECRET_KEY_LEN {
        return Err(format_err(
            file,
            format!(
                "secret key is {} bytes, expected {SECRET_KEY_LEN}",
                raw.len()
            ),
        ));
    }
    if raw[..2] != SIG_ALG || raw[4..6] != CHK_BLAKE2 {
        return Err(format_err(
            file,
            "not an Ed25519 minisign secret key (algorithm bytes)",
        ));
    }
    Ok(raw)
}

fn read_text(path: &Path) -> Result<String, SignError> {
    std::fs::read_to_string(path).map_err(|source| SignError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// A `.minisig` signature.
#[derive(Clone, PartialEq, Eq)]
pub struct Signature {
    prehashed: bool,
    key_id: KeyId,
    sig: [u8; 64],
    untrusted_comment: String,
    trusted_comment: String,
    global_sig: [u8; 64],
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Signature(key {}, trusted comment {:?})",
            self.key_id, self.trusted_comment
        )
    }
}

impl Signature {
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    pub fn trusted_comment(&self) -> &str {
        &self.trusted_comment
    }

    pub fn untrusted_comment(&self) -> &str {
        &self.untrusted_comment
    }

    /// Parses a `.minisig` file. `file` names it in errors.
    pub fn parse(text: &[u8], file: &str) -> Result<Self, SignError> {
        let text = std::str::from_utf8(text)
            .map_err(|_| format_err(file, "signature file is not valid UTF-8"))?;
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() != 4 {
            return Err(format_err(
                file,
                format!(
                    "expected 4 lines (untrusted comment, signature, trusted comment, \
                     comment signature), found {}",
                    lines.len()
                ),
            ));
        }
        let untrusted_comment = lines[0]
            .strip_prefix(UNTRUSTED_PREFIX)
            .ok_or_else(|| format_err(file, "line 1 must start with `untrusted comment: `"))?;
        let raw = B64
            .decode(lines[1].trim())
            .map_err(|e| format_err(file, format!("line 2: invalid base64: {e}")))?;
        if raw.len() != 74 {
            return Err(format_err(
                file,
                format!("line 2: signature is {} bytes, expected 74", raw.len()),
            ));
        }
        let prehashed = match [raw[0], raw[1]] {
            SIG_ALG_PREHASHED => true,
            SIG_ALG => false,
            other => {
                return Err(format_err(
                    file,
                    format!("line 2: unknown signature algorithm {other:?}"),
                ))
            }
        };
        let trusted_comment = lines[2]
            .strip_prefix(TRUSTED_PREFIX)
            .ok_or_else(|| format_err(file, "line 3 must start with `trusted comment: `"))?;
        let global = B64
            .decode(lines[3].trim())
            .map_err(|e| format_err(file, format!("line 4: invalid base64: {e}")))?;
        let global_sig: [u8; 64] = global.as_slice().try_into().map_err(|_| {
            format_err(
                file,
                format!(
                    "line 4: comment signature is {} bytes, expected 64",
                    global.len()
                ),
            )
        })?;
        Ok(Signature {
            prehashed,
            key_id: KeyId(raw[2..10].try_into().expect("8 bytes")),
            sig: raw[10..74].try_into().expect("64 bytes"),
            untrusted_comment: untrusted_comment.to_string(),
            trusted_comment: trusted_comment.to_string(),
            global_sig,
        })
    }

    /// The `.minisig` file's contents.
    pub fn to_file_text(&self) -> String {
        let mut raw = Vec::with_capacity(74);
        raw.extend_from_slice(if self.prehashed {
            &SIG_ALG_PREHASHED
        } else {
            &SIG_ALG
        });
        raw.extend_from_slice(&self.key_id.0);
        raw.extend_from_slice(&self.sig);
        format!(
            "{UNTRUSTED_PREFIX}{}\n{}\n{TRUSTED_PREFIX}{}\n{}\n",
            self.untrusted_comment,
            B64.encode(raw),
            self.trusted_comment,
            B64.encode(self.global_sig)
        )
    }

    /// Checks the signature of `data` and of the trusted comment against
    /// `trusted`. `file` / `data_file` / `trusted_file` name things in errors.
    pub fn verify(
        &self,
        trusted: &PublicKey,
        data: &[u8],
        file: &str,
        data_file: &str,
        trusted_file: Option<&str>,
    ) -> Result<(), SignError> {
        if self.key_id != trusted.key_id {
            return Err(SignError::UntrustedKey {
                file: file.to_string(),
                signed_by: self.key_id,
                trusted: trusted.key_id,
                trusted_file: trusted_file.map(|f| format!(" ({f})")).unwrap_or_default(),
            });
        }
        let sig = ed25519_dalek::Signature::from_bytes(&self.sig);
        let ok = if self.prehashed {
            trusted.key.verify(&Blake2b512::digest(data), &sig).is_ok()
        } else {
            trusted.key.verify(data, &sig).is_ok()
        };
        if !ok {
            return Err(SignError::BadSignature {
                file: file.to_string(),
                data_file: data_file.to_string(),
            });
        }
        let mut global = Vec::with_capacity(64 + self.trusted_comment.len());
        global.extend_from_slice(&self.sig);
        global.extend_from_slice(self.trusted_comment.as_bytes());
        let global_sig = ed25519_dalek::Signature::from_bytes(&self.global_sig);
        if trusted.key.verify(&global, &global_sig).is_err() {
            return Err(SignError::BadCommentSignature {
                file: file.to_string(),
            });
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "sign"))]
mod tests {
    use super::*;

    #[test]
    fn libsodium_parameter_mapping() {
        let p = KdfParams::SENSITIVE.scrypt_params().unwrap();
        assert_eq!((p.log_n(), p.r(), p.p()), (20, 8, 1));
        let p = KdfParams::INTERACTIVE.scrypt_params().unwrap();
        assert_eq!((p.log_n(), p.r(), p.p()), (14, 8, 1));
        let hostile = KdfParams {
            opslimit: u64::MAX,
            memlimit: u64::MAX,
        };
        assert!(hostile.scrypt_params().is_err());
    }

    #[test]
    fn sign_verify_and_key_files_round_trip() {
        let sk = SecretKey::generate().unwrap();
        let text = sk
            .to_encrypted_file_text(b"pw", KdfParams::INTERACTIVE)
            .unwrap();
        assert!(SecretKey::file_is_encrypted(&text, "k").unwrap());
        let sk2 = SecretKey::parse(&text, b"pw", "k").unwrap();
        assert_eq!(sk2.public_key(), sk.public_key());
        let e = SecretKey::parse(&text, b"wrong", "mk.key").unwrap_err();
        assert!(matches!(e, SignError::WrongPassword { .. }), "{e}");

        let pk = PublicKey::parse(&sk.public_key().to_file_text(), "p").unwrap();
        let s = sk2.sign(b"data", "tc", "uc");
        // Deterministic: same key and data give the same file.
        assert_eq!(
            s.to_file_text(),
            sk.sign(b"data", "tc", "uc").to_file_text()
        );
        let s = Signature::parse(s.to_file_text().as_bytes(), "sig").unwrap();
        s.verify(&pk, b"data", "sig", "data", None).unwrap();
        let e = s.verify(&pk, b"datA", "sig", "data", None).unwrap_err();
        assert!(matches!(e, SignError::BadSignature { .. }), "{e}");
        let other = SecretKey::generate().unwrap().public_key();
        let e = s.verify(&other, b"data", "sig", "data", None).unwrap_err();
        assert!(
            e.to_string()
                .contains(&format!("signed by key ID {}", sk.key_id())),
            "{e}"
        );
        let mut forged = s.clone();
        forged.trusted_comment = "tc2".into();
        let e = forged
            .verify(&pk, b"data", "sig", "data", None)
            .unwrap_err();
        assert!(matches!(e, SignError::BadCommentSignature { .. }), "{e}");
    }
}
