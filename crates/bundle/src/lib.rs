//! The offline bundle: a manifest of every file's SHA-256, its minisign
//! signature, the ISO 9660 image that carries them, and verification of an
//! ISO read directly (no mount).
