//! Key-value storage (`wasi:keyvalue`): state that outlives a call, kept by the host in its
//! store (an embedded file, or a Redis shared by several hookbox replicas).
//!
//! Needs `grants.kv` in the plugin's manifest; a component that calls any of these without the
//! grant is refused when it loads. [`open`] gives the plugin's own bucket, which no other plugin
//! can read; [`open_shared`] a bucket the manifest names in `grants.kv.buckets`. Counters are
//! decimal text, so [`Bucket::increment`] and [`Bucket::get_string`] agree.
//!
//! Outside WebAssembly (native unit tests of plugin logic) every bucket is a per-thread map,
//! emptied with `clear_native`.

use crate::Error;

/// One page of [`Bucket::keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPage {
    /// The keys of this page, in order.
    pub keys: Vec<String>,
    /// Pass to [`Bucket::keys`] for the next page; `None` after the last.
    pub cursor: Option<String>,
}

/// The plugin's own bucket.
///
/// # Errors
///
/// The plugin has no `grants.kv`, or the store failed.
pub fn open() -> Result<Bucket, Error> {
    imp::open("")
}

/// The shared bucket `name` (listed in the manifest's `grants.kv.buckets`).
///
/// # Errors
///
/// The manifest does not name this bucket (access denied), or the store failed.
pub fn open_shared(name: &str) -> Result<Bucket, Error> {
    if name.is_empty() {
        return Err(Error::new("kv: a shared bucket needs a name"));
    }
    imp::open(name)
}

/// A bucket of keys. Every method is one host call (one store round trip).
#[derive(Debug)]
pub struct Bucket(imp::Handle);

impl Bucket {
    /// The value of `key`, or `None` when it has none.
    ///
    /// # Errors
    ///
    /// The key is empty or too long, or the store failed.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.0.get(key)
    }

    /// The value of `key` as UTF-8 text.
    ///
    /// # Errors
    ///
    /// As [`Bucket::get`], or the value is not UTF-8.
    pub fn get_string(&self, key: &str) -> Result<Option<String>, Error> {
        self.get(key)?
            .map(|bytes| {
                String::from_utf8(bytes)
                    .map_err(|_| Error::new(format!("kv: the value of {key:?} is not UTF-8")))
            })
            .transpose()
    }

    /// Set `key` to `value`.
    ///
    /// # Errors
    ///
    /// A quota (key size, value size, number of keys) or the store refused it.
    pub fn set(&self, key: &str, value: impl AsRef<[u8]>) -> Result<(), Error> {
        self.0.set(key, value.as_ref())
    }

    /// Remove `key` (a missing key is fine).
    ///
    /// # Errors
    ///
    /// The store failed.
    pub fn delete(&self, key: &str) -> Result<(), Error> {
        self.0.delete(key)
    }

    /// Whether `key` has a value.
    ///
    /// # Errors
    ///
    /// The store failed.
    pub fn exists(&self, key: &str) -> Result<bool, Error> {
        self.0.exists(key)
    }

    /// One page of keys, in order, starting after `cursor` (`None` for the first page).
    ///
    /// # Errors
    ///
    /// The store failed.
    pub fn keys(&self, cursor: Option<&str>) -> Result<KeyPage, Error> {
        self.0.keys(cursor)
    }

    /// Add `delta` to the counter `key` (a missing key counts as 0) and return the new value;
    /// atomic, also across hookbox replicas.
    ///
    /// # Errors
    ///
    /// The value is not a decimal integer, the sum overflows, or a quota or the store refused.
    pub fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
        self.0.increment(key, delta)
    }

    /// Set `key` to `new` only if its value is still `expected` (`None` = only if absent);
    /// whether it was set. Atomic, also across hookbox replicas.
    ///
    /// # Errors
    ///
    /// A quota or the store refused.
    pub fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: impl AsRef<[u8]>,
    ) -> Result<bool, Error> {
        self.0.compare_and_swap(key, expected, new.as_ref())
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::KeyPage;
    use crate::Error;
    use crate::bindings::wasi::keyvalue::{atomics, store};

    #[derive(Debug)]
    pub(super) struct Handle(store::Bucket);

    fn convert(err: store::Error) -> Error {
        match err {
            store::Error::NoSuchStore => Error::new("kv: no such bucket"),
            store::Error::AccessDenied => {
                Error::new("kv: access denied (is the bucket in grants.kv of the manifest?)")
            }
            store::Error::Other(msg) => Error::new(format!("kv: {msg}")),
        }
    }

    pub(super) fn open(name: &str) -> Result<super::Bucket, Error> {
        store::open(name)
            .map(|b| super::Bucket(Handle(b)))
            .map_err(convert)
    }

    impl Handle {
        pub(super) fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
            self.0.get(key).map_err(convert)
        }

        pub(super) fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
            self.0.set(key, value).map_err(convert)
        }

        pub(super) fn delete(&self, key: &str) -> Result<(), Error> {
            self.0.delete(key).map_err(convert)
        }

        pub(super) fn exists(&self, key: &str) -> Result<bool, Error> {
            self.0.exists(key).map_err(convert)
        }

        pub(super) fn keys(&self, cursor: Option<&str>) -> Result<KeyPage, Error> {
            let page = self.0.list_keys(cursor).map_err(convert)?;
            Ok(KeyPage {
                keys: page.keys,
                cursor: page.cursor,
            })
        }

        pub(super) fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
            atomics::increment(&self.0, key, delta).map_err(convert)
        }

        pub(super) fn compare_and_swap(
            &self,
            key: &str,
            expected: Option<&[u8]>,
            new: &[u8],
        ) -> Result<bool, Error> {
            // The host's handle remembers the value it read; it must be the one expected.
            let (cas, current) = atomics::Cas::new_with_read(&self.0, key).map_err(convert)?;
            if current.as_deref() != expected {
                return Ok(false);
            }
            match atomics::swap(cas, new) {
                Ok(()) => Ok(true),
                Err(atomics::CasError::CasFailed(_)) => Ok(false),
                Err(atomics::CasError::StoreError(err)) => Err(convert(err)),
            }
        }
    }
}

