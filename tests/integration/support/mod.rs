//! Helpers shared by the integration tests.
//!
//! Each test module uses only some of them, hence the `dead_code` allowance.
#![allow(dead_code, reason = "shared helpers; every test module uses a subset")]

pub(crate) mod age;
pub(crate) mod backup;
/// The real OpenBao dev server the store tests run (shared with the library's own tests).
#[path = "../../../src/store/openbao/server.rs"]
pub(crate) mod bao;
pub(crate) mod env;
pub(crate) mod keyring;
pub(crate) mod library;
pub(crate) mod mount;
pub(crate) mod nobody;
pub(crate) mod refusal;
pub(crate) mod transcript;
pub(crate) mod tree;
