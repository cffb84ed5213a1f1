//! The web page for engineering managers (DESIGN.md §11), served at `/` and under `/ui/`:
//! HTML rendered on the server (maud escapes every value), charts drawn as SVG, one
//! first-party stylesheet compiled in, and no script at all, so the page works the same with
//! JavaScript off and its Content-Security-Policy allows none.
//!
//! Handlers read the session (`session`), translate the query string (`params`) into the
//! JSON API's own query (`core::metrics::resolve`) and call `core` directly; the numbers are
//! those of `/api/v1/metrics/dora…`, from the same engine.
//!
//! | path | |
//! |---|---|
//! | `GET /` | the overview, or the sign-in form without a session |
//! | `GET /ui/explain?metric=…` | a card's drill-down |
//! | `GET /ui/deployments/{id}` | a deployment's record |
//! | `POST /ui/sign-in`, `POST /ui/sign-out` | the session |
//! | `GET /ui/app.css`, `GET /ui/icon.svg` | the assets |

mod assets;
mod charts;
mod deployment;
mod explain;
mod format;
mod layout;
mod overview;
mod params;
pub mod session;

use chrono::Utc;
use maud::Markup;
use poem::{
    Endpoint, EndpointExt, IntoResponse, PathPattern, Request, Response, Route,
    endpoint::BoxEndpoint,
    get, handler,
    http::{StatusCode, header},
    middleware::CookieJarManager,
    web::{Data, Form, Path, Query, cookie::CookieJar},
};
use serde::Deserialize;

use crate::{
    core::{
        self,
        metrics::{self as core_metrics},
    },
    http::{error::Failure, pagination, parse_id, state::AppState},
};
use layout::Header;
use params::PageParams;
use session::Session;

/// Every response of the page: no script from anywhere, styles and images from this origin
/// only, forms posting back here, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Serves `/` (the overview) in front of `rest`, the application's routes: the API is nested
/// at `/`, and poem's router hands it `/` too.
pub struct WithHome<E> {
    home: BoxEndpoint<'static>,
    rest: E,
}

impl<E: Endpoint> WithHome<E> {
    pub fn new(rest: E) -> Self {
        Self {
            home: get(index)
                .with(CookieJarManager::new())
                .around(secure_headers)
                .boxed(),
            rest,
        }
    }
}

impl<E: Endpoint> Endpoint for WithHome<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        if req.uri().path() != "/" {
            return self.rest.call(req).await.map(IntoResponse::into_response);
        }
        let pattern = PathPattern("/".into());
        req.set_data(pattern.clone());
        let mut resp = self.home.call(req).await?;
        resp.set_data(pattern);
        Ok(resp)
    }
}

/// The endpoints under `/ui/` (nested there).
pub fn pages() -> impl Endpoint {
    Route::new()
        .at("/explain", get(explain_page))
        .at("/deployments/:id", get(deployment_page))
        .at("/sign-in", get(to_home).post(sign_in))
        .at("/sign-out", get(to_home).post(sign_out))
        .at("/app.css", get(assets::stylesheet))
        .at("/icon.svg", get(assets::icon))
        .with(CookieJarManager::new())
        .around(secure_headers)
}

/// Adds the security headers to every answer, and answers the framework's own errors (an
/// unknown path under `/ui/`, a malformed form or query) as an HTML page too.
async fn secure_headers<E: Endpoint>(ep: E, req: Request) -> poem::Result<Response> {
    let mut resp = match ep.call(req).await {
        Ok(resp) => resp.into_response(),
        Err(err) => {
            let failure = Failure::from_poem(err);
            let message = if failure.status == StatusCode::NOT_FOUND {
                "There is no such page.".to_owned()
            } else {
                failure.detail.clone()
            };
            page(
                failure.status,
                layout::error(None, "Not available", &message),
            )
        }
    };
    let headers = resp.headers_mut();
    for (name, value) in [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        if let Ok(value) = header::HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    Ok(resp)
}

/// An HTML answer that no cache keeps (it shows an organization's data).
fn page(status: StatusCode, markup: Markup) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(markup.into_string())
}

fn see_other(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .header(header::CACHE_CONTROL, "no-store")
        .finish()
}

#[handler]
fn to_home() -> Response {
    see_other("/")
}

/// The path and query of the request, to come back to after signing in.
fn here(req: &Request) -> String {
    req.uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned())
}

/// The session, or the answer to give without one: the sign-in form (with a message when a
/// session just ended).
async fn signed_in(state: &AppState, req: &Request, jar: &CookieJar) -> Result<Session, Response> {
    match session::current(state, req, jar).await {
        Ok(Some(session)) => Ok(session),
        Ok(None) => {
            let csrf = session::csrf_token(state, req, jar);
            Err(page(
                StatusCode::OK,
                layout::sign_in(&csrf, &here(req), None),
            ))
        }
        Err(refused) => {
            let csrf = session::csrf_token(state, req, jar);
            Err(page(
                StatusCode::UNAUTHORIZED,
                layout::sign_in(&csrf, &here(req), Some(&refused.message)),
            ))
        }
    }
}

/// A use case's error as a page: its safe message and status.
fn failed(header: Header<'_>, err: core::Error) -> Response {
    let failure = Failure::from(err);
    page(
        failure.status,
        layout::error(Some(header), "Not available", &failure.detail),
    )
}

