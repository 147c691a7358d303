//! Private keys: generation, PKCS#8 (clear and password-encrypted), and the
//! signing interface rcgen uses.
//!
//! Keys are RustCrypto types rather than ring's: ring draws its own
//! randomness through `getrandom` (see [`crate::entropy`] for why nodes must
//! not), while here key material comes from /dev/urandom and signing is
//! deterministic (RFC 6979 ECDSA, Ed25519).

use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use pkcs8::der::Decode;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::entropy;

/// PBKDF2-HMAC-SHA256 rounds for encrypted root keys. OWASP's 2023 figure for
/// PBKDF2-SHA256; roots are opened rarely, so a slow open is fine.
pub const PBKDF2_ROUNDS: u32 = 600_000;

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_ED25519: &str = "1.3.101.112";

/// Key algorithm of a certificate's key pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 with SHA-256: understood by every consumer,
    /// including CentOS 7's OpenSSL 1.0.2 and browsers.
    #[default]
    EcdsaP256,
    /// Ed25519: smaller and faster; Go (etcd, Kubernetes) and OpenSSL >= 1.1.1
    /// accept it, but not OpenSSL 1.0.2, browsers, or Kubernetes service
    /// account tokens.
    Ed25519,
}

impl KeyAlgorithm {
    /// The algorithm of a SubjectPublicKeyInfo, from its algorithm OID and
    /// (for EC keys) its curve OID, both dotted; `None` for anything mk does
    /// not make.
    pub fn from_spki_oids(algorithm: &str, curve: Option<&str>) -> Option<KeyAlgorithm> {
        match (algorithm, curve) {
            (OID_EC_PUBLIC_KEY, Some(OID_P256)) => Some(KeyAlgorithm::EcdsaP256),
            (OID_ED25519, _) => Some(KeyAlgorithm::Ed25519),
            _ => None,
        }
    }
}

impl std::fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::Ed25519 => "ed25519",
        })
    }
}

impl std::str::FromStr for KeyAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ecdsa-p256" | "p256" | "ecdsa" => Ok(KeyAlgorithm::EcdsaP256),
            "ed25519" => Ok(KeyAlgorithm::Ed25519),
            other => Err(format!(
                "unknown key algorithm {other:?}: expected ecdsa-p256 or ed25519"
            )),
        }
    }
}

/// Errors reading, writing or generating keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Entropy(#[from] entropy::EntropyError),
    #[error("corrupt or truncated key: not a PEM document ({0})")]
    NotPem(String),
    #[error("PEM block is {found:?}, expected {expected:?}")]
    WrongLabel {
        found: String,
        expected: &'static str,
    },
    #[error("corrupt or truncated key: {0}")]
    Malformed(String),
    #[error("cannot decrypt the key: wrong password (or the encrypted data is damaged)")]
    WrongPassword,
    #[error("unsupported key algorithm {0} (expected ECDSA P-256 or Ed25519)")]
    Unsupported(String),
    #[error("encrypting the key: {0}")]
    Encrypt(String),
}

enum Inner {
    P256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

/// A private key with its public half.
pub struct PrivateKey {
    inner: Inner,
    /// Raw public key as it appears in SubjectPublicKeyInfo's BIT STRING.
    public: Vec<u8>,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PrivateKey({}, public {})",
            self.algorithm(),
            hex::encode(&self.public)
        )
    }
}

impl PrivateKey {
    /// A fresh key from /dev/urandom.
    pub fn generate(alg: KeyAlgorithm) -> Result<Self, KeyError> {
        match alg {
            KeyAlgorithm::EcdsaP256 => loop {
                // Rejection sampling: a 256-bit string is a valid scalar unless
                // it is zero or >= the group order (probability ~2^-32).
                let bytes = Zeroizing::new(entropy::bytes::<32>()?);
                if let Ok(sk) = p256::ecdsa::SigningKey::from_slice(bytes.as_ref()) {
                    return Ok(Self::from_p256(sk));
                }
            },
            KeyAlgorithm::Ed25519 => {
                let seed = Zeroizing::new(entropy::bytes::<32>()?);
                Ok(Self::from_ed25519(ed25519_dalek::SigningKey::from_bytes(
                    &seed,
                )))
            }
        }
    }

