//! `Idempotency-Key` on creates: the same key with the same request answers the stored
//! response again and records nothing; the same key with another request is refused. A
//! create [`begin`]s inside the one transaction that does its work and stores its response
//! there with [`complete`], so the claim lives exactly as long as that transaction: work that
//! fails or dies (process killed, database connection lost) leaves the key free for the
//! retry, and a request that arrives while the first is still running waits for its outcome
//! (see `store::idempotency`).

use sea_orm::ConnectionTrait;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Core, Error, now};
use crate::store::{
    self,
    idempotency::{Claim, StoredResponse},
};

/// A response that can be stored with its key and sent again.
pub trait Replayable: Sized {
    fn to_stored(&self) -> String;
    fn from_stored(text: &str) -> Result<Self, String>;
}

/// A created resource, or the stored answer of an earlier identical request.
#[derive(Debug)]
pub struct Created<T> {
    pub body: T,
    pub location: String,
    /// True when this is a stored response sent again.
    pub replayed: bool,
}

/// A checked key and the fingerprint of the request that carries it.
#[derive(Debug, Clone)]
pub struct Key {
    key: String,
    fingerprint: String,
}

impl Key {
    /// The key as the client sent it.
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// The fingerprint of the request that carries it.
    pub(crate) fn request_fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// `header` must be 1–255 visible ASCII characters. `operation` and the request's JSON
    /// make the fingerprint (key order and spacing do not matter).
    pub fn new(
        header: Option<&str>,
        operation: &str,
        request: &serde_json::Value,
    ) -> Result<Option<Key>, Error> {
        let Some(key) = header else {
            return Ok(None);
        };
        check(key)?;
        Ok(Some(Key {
            key: key.to_owned(),
            fingerprint: fingerprint(operation, request),
        }))
    }
}

/// 1–255 visible ASCII characters.
pub fn check(key: &str) -> Result<(), Error> {
    if !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(Error::BadRequest {
            kind: "invalid-idempotency-key",
            detail: "Idempotency-Key must be 1-255 visible ASCII characters".to_owned(),
        })
    }
}

/// SHA-256 over the operation and the body with object keys sorted, so the same JSON
/// written with another key order or spacing is the same request.
pub fn fingerprint(operation: &str, body: &serde_json::Value) -> String {
    fn canonical(value: &serde_json::Value, out: &mut String) {
        match value {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String(key.clone()).to_string());
                    out.push(':');
                    if let Some(v) = map.get(key) {
                        canonical(v, out);
                    }
                }
                out.push('}');
            }
            serde_json::Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    canonical(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut text = String::from(operation);
    text.push('\n');
    canonical(body, &mut text);
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Claims `key` for organization `org` inside `txn`, the transaction that will do the work:
/// `Some` stored answer when the request was made before (the caller ends `txn` without
/// writing), `None` when the caller should do the work there.
pub async fn begin<C: ConnectionTrait, T: Replayable>(
    core: &Core,
    txn: &C,
    org: Uuid,
    key: Option<&Key>,
) -> Result<Option<Created<T>>, Error> {
    let Some(key) = key else {
        return Ok(None);
    };
    let claim = store::idempotency::claim(
        txn,
        org,
        &key.key,
        &key.fingerprint,
        core.idempotency_ttl,
        now(),
    )
    .await?;
    match claim {
        Claim::Acquired => Ok(None),
        Claim::Replay(stored) => Ok(Some(Created {
            body: T::from_stored(&stored.body).map_err(Error::Internal)?,
            location: stored.location.unwrap_or_default(),
            replayed: true,
        })),
        Claim::Mismatch => Err(Error::unprocessable(
            "idempotency-key-reused",
            "this Idempotency-Key was used with a different request",
        )),
    }
}

/// Stores the answer with the key, in the transaction that did the work.
pub async fn complete<C: ConnectionTrait, T: Replayable>(
    txn: &C,
    org: Uuid,
    key: Option<&Key>,
    created: &Created<T>,
) -> Result<(), Error> {
    if let Some(key) = key {
        store::idempotency::complete(txn, org, &key.key, &stored(created)).await?;
    }
    Ok(())
}

/// What [`complete`] stores with the key for `created`.
pub(crate) fn stored<T: Replayable>(created: &Created<T>) -> StoredResponse {
    StoredResponse {
        status: 201,
        body: created.body.to_stored(),
        location: Some(created.location.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> serde_json::Value {
        serde_json::from_str(text).expect("valid JSON")
    }

    #[test]
    fn fingerprint_ignores_key_order_and_spacing() {
        let a = json(r#"{"a":1,"b":{"y":2,"x":[1,2]}}"#);
        let b = json(r#"{ "b": {"x": [1, 2], "y": 2}, "a": 1 }"#);
        assert_eq!(fingerprint("op", &a), fingerprint("op", &b));
        assert_ne!(fingerprint("op", &a), fingerprint("other", &a));
        assert_ne!(
            fingerprint("op", &a),
            fingerprint("op", &json(r#"{"a":2}"#))
        );
    }

    #[test]
    fn keys_are_visible_ascii() {
        assert!(check("release-v1.4.0").is_ok());
        for bad in ["", "café-1", "a b", &"k".repeat(256)] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
