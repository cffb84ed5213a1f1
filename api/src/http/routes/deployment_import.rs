//! `POST /api/v1/deployments/import`: newline-delimited JSON, one create body per line (the
//! canonical `POST /api/v1/deployments` body plus an optional `external_id`), read as a
//! stream and answered as a stream: one result line per line, then a summary line.
//!
//! A reader task reads the body a line at a time (each line capped at the body size limit),
//! validates each line exactly as `POST /api/v1/deployments` validates its body
//! (`JsonBody`, `DeploymentIn::to_domain`), and hands batches to the response body, which
//! records each batch (`core::bulk_import`) and writes its results. At most two batches wait
//! between them, so the server holds a few thousand lines, never the body.

use bytes::Bytes;
use chrono::Utc;
use futures_util::stream;
use poem::{Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, OpenApi,
    error::ContentTypeError,
    payload::{Binary, Json},
    registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry},
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, BufReader},
    sync::mpsc,
};

use crate::{
    auth::Principal,
    core::{
        self, Core,
        bulk_import::{BATCH_COMMITS, BATCH_LINES, ImportLine, LineResult},
    },
    domain::{FieldError, parse_external_id},
    http::{
        ApiTags,
        body::{BodyLimit, JsonBody, parse_unique_keys, utf8_or_no_charset},
        error::{ApiError, Failure},
        extract::BearerAuth,
        shapes::deployment::DeploymentIn,
        state::AppState,
    },
};

/// The media type of the request and the response.
pub const NDJSON: &str = "application/x-ndjson";

/// A request body of newline-delimited JSON, not read yet.
pub struct NdjsonBody(pub poem::Body);

fn binary_schema() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        format: Some("binary"),
        ..MetaSchema::new("string")
    }))
}

impl<'a> ApiExtractor<'a> for NdjsonBody {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(_registry: &mut Registry) {}

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some(
                "Newline-delimited JSON: one `POST /api/v1/deployments` body per line, each \
                 with an optional `external_id` (1-255 characters). Blank lines are skipped.",
            ),
            content: vec![MetaMediaType {
                content_type: NDJSON,
                schema: binary_schema(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let is_ndjson = request
            .content_type()
            .and_then(|ct| ct.parse::<mime::Mime>().ok())
            .is_some_and(|ct| ct.essence_str() == NDJSON && utf8_or_no_charset(&ct));
        match request.content_type() {
            Some(_) if is_ndjson => Ok(Self(body.take()?)),
            Some(ct) => Err(ContentTypeError::NotSupported {
                content_type: ct.to_owned(),
            }
            .into()),
            None => Err(ContentTypeError::ExpectContentType.into()),
        }
    }
}

#[derive(ApiResponse)]
pub enum ImportResponse {
    /// One NDJSON line per line of the request, in order, as each batch is recorded:
    /// `{"line": n, "result": "created", "id": …}`, `{"line": n, "result": "exists", "id": …}`
    /// (its `external_id` was stored already; nothing recorded) or
    /// `{"line": n, "result": "error", "errors": [{"field": …, "message": …}]}`; then
    /// `{"result": "summary", "lines": …, "created": …, "exists": …, "error": …}` (with
    /// `"aborted": "…"` when the body could not be read to its end).
    #[oai(status = 200, content_type = "application/x-ndjson")]
    Ok(Binary<poem::Body>),
}

#[derive(Default)]
pub struct DeploymentImportApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Deployments")]
impl DeploymentImportApi {
    /// Import deployments (NDJSON)
    ///
    /// Backfills history: newline-delimited JSON, one `POST /api/v1/deployments` body per
    /// line, plus an optional `external_id` that makes the line idempotent within the
    /// organization. Read and answered as streams: the response has one result line per
    /// line as batches are recorded, then a summary line. Valid lines are kept when others
    /// fail. Each line is capped at the body size limit. Imported deployments emit no
    /// outbound `deployment` event.
    #[oai(
        path = "/deployments/import",
        method = "post",
        operation_id = "importDeployments"
    )]
    async fn import(
        &self,
        req: &Request,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        body: NdjsonBody,
    ) -> Result<ImportResponse, ApiError> {
        core::bulk_import::authorize(&auth.0)?;
        let limit = req
            .data::<BodyLimit>()
            .copied()
            .unwrap_or(BodyLimit(1024 * 1024))
            .0;
        Ok(ImportResponse::Ok(Binary(results(
            state.core.clone(),
            auth.0,
            body.0,
            limit,
        ))))
    }
}