    fn from_p256(sk: p256::ecdsa::SigningKey) -> Self {
        let public = sk
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        PrivateKey {
            inner: Inner::P256(sk),
            public,
        }
    }

    fn from_ed25519(sk: ed25519_dalek::SigningKey) -> Self {
        let public = sk.verifying_key().to_bytes().to_vec();
        PrivateKey {
            inner: Inner::Ed25519(sk),
            public,
        }
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        match self.inner {
            Inner::P256(_) => KeyAlgorithm::EcdsaP256,
            Inner::Ed25519(_) => KeyAlgorithm::Ed25519,
        }
    }

    /// Subject key identifier: SHA-256 of the public key truncated to 160
    /// bits (RFC 7093 section 2, method 1).
    pub fn key_id(&self) -> Vec<u8> {
        Sha256::digest(&self.public)[..20].to_vec()
    }

    /// Unencrypted PKCS#8 DER.
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        let doc = match &self.inner {
            Inner::P256(sk) => p256::SecretKey::from(sk)
                .to_pkcs8_der()
                .expect("P-256 PKCS#8 encoding cannot fail"),
            // Without the optional public key (PKCS#8 v1): OpenSSL 3 refuses
            // the v2 form ed25519-dalek writes with it.
            Inner::Ed25519(sk) => ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: sk.to_bytes(),
                public_key: None,
            }
            .to_pkcs8_der()
            .expect("Ed25519 PKCS#8 encoding cannot fail"),
        };
        Zeroizing::new(doc.as_bytes().to_vec())
    }

    /// Unencrypted PKCS#8 PEM ("PRIVATE KEY"), for online keys.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        let der = self.to_pkcs8_der();
        Zeroizing::new(pem_encode("PRIVATE KEY", &der))
    }

    /// Password-encrypted PKCS#8 PEM ("ENCRYPTED PRIVATE KEY"): PBES2 with
    /// PBKDF2-HMAC-SHA256 and AES-256-CBC. Not scrypt, the `pkcs8` crate's
    /// default: CentOS 7's OpenSSL 1.0.2 cannot read scrypt.
    pub fn to_encrypted_pem(&self, password: &[u8], rounds: u32) -> Result<String, KeyError> {
        let salt = entropy::bytes::<16>()?;
        let iv = entropy::bytes::<16>()?;
        let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(rounds, &salt, &iv)
            .map_err(|e| KeyError::Encrypt(e.to_string()))?;
        let der = self.to_pkcs8_der();
        let info =
            pkcs8::PrivateKeyInfo::from_der(&der).map_err(|e| KeyError::Encrypt(e.to_string()))?;
        let enc = info
            .encrypt_with_params(params, password)
            .map_err(|e| KeyError::Encrypt(e.to_string()))?;
        Ok(pem_encode("ENCRYPTED PRIVATE KEY", enc.as_bytes()))
    }

    /// Parse unencrypted PKCS#8 DER (ECDSA P-256 or Ed25519).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let info =
            pkcs8::PrivateKeyInfo::from_der(der).map_err(|e| KeyError::Malformed(e.to_string()))?;
        let alg = info.algorithm.oid.to_string();
        match alg.as_str() {
            OID_EC_PUBLIC_KEY => {
                let curve = info
                    .algorithm
                    .parameters_oid()
                    .map(|o| o.to_string())
                    .unwrap_or_default();
                if curve != OID_P256 {
                    return Err(KeyError::Unsupported(format!("EC curve {curve}")));
                }
                let sk = p256::SecretKey::from_pkcs8_der(der)
                    .map_err(|e| KeyError::Malformed(e.to_string()))?;
                Ok(Self::from_p256(sk.into()))
            }
            OID_ED25519 => {
                let sk = ed25519_dalek::SigningKey::from_pkcs8_der(der)
                    .map_err(|e| KeyError::Malformed(e.to_string()))?;
                Ok(Self::from_ed25519(sk))
            }
            other => Err(KeyError::Unsupported(other.to_string())),
        }
    }

    /// Parse an unencrypted "PRIVATE KEY" PEM document. Certificates in the
    /// same file (a combined PEM) are skipped.
    pub fn from_pkcs8_pem(text: &str) -> Result<Self, KeyError> {
        let blocks = pem::parse_many(text).map_err(|e| KeyError::NotPem(e.to_string()))?;
        let key = blocks
            .iter()
            .find(|b| b.tag() != "CERTIFICATE")
            .ok_or_else(|| KeyError::NotPem("no PRIVATE KEY block".into()))?;
        if key.tag() != "PRIVATE KEY" {
            return Err(KeyError::WrongLabel {
                found: key.tag().to_string(),
                expected: "PRIVATE KEY",
            });
        }
        Self::from_pkcs8_der(key.contents())
    }

    /// Decrypt an "ENCRYPTED PRIVATE KEY" PEM document.
    pub fn from_encrypted_pem(text: &str, password: &[u8]) -> Result<Self, KeyError> {
        let block = pem::parse(text).map_err(|e| KeyError::NotPem(e.to_string()))?;
        if block.tag() != "ENCRYPTED PRIVATE KEY" {
            return Err(KeyError::WrongLabel {
                found: block.tag().to_string(),
                expected: "ENCRYPTED PRIVATE KEY",
            });
        }
        let enc = pkcs8::EncryptedPrivateKeyInfo::from_der(block.contents())
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        // A wrong password shows as bad CBC padding or, rarely, as padding
        // that happens to check out around garbage that is not PKCS#8.
        let der = enc.decrypt(password).map_err(|_| KeyError::WrongPassword)?;
        Self::from_pkcs8_der(der.as_bytes()).map_err(|e| match e {
            KeyError::Malformed(_) => KeyError::WrongPassword,
            other => other,
        })
    }

    /// SubjectPublicKeyInfo DER.
    pub fn public_key_der(&self) -> Vec<u8> {
        rcgen::PublicKeyData::subject_public_key_info(self)
    }

    /// SubjectPublicKeyInfo PEM ("PUBLIC KEY"), e.g. sa.pub.
    pub fn public_key_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.public_key_der())
    }
}

