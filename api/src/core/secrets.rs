//! Secrets the service must read back in clear (webhook secrets verify HMACs; outbound ones
//! sign), kept in the database sealed under `DORA_SECRET_KEY`, and the constant-time checks
//! of what deliveries present.
//!
//! A sealed value is `base64url(version ‖ key id ‖ nonce ‖ ciphertext+tag)`:
//! - `version` (1 byte): 1 = XChaCha20-Poly1305 with a 24-byte random nonce;
//! - `key id` (4 bytes): the first bytes of SHA-256 of the key, so a value sealed under
//!   another key is named as such instead of failing as "corrupt" (and a later key rotation
//!   can pick the key by id);
//! - the associated data is a context string (e.g. `integration:<id>`), so a sealed value
//!   copied onto another row does not open there.
//!
//! The database alone therefore reveals no secret; the key is never logged or printed.

use std::{fmt, fs, io::Write, path::Path};

use base64::Engine;
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit, Payload},
};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::Secret;

const VERSION_XCHACHA20POLY1305: u8 = 1;
const KEY_ID_BYTES: usize = 4;
const NONCE_BYTES: usize = 24;
const KEY_BYTES: usize = 32;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The key that seals stored secrets (`DORA_SECRET_KEY`): 32 bytes. Never printed.
#[derive(Clone)]
pub struct SecretKey {
    bytes: [u8; KEY_BYTES],
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

impl SecretKey {
    /// 64 hexadecimal digits, or 32 bytes in base64 (standard or URL-safe, padded or not).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = if text.len() == 2 * KEY_BYTES && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|e| e.to_string())?
        } else {
            let unpadded = text.trim_end_matches('=');
            B64.decode(unpadded.replace('+', "-").replace('/', "_"))
                .map_err(|_| {
                    "must be 32 bytes as 64 hexadecimal digits or base64 (e.g. `openssl rand -hex 32`)"
                        .to_owned()
                })?
        };
        let bytes: [u8; KEY_BYTES] = bytes.try_into().map_err(|b: Vec<u8>| {
            format!(
                "is {} bytes; it must be exactly {KEY_BYTES} (e.g. `openssl rand -hex 32`)",
                b.len()
            )
        })?;
        Ok(Self { bytes })
    }

    /// A new random key and its text form (hex).
    pub fn generate() -> (Self, Secret) {
        let mut bytes = [0u8; KEY_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        let text = Secret::new(hex::encode(bytes));
        (Self { bytes }, text)
    }

    fn id(&self) -> [u8; KEY_ID_BYTES] {
        let digest = Sha256::digest(self.bytes);
        let mut id = [0u8; KEY_ID_BYTES];
        id.copy_from_slice(&digest[..KEY_ID_BYTES]);
        id
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.bytes.into())
    }
}

/// Why a sealed value does not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the sealed value is malformed")]
    Malformed,
    #[error("the sealed value has an unknown format version {0}")]
    UnknownVersion(u8),
    #[error("the value was sealed under another DORA_SECRET_KEY (key id {0}); restore that key")]
    OtherKey(String),
    #[error("the sealed value does not authenticate (altered, or sealed for another record)")]
    Unauthentic,
}

/// Seals `secret` for the record named by `context`.
pub fn seal(key: &SecretKey, secret: &Secret, context: &str) -> Result<String, SecretError> {
    let mut nonce = [0u8; NONCE_BYTES];
    rand::rng().fill_bytes(&mut nonce);
    let ciphertext = key
        .cipher()
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: secret.expose().as_bytes(),
                aad: context.as_bytes(),
            },
        )
        .map_err(|_| SecretError::Unauthentic)?;
    let mut out = Vec::with_capacity(1 + KEY_ID_BYTES + NONCE_BYTES + ciphertext.len());
    out.push(VERSION_XCHACHA20POLY1305);
    out.extend_from_slice(&key.id());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(B64.encode(out))
}

/// Opens a value [`seal`]ed for `context`.
pub fn open(key: &SecretKey, sealed: &str, context: &str) -> Result<Secret, SecretError> {
    let bytes = B64.decode(sealed).map_err(|_| SecretError::Malformed)?;
    let (&version, rest) = bytes.split_first().ok_or(SecretError::Malformed)?;
    if version != VERSION_XCHACHA20POLY1305 {
        return Err(SecretError::UnknownVersion(version));
    }
    if rest.len() < KEY_ID_BYTES + NONCE_BYTES {
        return Err(SecretError::Malformed);
    }
    let (id, rest) = rest.split_at(KEY_ID_BYTES);
    if id != key.id() {
        return Err(SecretError::OtherKey(hex::encode(id)));
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_BYTES);
    let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| SecretError::Malformed)?;
    let plain = key
        .cipher()
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad: context.as_bytes(),
            },
        )
        .map_err(|_| SecretError::Unauthentic)?;
    String::from_utf8(plain)
        .map(Secret::new)
        .map_err(|_| SecretError::Malformed)
}

/// A new random secret to hand out: 32 random bytes (256 bits), URL-safe base64.
pub fn new_token() -> Secret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(B64.encode(bytes))
}

