//! PandaGen inter-component protocols: the byte layouts of the messages components exchange
//! over IPC (`abi::ipc`, at most [`MAX_MESSAGE`] bytes per message).
//!
//! * [`storage`]: `storage_api`, served by `services_storage` (see `docs/storage.md`).
//! * [`fs_view`]: `fs_view_api`, the read-only file view served by `services_fs_view`.
//! * [`editor`]: `editor_api`, the editing sessions of `services_editor_vi`.
//! * [`access`]: the rule of the `files:` / `files_read:` capabilities both file services apply.
//! * [`storage_v1`]: the milestone-1 `storage_api`, kept only for the old record store
//!   (`storage_format`), which is read to convert it.
//!
//! Everything here is pure data: encoders write into caller buffers, decoders borrow from the
//! received bytes, nothing allocates, and no decoder panics on any input.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
pub mod editor;
pub mod fs_view;
pub mod storage;
pub mod storage_v1;
pub mod wire;

/// The largest IPC message (request or reply), in bytes. Equal to `abi::ipc::MAX_MESSAGE`.
pub const MAX_MESSAGE: usize = 64 * 1024;