#[handler]
async fn index(
    req: &Request,
    state: Data<&AppState>,
    jar: &CookieJar,
    Query(params): Query<PageParams>,
) -> Response {
    let session = match signed_in(&state, req, jar).await {
        Ok(session) => session,
        Err(resp) => return resp,
    };
    let csrf = session::csrf_token(&state, req, jar);
    let header = Header {
        session: &session,
        csrf: &csrf,
    };
    let refused = |message: String, choices: &core::overview::Choices| {
        page(
            StatusCode::BAD_REQUEST,
            overview::refused(
                Header {
                    session: &session,
                    csrf: &csrf,
                },
                &params,
                choices,
                &message,
            ),
        )
    };
    let (raw, by) = match (params.raw_query(Utc::now()), params.group_by()) {
        (Ok(raw), Ok(by)) => (raw, by),
        (Err((name, message)), _) | (_, Err((name, message))) => {
            return refused(format!("{name}: {message}"), &Default::default());
        }
    };
    let query = match core_metrics::resolve(&state.core, &session.principal, raw).await {
        Ok(query) => query,
        Err(core::Error::InvalidParameter { name, message }) => {
            return refused(format!("{name}: {message}"), &Default::default());
        }
        Err(err) => return failed(header, err),
    };
    match core::overview::overview(&state.core, &query, by).await {
        Ok(overview) => page(
            StatusCode::OK,
            overview::page(header, &params, &query, &overview),
        ),
        Err(err) => failed(header, err),
    }
}

/// The drill-down's query string: the overview's, the metric and the page's cursor.
#[derive(Debug, Deserialize)]
struct ExplainParams {
    #[serde(flatten)]
    page: PageParams,
    metric: Option<String>,
    cursor: Option<String>,
}

#[handler]
async fn explain_page(
    req: &Request,
    state: Data<&AppState>,
    jar: &CookieJar,
    Query(params): Query<ExplainParams>,
) -> Response {
    let session = match signed_in(&state, req, jar).await {
        Ok(session) => session,
        Err(resp) => return resp,
    };
    let csrf = session::csrf_token(&state, req, jar);
    let header = Header {
        session: &session,
        csrf: &csrf,
    };
    let bad = |header: Header<'_>, message: String| {
        page(
            StatusCode::BAD_REQUEST,
            layout::error(Some(header), "Not available", &message),
        )
    };
    let metric = match params.metric.as_deref().unwrap_or_default().parse() {
        Ok(metric) => metric,
        Err(e) => return bad(header, format!("metric: {e}")),
    };
    let cursor = params.cursor.as_deref().filter(|c| !c.is_empty());
    let after = match pagination::explain_cursor(cursor) {
        Ok(after) => after,
        Err(err) => return failed(header, err),
    };
    let raw = match params.page.raw_query(Utc::now()) {
        Ok(raw) => raw,
        Err((name, message)) => return bad(header, format!("{name}: {message}")),
    };
    let query = match core_metrics::resolve(&state.core, &session.principal, raw).await {
        Ok(query) => query,
        Err(err) => return failed(header, err),
    };
    match core::overview::drill_down(&state.core, &query, metric, after, explain::PAGE_ROWS).await {
        Ok(drill) => {
            let next = drill
                .page
                .next
                .as_ref()
                .map(pagination::encode_explain_cursor);
            page(
                StatusCode::OK,
                explain::page(header, &params.page, &query, metric, &drill, cursor, next),
            )
        }
        Err(err) => failed(header, err),
    }
}

#[handler]
async fn deployment_page(
    req: &Request,
    state: Data<&AppState>,
    jar: &CookieJar,
    Path(id): Path<String>,
) -> Response {
    let session = match signed_in(&state, req, jar).await {
        Ok(session) => session,
        Err(resp) => return resp,
    };
    let csrf = session::csrf_token(&state, req, jar);
    let header = Header {
        session: &session,
        csrf: &csrf,
    };
    let record = match parse_id(&id, "deployment") {
        Ok(id) => core::deployments::get(&state.core, &session.principal, id).await,
        Err(err) => Err(err),
    };
    match record {
        Ok(record) => page(StatusCode::OK, deployment::page(header, &record)),
        Err(err) => failed(header, err),
    }
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
struct SignInForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

#[handler]
async fn sign_in(
    req: &Request,
    state: Data<&AppState>,
    jar: &CookieJar,
    Form(form): Form<SignInForm>,
) -> Response {
    let next = session::safe_next(form.next.as_deref());
    let again = |status: StatusCode, message: &str| {
        let csrf = session::csrf_token(&state, req, jar);
        page(status, layout::sign_in(&csrf, &next, Some(message)))
    };
    if let Err(message) = session::check_form(&state, req, jar, &form.csrf) {
        return again(StatusCode::FORBIDDEN, &message);
    }
    match session::open(&state, &form.token).await {
        Ok(opened) => {
            session::start(&state, req, jar, &form.token, &opened);
            tracing::info!(
                organization = %opened.principal.organization,
                subject = ?opened.principal.subject,
                "web session started"
            );
            see_other(&next)
        }
        Err(refused) => again(
            StatusCode::from_u16(refused.status).unwrap_or(StatusCode::UNAUTHORIZED),
            &refused.message,
        ),
    }
}

/// The sign-out form's field.
#[derive(Debug, Deserialize)]
struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

#[handler]
fn sign_out(
    req: &Request,
    state: Data<&AppState>,
    jar: &CookieJar,
    Form(form): Form<SignOutForm>,
) -> Response {
    if let Err(message) = session::check_form(&state, req, jar, &form.csrf) {
        return page(
            StatusCode::FORBIDDEN,
            layout::error(None, "Not signed out", &message),
        );
    }
    session::end(&state, req, jar);
    see_other("/")
}