/// `sha256=<hex>` of HMAC-SHA256(`secret`, `body`), as GitHub's `X-Hub-Signature-256`.
pub fn hmac_sha256_header(secret: &Secret, body: &[u8]) -> String {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `secret`, compared in
/// constant time.
pub fn verify_hmac_sha256(secret: &Secret, body: &[u8], header: &str) -> bool {
    let Some(given) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(given) = hex::decode(given) else {
        return false;
    };
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(secret.expose().as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return false,
    };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// Whether any `v1=<hex>` signature of PagerDuty's `X-PagerDuty-Signature` header (one or more,
/// comma-separated while PagerDuty rotates its secret) is the HMAC-SHA256 of `body` under
/// `secret`. Each is compared in constant time; signatures of other versions are skipped.
pub fn verify_pagerduty_signature(secret: &Secret, body: &[u8], header: &str) -> bool {
    let mut valid = false;
    for signature in header.split(',').take(16) {
        let Some(given) = signature.trim().strip_prefix("v1=") else {
            continue;
        };
        let Ok(given) = hex::decode(given) else {
            continue;
        };
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose().as_bytes()) else {
            return false;
        };
        mac.update(body);
        valid |= mac.verify_slice(&given).is_ok();
    }
    valid
}

/// Whether `given` is `secret`, in constant time (the digests are compared, so the length
/// leaks nothing either).
pub fn token_matches(secret: &Secret, given: &str) -> bool {
    let a = Sha256::digest(secret.expose().as_bytes());
    let b = Sha256::digest(given.as_bytes());
    bool::from(a.ct_eq(&b))
}

/// The key kept in `path`, made (random, mode 0600) when there is none. The error says what
/// went wrong with the file.
pub fn load_or_create_key(path: &Path) -> Result<SecretKey, String> {
    let read = |path: &Path| {
        fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|text| {
                SecretKey::parse(&text).map_err(|e| format!("the key in {} {e}", path.display()))
            })
    };
    match fs::metadata(path) {
        Ok(_) => return read(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(format!(
                "unset, and the kept key {} cannot be read: {e}",
                path.display()
            ));
        }
    }
    let (key, text) = SecretKey::generate();
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let write = options
        .open(path)
        .and_then(|mut file| file.write_all(text.expose().as_bytes()));
    match write {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated a secret-sealing key (mode 0600)");
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(format!(
            "unset, and a key cannot be written to {}: {e}",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::parse(&"ab".repeat(32)).expect("64 hex digits")
    }

    #[test]
    fn pagerduty_signatures() {
        let secret = Secret::new("pd-secret-0123456789");
        let body = br#"{"event":{}}"#;
        let good = hmac_sha256_header(&secret, body).replace("sha256=", "v1=");
        let other =
            hmac_sha256_header(&Secret::new("another-secret-0123"), body).replace("sha256=", "v1=");
        assert!(verify_pagerduty_signature(&secret, body, &good));
        assert!(verify_pagerduty_signature(
            &secret,
            body,
            &format!("{other},{good}")
        ));
        assert!(verify_pagerduty_signature(
            &secret,
            body,
            &format!("{good}, {other}")
        ));
        assert!(!verify_pagerduty_signature(&secret, body, &other));
        assert!(!verify_pagerduty_signature(&secret, b"{}", &good));
        assert!(!verify_pagerduty_signature(
            &secret,
            body,
            &good.replace("v1=", "v2=")
        ));
        assert!(!verify_pagerduty_signature(&secret, body, ""));
    }

    #[test]
    fn seals_and_opens_for_one_context() {
        let secret = Secret::new("s3cret-value");
        let sealed = seal(&key(), &secret, "integration:1").expect("seals");
        assert!(!sealed.contains("s3cret"));
        assert_ne!(
            sealed,
            seal(&key(), &secret, "integration:1").expect("seals")
        );
        assert_eq!(open(&key(), &sealed, "integration:1"), Ok(secret));
        assert_eq!(
            open(&key(), &sealed, "integration:2"),
            Err(SecretError::Unauthentic)
        );
        let (other, _) = SecretKey::generate();
        assert!(matches!(
            open(&other, &sealed, "integration:1"),
            Err(SecretError::OtherKey(_))
        ));
        let mut bytes = B64.decode(&sealed).expect("base64");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(
            open(&key(), &B64.encode(&bytes), "integration:1"),
            Err(SecretError::Unauthentic)
        );
        bytes[0] = 9;
        assert_eq!(
            open(&key(), &B64.encode(&bytes), "integration:1"),
            Err(SecretError::UnknownVersion(9))
        );
    }

    #[test]
    fn keys_parse_and_never_print() {
        assert!(SecretKey::parse(&B64.encode([7u8; 32])).is_ok());
        assert!(
            SecretKey::parse(&base64::engine::general_purpose::STANDARD.encode([7u8; 32])).is_ok()
        );
        assert!(SecretKey::parse("short").is_err());
        assert!(SecretKey::parse(&"ab".repeat(31)).is_err());
        assert_eq!(format!("{:?}", key()), "SecretKey([redacted])");
    }

    #[test]
    fn a_generated_key_is_kept_with_mode_0600_and_read_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("dora.db.secret-key");
        let made = load_or_create_key(&path).expect("made");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("exists").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = load_or_create_key(&path).expect("read back");
        let sealed = seal(&made, &Secret::new("x"), "c").expect("seals");
        assert_eq!(open(&again, &sealed, "c"), Ok(Secret::new("x")));
        fs::write(&path, "garbage").expect("writable");
        assert!(load_or_create_key(&path).is_err());
    }

    #[test]
    fn github_signatures() {
        // The example of GitHub's "Validating webhook deliveries" documentation.
        let secret = Secret::new("It's a Secret to Everybody");
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(hmac_sha256_header(&secret, b"Hello, World!"), header);
        assert!(verify_hmac_sha256(&secret, b"Hello, World!", header));
        assert!(!verify_hmac_sha256(&secret, b"Hello, World?", header));
        assert!(!verify_hmac_sha256(&secret, b"Hello, World!", "sha1=abc"));
        assert!(!verify_hmac_sha256(&secret, b"Hello, World!", "sha256=zz"));
        assert!(token_matches(&Secret::new("t"), "t"));
        assert!(!token_matches(&Secret::new("t"), "tt"));
    }
}