pub(crate) fn pem_encode(tag: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(tag, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

impl rcgen::PublicKeyData for PrivateKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self.inner {
            Inner::P256(_) => &rcgen::PKCS_ECDSA_P256_SHA256,
            Inner::Ed25519(_) => &rcgen::PKCS_ED25519,
        }
    }
}

impl rcgen::SigningKey for PrivateKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        use p256::ecdsa::signature::Signer;
        Ok(match &self.inner {
            Inner::P256(sk) => {
                let sig: p256::ecdsa::Signature = sk.sign(msg);
                sig.to_der().as_bytes().to_vec()
            }
            Inner::Ed25519(sk) => sk.sign(msg).to_bytes().to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs8_round_trip_both_algorithms() {
        for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519] {
            let k = PrivateKey::generate(alg).unwrap();
            let back = PrivateKey::from_pkcs8_pem(&k.to_pkcs8_pem()).unwrap();
            assert_eq!(back.algorithm(), alg);
            assert_eq!(back.public, k.public);
        }
    }

    #[test]
    fn encrypted_round_trip_and_wrong_password() {
        let k = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let pem = k.to_encrypted_pem(b"correct horse", 1000).unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        let back = PrivateKey::from_encrypted_pem(&pem, b"correct horse").unwrap();
        assert_eq!(back.public, k.public);
        let err = PrivateKey::from_encrypted_pem(&pem, b"wrong").unwrap_err();
        assert!(matches!(err, KeyError::WrongPassword), "{err}");
    }

    #[test]
    fn truncated_key_is_a_clear_error() {
        let k = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let pem = k.to_encrypted_pem(b"pw", 1000).unwrap();
        let cut = &pem[..pem.len() / 2];
        let err = PrivateKey::from_encrypted_pem(cut, b"pw").unwrap_err();
        assert!(matches!(err, KeyError::NotPem(_)), "{err}");
        let clear = k.to_pkcs8_pem();
        let lines: Vec<&str> = clear.lines().collect();
        // Drop a base64 line but keep the armour: the DER inside is short.
        let damaged = format!("{}\n{}\n", lines[0], lines[lines.len() - 1]);
        assert!(PrivateKey::from_pkcs8_pem(&damaged).is_err());
    }

    #[test]
    fn fresh_keys_differ() {
        let a = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let b = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        assert_ne!(a.public, b.public);
    }
}