/// A line as read: valid, or its errors.
type Parsed = Result<ImportLine, Vec<FieldError>>;

/// What the reader hands the response.
enum Message {
    Batch(Vec<(u64, Parsed)>),
    /// The body ended; with why it could not be read to its end, if so.
    End(Option<String>),
}

/// The response body: the results of the batches the reader hands over, then the summary.
fn results(core: Core, principal: Principal, body: poem::Body, limit: usize) -> poem::Body {
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(read_lines(body, limit, tx));
    let state = Writer {
        core,
        principal,
        rx,
        counts: Counts::default(),
        done: false,
    };
    poem::Body::from_bytes_stream(stream::unfold(state, |mut w| async move {
        if w.done {
            return None;
        }
        let chunk = match w.rx.recv().await {
            Some(Message::Batch(batch)) => w.record(batch).await,
            Some(Message::End(aborted)) => {
                w.done = true;
                w.summary(aborted)
            }
            // The reader stopped without a word (it panicked): say so.
            None => {
                w.done = true;
                w.summary(Some("the request body could not be read".to_owned()))
            }
        };
        Some((Ok::<Bytes, std::io::Error>(chunk), w))
    }))
}

#[derive(Default)]
struct Counts {
    lines: u64,
    created: u64,
    exists: u64,
    error: u64,
}

struct Writer {
    core: Core,
    principal: Principal,
    rx: mpsc::Receiver<Message>,
    counts: Counts,
    done: bool,
}

impl Writer {
    /// Records a batch; its result lines in line order.
    async fn record(&mut self, batch: Vec<(u64, Parsed)>) -> Bytes {
        let mut valid = Vec::new();
        let mut out: Vec<(u64, LineResult)> = Vec::with_capacity(batch.len());
        for (line, parsed) in batch {
            match parsed {
                Ok(import) => valid.push(import),
                Err(errors) => out.push((line, LineResult::Error(errors))),
            }
        }
        match core::bulk_import::import_batch(&self.core, &self.principal, &valid).await {
            Ok(recorded) => out.extend(recorded),
            Err(e) => {
                let failure = Failure::from(e);
                let errors = vec![FieldError::new("$", failure.detail)];
                out.extend(
                    valid
                        .iter()
                        .map(|l| (l.line, LineResult::Error(errors.clone()))),
                );
            }
        }
        out.sort_by_key(|(line, _)| *line);
        let mut bytes = Vec::with_capacity(out.len() * 80);
        for (line, result) in out {
            self.counts.lines += 1;
            let value = match result {
                LineResult::Created(id) => {
                    self.counts.created += 1;
                    json!({"line": line, "result": "created", "id": id})
                }
                LineResult::Exists(id) => {
                    self.counts.exists += 1;
                    json!({"line": line, "result": "exists", "id": id})
                }
                LineResult::Error(errors) => {
                    self.counts.error += 1;
                    json!({"line": line, "result": "error", "errors": errors_json(&errors)})
                }
            };
            push_line(&mut bytes, &value);
        }
        Bytes::from(bytes)
    }

    fn summary(&self, aborted: Option<String>) -> Bytes {
        let mut value = json!({
            "result": "summary",
            "lines": self.counts.lines,
            "created": self.counts.created,
            "exists": self.counts.exists,
            "error": self.counts.error,
        });
        if let Some(aborted) = aborted {
            value["aborted"] = Value::String(aborted);
        }
        let mut bytes = Vec::new();
        push_line(&mut bytes, &value);
        Bytes::from(bytes)
    }
}

fn errors_json(errors: &[FieldError]) -> Value {
    Value::Array(
        errors
            .iter()
            .map(|e| json!({"field": e.field, "message": e.message}))
            .collect(),
    )
}

fn push_line(bytes: &mut Vec<u8>, value: &Value) {
    // A `Value` always serializes.
    let _ = serde_json::to_writer(&mut *bytes, value);
    bytes.push(b'\n');
}

