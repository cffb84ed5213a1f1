//! The page's only assets, first-party and compiled into the binary: one stylesheet and an
//! icon. Their URLs carry a hash of their content, so a browser may cache them for good.

use std::sync::LazyLock;

use poem::{IntoResponse, Response, handler, http::StatusCode, web::Query};
use serde::Deserialize;
use sha2::{Digest, Sha256};

const CSS: &str = include_str!("assets/app.css");
const ICON: &str = include_str!("assets/icon.svg");

pub const CSS_PATH: &str = "/ui/app.css";
pub const ICON_PATH: &str = "/ui/icon.svg";

static CSS_VERSION: LazyLock<String> =
    LazyLock::new(|| hex::encode(&Sha256::digest(CSS.as_bytes())[..6]));

/// The stylesheet's URL, with its content hash.
pub fn css_href() -> String {
    format!("{CSS_PATH}?v={}", *CSS_VERSION)
}

#[derive(Deserialize)]
pub struct Version {
    v: Option<String>,
}

fn asset(body: &'static str, content_type: &str, immutable: bool) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .content_type(content_type)
        .header(
            "Cache-Control",
            if immutable {
                "public, max-age=31536000, immutable"
            } else {
                "public, max-age=300"
            },
        )
        .body(body)
}

#[handler]
pub fn stylesheet(Query(version): Query<Version>) -> impl IntoResponse {
    let current = version.v.as_deref() == Some(CSS_VERSION.as_str());
    asset(CSS, "text/css; charset=utf-8", current)
}

#[handler]
pub fn icon() -> impl IntoResponse {
    asset(ICON, "image/svg+xml", false)
}
