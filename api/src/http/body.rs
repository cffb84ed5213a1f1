//! `JsonBody<T>`: a JSON request body that reports every structural problem with the
//! field it concerns (`serde_path_to_error`), rejects unknown fields, enforces the body
//! size limit while reading (chunked bodies included), and keeps the parsed JSON value so
//! idempotency can fingerprint the request.

use poem::{Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    error::ContentTypeError,
    payload::{ParsePayload, Payload},
    registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry},
    types::{ParseFromJSON, Type},
};
use serde::de::DeserializeOwned;
use tokio::io::AsyncReadExt;

use super::error::{Failure, describe_rule};
use crate::domain::{FieldError, check_json_text, check_query_text};

/// The largest body accepted, set once by the app and read by every `JsonBody`.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

/// Answers 413 before reading when `Content-Length` announces more than the limit (bodies
/// without a length are capped while they are read, by `JsonBody`).
pub async fn reject_large_bodies<E: poem::Endpoint>(
    ep: E,
    req: Request,
) -> poem::Result<poem::Response> {
    use poem::IntoResponse;
    let limit = req
        .data::<BodyLimit>()
        .copied()
        .unwrap_or(BodyLimit(1024 * 1024))
        .0;
    if super::STREAMED_BODY_PATHS.contains(&req.uri().path()) {
        return Ok(ep.call(req).await?.into_response());
    }
    let announced = req
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(Failure::payload_too_large(limit).into());
    }
    Ok(ep.call(req).await?.into_response())
}

/// The text rule (`domain::text`) for what no `JsonBody` reads: every query string (400
/// `invalid-parameter` naming the parameter) and every `application/x-www-form-urlencoded`
/// body (the web page's forms: 422 naming the field), on every route, before any handler.
pub async fn refuse_control_characters<E: poem::Endpoint>(
    ep: E,
    mut req: Request,
) -> poem::Result<poem::Response> {
    use poem::IntoResponse;
    if let Some((name, message)) = req.uri().query().and_then(check_query_text) {
        return Err(Failure::invalid_parameter(&name, message).into());
    }
    let is_form = req
        .content_type()
        .and_then(|ct| ct.parse::<mime::Mime>().ok())
        .is_some_and(|ct| ct.essence_str() == "application/x-www-form-urlencoded");
    if is_form {
        let limit = req
            .data::<BodyLimit>()
            .copied()
            .unwrap_or(BodyLimit(1024 * 1024))
            .0;
        let bytes = req
            .take_body()
            .into_bytes_limit(limit)
            .await
            .map_err(|_| Failure::payload_too_large(limit))?;
        if let Some((name, message)) = check_query_text(&String::from_utf8_lossy(&bytes)) {
            return Err(Failure::validation(vec![FieldError::new(name, message)]).into());
        }
        req.set_body(bytes);
    }
    Ok(ep.call(req).await?.into_response())
}

/// Whether a media type's `charset`, if it has one, is UTF-8 (JSON is UTF-8, RFC 8259; so
/// are the NDJSON bodies of imports).
pub fn utf8_or_no_charset(ct: &mime::Mime) -> bool {
    ct.get_param(mime::CHARSET)
        .is_none_or(|c| c.as_str().eq_ignore_ascii_case("utf-8"))
}

pub struct JsonBody<T> {
    pub value: T,
    /// The request as parsed JSON (for idempotency fingerprints).
    pub json: serde_json::Value,
}

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn check_content_type(content_type: &str) -> bool {
        // A charset other than UTF-8 is refused (415), not silently read as UTF-8.
        matches!(content_type.parse::<mime::Mime>(),
            Ok(ct) if ct.type_() == "application"
                && (ct.subtype() == "json" || ct.suffix().is_some_and(|s| s == "json"))
                && utf8_or_no_charset(&ct))
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type + ParseFromJSON + DeserializeOwned> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let limit = request
            .data::<BodyLimit>()
            .copied()
            .unwrap_or(BodyLimit(1024 * 1024))
            .0;
        let mut bytes = Vec::new();
        let reader = body.take()?.into_async_read();
        reader
            .take(limit as u64 + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| {
                // The server's body-read timeout (`http::server`) fails the read this way.
                let (status, kind) = if e.kind() == std::io::ErrorKind::TimedOut {
                    (poem::http::StatusCode::REQUEST_TIMEOUT, "body-read-timeout")
                } else {
                    (poem::http::StatusCode::BAD_REQUEST, "unreadable-body")
                };
                Failure::new(status, kind, e.to_string())
            })?;
        if bytes.len() > limit {
            return Err(Failure::payload_too_large(limit).into());
        }
        Ok(Self::parse(&bytes)?)
    }
}

