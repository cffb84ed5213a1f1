//! Vendor-shaped surfaces: thin adapters that translate a vendor's request and response
//! vocabulary onto the one `core`. An adapter imports `core`, `domain` and the shared
//! `http` plumbing (body, extractors, errors, shapes), never `http::routes`; a large one is a
//! folder (handlers in `mod.rs`, its JSON in `shapes.rs`, its error shape in `error.rs`).

pub mod alertmanager;
pub mod github;
pub mod github_webhook;
pub mod gitlab;
pub mod hooks;
pub mod iftrue;
pub mod pagerduty;
