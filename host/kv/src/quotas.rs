//! [`Quotas`]: how much one bucket may hold, and the checks against it.
//!
//! The size checks run before a request reaches a backend, so both backends refuse exactly
//! the same keys and values. The key-count check needs the current count, which only the
//! backend can read atomically with the write: the embedded store calls
//! `Quotas::admit_new_key` inside its write transaction, the Redis scripts compare the same
//! limit to `ZCARD` and their refusal becomes the same [`KvError::TooManyKeys`].
//!
//! Counters (at most 20 bytes of decimal ASCII) are not checked against `max_value_bytes`:
//! an increment never fails because a number grew a digit.

use crate::KvError;

/// Limits of one bucket. [`Quotas::default`] is 256-byte keys, 64 KiB values, 10 000 keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Longest key, in bytes of UTF-8.
    pub max_key_bytes: usize,
    /// Longest value, in bytes.
    pub max_value_bytes: usize,
    /// Most keys the bucket may hold. Overwriting a key never counts against it.
    pub max_keys: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            max_key_bytes: 256,
            max_value_bytes: 64 * 1024,
            max_keys: 10_000,
        }
    }
}

impl Quotas {
    /// Refuses a key that could never be stored in this bucket.
    pub(crate) fn check_key(&self, key: &str) -> Result<(), KvError> {
        if key.is_empty() {
            return Err(KvError::InvalidKey("the key is empty"));
        }
        if key.len() > self.max_key_bytes {
            return Err(KvError::KeyTooLarge {
                size: key.len(),
                limit: self.max_key_bytes,
            });
        }
        Ok(())
    }

    /// Refuses a value larger than this bucket takes.
    pub(crate) fn check_value(&self, value: &[u8]) -> Result<(), KvError> {
        if value.len() > self.max_value_bytes {
            return Err(KvError::ValueTooLarge {
                size: value.len(),
                limit: self.max_value_bytes,
            });
        }
        Ok(())
    }

    /// Admits one more key into a bucket that holds `current_keys`, or refuses it.
    pub(crate) fn admit_new_key(&self, current_keys: u64) -> Result<(), KvError> {
        if current_keys >= self.max_keys {
            return Err(self.too_many_keys());
        }
        Ok(())
    }

    /// The refusal for a new key in a full bucket.
    pub(crate) fn too_many_keys(&self) -> KvError {
        KvError::TooManyKeys {
            limit: self.max_keys,
        }
    }
}