/// Reads the body a line at a time and hands over batches of parsed lines.
async fn read_lines(body: poem::Body, limit: usize, tx: mpsc::Sender<Message>) {
    let mut reader = BufReader::with_capacity(64 * 1024, body.into_async_read());
    let mut buf: Vec<u8> = Vec::new();
    let mut number: u64 = 0;
    let mut batch: Vec<(u64, Parsed)> = Vec::new();
    let mut valid = 0usize;
    let mut commits = 0usize;
    let mut now = Utc::now();
    let cap = limit as u64 + 1;
    let aborted = loop {
        buf.clear();
        match (&mut reader).take(cap).read_until(b'\n', &mut buf).await {
            Ok(0) => break None,
            Ok(_) => {}
            Err(e) => break Some(unreadable(&e)),
        }
        number += 1;
        let ended = buf.last() == Some(&b'\n');
        if !ended && buf.len() > limit {
            // Too long: skip the rest of it.
            if let Err(e) = skip_line(&mut reader, &mut buf).await {
                break Some(unreadable(&e));
            }
            batch.push((
                number,
                Err(vec![FieldError::new(
                    "$",
                    format!("the line is longer than {limit} bytes"),
                )]),
            ));
        } else {
            let mut line = buf.as_slice();
            if let Some(rest) = line.strip_suffix(b"\n") {
                line = rest;
            }
            if let Some(rest) = line.strip_suffix(b"\r") {
                line = rest;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let parsed = parse_valid(number, line, now);
            if let Ok(import) = &parsed {
                valid += 1;
                commits += import.deployment.commits.len().max(1);
            }
            batch.push((number, parsed));
        }
        if valid >= BATCH_LINES || commits >= BATCH_COMMITS || batch.len() >= 4 * BATCH_LINES {
            let full = std::mem::take(&mut batch);
            (valid, commits) = (0, 0);
            if tx.send(Message::Batch(full)).await.is_err() {
                // The client is gone.
                return;
            }
            now = Utc::now();
        }
    };
    if !batch.is_empty() && tx.send(Message::Batch(batch)).await.is_err() {
        return;
    }
    let _ = tx.send(Message::End(aborted)).await;
}

fn unreadable(e: &std::io::Error) -> String {
    format!("the request body could not be read to its end: {e}")
}

/// Reads up to the end of the current line (or of the body), keeping at most a buffer's worth.
async fn skip_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    scratch: &mut Vec<u8>,
) -> std::io::Result<()> {
    loop {
        scratch.clear();
        let n = reader.take(64 * 1024).read_until(b'\n', scratch).await?;
        if n == 0 || scratch.last() == Some(&b'\n') {
            return Ok(());
        }
    }
}

/// One line, validated as `POST /api/v1/deployments` validates its body.
fn parse_valid(
    number: u64,
    line: &[u8],
    now: chrono::DateTime<Utc>,
) -> Result<ImportLine, Vec<FieldError>> {
    let failed = |f: Failure| {
        if f.errors.is_empty() {
            vec![FieldError::new("$", f.detail)]
        } else {
            f.errors
        }
    };
    if std::str::from_utf8(line).is_err() {
        return Err(vec![FieldError::new("$", "the line is not UTF-8")]);
    }
    let mut json = parse_unique_keys(line).map_err(failed)?;
    let Some(object) = json.as_object_mut() else {
        return Err(vec![FieldError::new("$", "the line must be a JSON object")]);
    };
    let external_id = match object.remove("external_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            Some(parse_external_id(&s).map_err(|m| vec![FieldError::new("external_id", m)])?)
        }
        Some(_) => {
            return Err(vec![FieldError::new("external_id", "must be a string")]);
        }
    };
    let body = JsonBody::<DeploymentIn>::from_value(json).map_err(failed)?;
    let deployment = match body.value.to_domain(now) {
        Ok(deployment) => deployment,
        Err(ApiError::Unprocessable(Json(problem))) => return Err(problem.errors),
        Err(_) => {
            return Err(vec![FieldError::new(
                "$",
                "the line is not a valid deployment",
            )]);
        }
    };
    Ok(ImportLine {
        line: number,
        external_id,
        deployment,
    })
}
