//! JSON shapes shared by several surfaces (the canonical routes and vendor adapters both use
//! them; neither imports the other).

pub mod deployment;
pub mod webhook;
