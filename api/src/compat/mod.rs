//! Vendor-shaped endpoints: thin adapters that translate a vendor's request and response
//! vocabulary onto the one core (`ingest`, `store`).

pub mod github;
pub mod hooks;
pub mod iftrue;