/// Empty every bucket on this thread (native builds only: for unit tests of plugin logic).
#[cfg(not(target_arch = "wasm32"))]
pub fn clear_native() {
    imp::NATIVE.with(|buckets| buckets.borrow_mut().clear());
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use super::KeyPage;
    use crate::Error;

    type Buckets = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

    thread_local! {
        pub(super) static NATIVE: RefCell<Buckets> = const { RefCell::new(BTreeMap::new()) };
    }

    #[derive(Debug)]
    pub(super) struct Handle(String);

    pub(super) fn open(name: &str) -> Result<super::Bucket, Error> {
        Ok(super::Bucket(Handle(name.to_owned())))
    }

    impl Handle {
        fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<String, Vec<u8>>) -> T) -> T {
            NATIVE.with(|buckets| f(buckets.borrow_mut().entry(self.0.clone()).or_default()))
        }

        pub(super) fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
            Ok(self.with(|b| b.get(key).cloned()))
        }

        pub(super) fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
            self.with(|b| b.insert(key.to_owned(), value.to_vec()));
            Ok(())
        }

        pub(super) fn delete(&self, key: &str) -> Result<(), Error> {
            self.with(|b| b.remove(key));
            Ok(())
        }

        pub(super) fn exists(&self, key: &str) -> Result<bool, Error> {
            Ok(self.with(|b| b.contains_key(key)))
        }

        pub(super) fn keys(&self, cursor: Option<&str>) -> Result<KeyPage, Error> {
            Ok(self.with(|b| KeyPage {
                keys: b
                    .keys()
                    .filter(|k| cursor.is_none_or(|c| k.as_str() > c))
                    .cloned()
                    .collect(),
                cursor: None,
            }))
        }

        pub(super) fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
            self.with(|b| {
                let current = match b.get(key) {
                    None => 0,
                    Some(bytes) => std::str::from_utf8(bytes)
                        .ok()
                        .and_then(|text| text.parse::<i64>().ok())
                        .ok_or_else(|| Error::new("kv: the value is not an integer"))?,
                };
                let next = current
                    .checked_add(delta)
                    .ok_or_else(|| Error::new("kv: the counter would overflow"))?;
                b.insert(key.to_owned(), next.to_string().into_bytes());
                Ok(next)
            })
        }

        pub(super) fn compare_and_swap(
            &self,
            key: &str,
            expected: Option<&[u8]>,
            new: &[u8],
        ) -> Result<bool, Error> {
            Ok(self.with(|b| {
                if b.get(key).map(Vec::as_slice) != expected {
                    return false;
                }
                b.insert(key.to_owned(), new.to_vec());
                true
            }))
        }
    }
}