impl<T: Type + ParseFromJSON + DeserializeOwned> JsonBody<T> {
    pub fn parse(bytes: &[u8]) -> Result<Self, Failure> {
        Self::from_value(parse_unique_keys(bytes)?)
    }

    /// [`Self::parse`] of JSON already parsed (with [`parse_unique_keys`]).
    pub fn from_value(json: serde_json::Value) -> Result<Self, Failure> {
        if !json.is_object() {
            return Err(Failure::validation(vec![FieldError::new(
                "$",
                "the body must be a JSON object",
            )]));
        }
        // Every string, whatever the field: the text rule (`domain::text`).
        let refused = check_json_text(&json);
        if !refused.is_empty() {
            return Err(Failure::validation(refused));
        }
        // Structure first, with the path of the offending field. serde is the reader of the
        // structure: poem-openapi's parse alone is laxer (it takes `[false]` for a list of
        // strings, as schemathesis found), so both run; serde's value is the one used.
        let value: T = serde_path_to_error::deserialize(&json).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            Failure::validation(vec![field_error_from_serde(&path, &inner)])
        })?;
        // Then the declared validators (lengths, ranges) of the schema.
        T::parse_from_json(Some(json.clone()))
            .map_err(|e| Failure::validation(vec![field_error_from_openapi(&e.into_message())]))?;
        Ok(Self { value, json })
    }
}

/// JSON text → value, refusing an object that names a key twice (422 naming it): serde_json
/// would keep the last, so two readers of one body could disagree on what it says.
pub fn parse_unique_keys(bytes: &[u8]) -> Result<serde_json::Value, Failure> {
    let malformed = |e: serde_json::Error| {
        Failure::new(
            poem::http::StatusCode::BAD_REQUEST,
            "malformed-json",
            format!("the body is not valid JSON: {e}"),
        )
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, UniqueKeys>(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() && inner.to_string().starts_with(DUPLICATE) {
            Failure::validation(vec![field_error_from_serde(&path, &inner.to_string())])
        } else {
            malformed(inner)
        }
    })?;
    de.end().map_err(malformed)?;
    Ok(value.0)
}

const DUPLICATE: &str = "duplicate field `";

/// A JSON value whose objects have unique keys.
struct UniqueKeys(serde_json::Value);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor).map(UniqueKeys)
    }
}

struct UniqueVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(UniqueKeys(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(serde_json::Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("{DUPLICATE}{key}`")));
            }
            let UniqueKeys(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(serde_json::Value::Object(object))
    }
}

/// serde reports a missing or unknown field at the parent's path, naming it in the text.
fn field_error_from_serde(path: &str, message: &str) -> FieldError {
    let named = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    let join = |name: String| {
        if path == "." || path.is_empty() {
            name
        } else {
            format!("{path}.{name}")
        }
    };
    if let Some(name) = named("missing field `") {
        return FieldError::new(join(name), "is required");
    }
    if let Some(name) = named(DUPLICATE) {
        return FieldError::new(join(name), "appears more than once in the object");
    }
    if message.starts_with("unknown field `") {
        // Here the path already ends with the unknown field's name.
        return FieldError::new(path.to_owned(), "is not a known field");
    }
    let field = if path == "." || path.is_empty() {
        "$".to_owned()
    } else {
        path.to_owned()
    };
    FieldError::new(field, message.to_owned())
}

/// poem-openapi validator failures read "field `x` verification failed. maxLength(10)".
fn field_error_from_openapi(message: &str) -> FieldError {
    if let Some(rest) = message.split("field `").nth(1)
        && let Some((name, tail)) = rest.split_once('`')
    {
        let tail = tail.split(" (occurred while").next().unwrap_or(tail);
        let rule = tail
            .trim()
            .trim_start_matches("verification failed.")
            .trim();
        return FieldError::new(name, describe_rule(rule));
    }
    FieldError::new("$", message.to_owned())
}

