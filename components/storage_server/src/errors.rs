//! pgfs errors as `storage_api` errors (the reply's message carries pgfs's own line).

use protocol::storage::StorageError;

/// The wire error for a pgfs error.
pub fn to_wire(e: &pgfs::Error) -> StorageError {
    use pgfs::Error as E;
    match *e {
        E::Io { block } => StorageError::Io { block },
        E::Damaged { block, .. } => StorageError::Damaged { block },
        E::DataDamaged { block, .. } => StorageError::DataDamaged { block },
        E::BadItem { .. } => StorageError::Damaged { block: u64::MAX },
        E::InvalidPath | E::HashCollision => StorageError::InvalidPath,
        E::NameTooLong => StorageError::NameTooLong,
        E::NotFound => StorageError::NotFound,
        E::Exists => StorageError::AlreadyExists,
        E::NotDir => StorageError::NotDirectory,
        E::IsDir => StorageError::IsDirectory,
        E::NotEmpty => StorageError::NotEmpty,
        E::TooLarge => StorageError::TooLarge,
        E::NoSpace => StorageError::NoSpace,
        E::NeedsRemount
        | E::NotFormatted
        | E::UnfinishedFormat
        | E::OldStore
        | E::Unrecognized
        | E::NewerVersion { .. }
        | E::NoValidRoot { .. }
        | E::TooSmall { .. } => StorageError::Unavailable,
    }
}