impl<'a, T: Type + ParseFromJSON + DeserializeOwned> ApiExtractor<'a> for JsonBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(ct) if Self::check_content_type(ct) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            Some(ct) => Err(ContentTypeError::NotSupported {
                content_type: ct.to_owned(),
            }
            .into()),
            None => Err(ContentTypeError::ExpectContentType.into()),
        }
    }
}

/// The raw bytes of a request body, read up to the body size limit (413 past it, chunked
/// bodies included), whatever its content type: for webhooks, whose signature is over the
/// exact bytes and is checked before anything is parsed. The spec shows it as a JSON object.
pub struct RawBody {
    pub bytes: Vec<u8>,
    /// The `Content-Type` it was sent with.
    pub content_type: Option<String>,
}

impl RawBody {
    /// Whether it was sent as JSON.
    pub fn is_json(&self) -> bool {
        self.content_type
            .as_deref()
            .is_some_and(<JsonBody<serde_json::Value> as Payload>::check_content_type)
    }
}

impl<'a> ApiExtractor<'a> for RawBody {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <serde_json::Value as Type>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: "application/json",
                schema: <serde_json::Value as Type>::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let limit = request
            .data::<BodyLimit>()
            .copied()
            .unwrap_or(BodyLimit(1024 * 1024))
            .0;
        let mut bytes = Vec::new();
        body.take()?
            .into_async_read()
            .take(limit as u64 + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| {
                Failure::new(
                    poem::http::StatusCode::BAD_REQUEST,
                    "unreadable-body",
                    e.to_string(),
                )
            })?;
        if bytes.len() > limit {
            return Err(Failure::payload_too_large(limit).into());
        }
        Ok(Self {
            bytes,
            content_type: request.content_type().map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_name_the_field() {
        assert_eq!(
            field_error_from_serde(".", "missing field `title`"),
            FieldError::new("title", "is required")
        );
        assert_eq!(
            field_error_from_serde(
                "commits[0].shaa",
                "unknown field `shaa`, expected one of `sha`"
            ),
            FieldError::new("commits[0].shaa", "is not a known field")
        );
        assert_eq!(
            field_error_from_serde("is_fix", "invalid type: string \"x\", expected a boolean"),
            FieldError::new("is_fix", "invalid type: string \"x\", expected a boolean")
        );
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let field = |body: &str| {
            parse_unique_keys(body.as_bytes())
                .map_err(|f| (f.status.as_u16(), f.errors.first().map(|e| e.field.clone())))
        };
        assert_eq!(
            field(r#"{"a": 1, "a": 2}"#),
            Err((422, Some("a".to_owned())))
        );
        assert_eq!(
            field(r#"{"c": [{"sha": "x", "sha": "y"}]}"#),
            Err((422, Some("c[0].sha".to_owned())))
        );
        assert_eq!(field(r#"{"a": 1} x"#).map_err(|e| e.0), Err(400));
        assert_eq!(field(r#"{"a": "#).map_err(|e| e.0), Err(400));
        assert_eq!(
            field(r#"{"a": [1, 2.5, null, true, {"b": "c"}], "n": 18446744073709551615}"#),
            Ok(
                serde_json::json!({"a": [1, 2.5, null, true, {"b": "c"}], "n": 18446744073709551615u64})
            )
        );
    }

    #[test]
    fn charsets_other_than_utf8_are_refused() {
        type B = JsonBody<serde_json::Value>;
        assert!(B::check_content_type("application/json"));
        assert!(B::check_content_type("application/json; charset=UTF-8"));
        assert!(!B::check_content_type("application/json; charset=latin1"));
        assert!(!B::check_content_type("application/json; charset=utf-16"));
    }

    #[test]
    fn openapi_messages_name_the_field() {
        assert_eq!(
            field_error_from_openapi(
                "failed to parse \"NewDeployment\": field `title` verification failed. maxLength(500)"
            ),
            FieldError::new("title", "must be at most 500 characters long")
        );
    }
}
