//! The plugin's configuration (`wasi:config/store`): the key-value pairs the operator granted
//! this plugin in `hookbox.toml` (`grants = { config = { banned = "spam,scam" } }`).
//!
//! Calling any of these makes the component import `wasi:config/store`.
//!
//! On an instance that serves more than one call (reuse mode), [`get`] and [`try_get`]
//! remember each key's answer from the second call on and stop asking the host: an
//! instance's config never changes under it (hookbox starts new instances when a plugin's
//! config changes, `docs/adr/009-instance-reuse-mode.md`), and the host call with its copy
//! across the boundary cost ~2k x86 instructions of the ~40k a warm keyword-filter call
//! takes. A fresh instance, which serves one call, keeps nothing and pays nothing for it.
//! Failures are not remembered; the next call asks again.
//!
//! [`parsed`] goes one step further for a value the plugin turns into something (a word
//! list, a number, a pattern): on a warm instance it keeps what the plugin's parser made of
//! it, so the parse runs once per instance instead of once per call.
//!
//! Outside WebAssembly (native unit tests of plugin logic) values come from a per-thread map
//! that tests fill with `set_native` and empty with `clear_native`; nothing is remembered
//! there, so a test that changes a value sees the change.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use crate::Error;

/// The value granted under `key`, or `None` when there is none or the store failed (use
/// [`try_get`] to tell those apart).
pub fn get(key: &str) -> Option<String> {
    try_get(key).ok().flatten()
}

/// What `parse` makes of the value granted under `key`, or `None` when there is none or
/// the store failed.
///
/// From an instance's second call on, the result is remembered per key (like [`get`]'s
/// values) and handed out again without asking the host or parsing: keyword-filter's word
/// list cost ~1.5k x86 instructions per call to rebuild. Use one `T` per key; asking for a
/// key with another type parses again.
///
/// ```no_run
/// use hookbox_sdk::config;
///
/// let limit = config::parsed("max_len", |text| text.trim().parse::<usize>());
/// if let Some(Ok(limit)) = limit.as_deref() {
///     // ...
/// }
/// ```
pub fn parsed<T: 'static>(key: &str, parse: impl FnOnce(&str) -> T) -> Option<Rc<T>> {
    let known = PARSED.with(|parsed| parsed.find(key, |value| Rc::clone(value).downcast().ok()));
    if known.is_some() {
        return known;
    }
    let value = Rc::new(parse(&get(key)?));
    PARSED.with(|parsed| parsed.keep(key, || value.clone()));
    Some(value)
}

std::thread_local! {
    /// What [`parsed`] remembered.
    static PARSED: Remembered<Rc<dyn Any>> = const { Remembered::new() };
}

/// Answers per key that an instance keeps for its later calls: only on a warm instance
/// (`__private::instance_is_warm`), and for at most [`Remembered::MAX_KEYS`] keys.
struct Remembered<V>(RefCell<Vec<(String, V)>>);

impl<V> Remembered<V> {
    /// Keys remembered, at most: a plugin that reads keys it builds at run time keeps asking
    /// the host past this instead of growing without bound.
    const MAX_KEYS: usize = 64;

    const fn new() -> Self {
        Remembered(RefCell::new(Vec::new()))
    }

    /// What `read` makes of the value remembered for `key`, if there is one.
    fn find<R>(&self, key: &str, read: impl FnOnce(&V) -> Option<R>) -> Option<R> {
        let remembered = self.0.borrow();
        let (_, value) = remembered.iter().find(|(known, _)| known == key)?;
        read(value)
    }

    /// Remembers `value()` for `key` (in place of an earlier one) if the instance is warm;
    /// a fresh instance does not even build it.
    fn keep(&self, key: &str, value: impl FnOnce() -> V) {
        if !crate::__private::instance_is_warm() {
            return;
        }
        let mut remembered = self.0.borrow_mut();
        if let Some((_, slot)) = remembered.iter_mut().find(|(known, _)| known == key) {
            *slot = value();
        } else if remembered.len() < Self::MAX_KEYS {
            remembered.push((key.to_owned(), value()));
        }
    }
}

/// Every key-value pair this plugin may read; empty when the store failed (use
/// [`try_get_all`] to see the failure).
pub fn get_all() -> Vec<(String, String)> {
    try_get_all().unwrap_or_default()
}

/// The value granted under `key`, or `None` when there is none.
///
/// # Errors
///
/// The host's configuration source failed.
pub fn try_get(key: &str) -> Result<Option<String>, Error> {
    imp::get(key)
}

/// Every key-value pair this plugin may read.
///
/// # Errors
///
/// The host's configuration source failed.
pub fn try_get_all() -> Result<Vec<(String, String)>, Error> {
    imp::get_all()
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::Remembered;
    use crate::Error;
    use crate::bindings::wasi::config::store;

    fn convert(err: store::Error) -> Error {
        match err {
            store::Error::Upstream(msg) => Error::new(format!("config store: {msg}")),
            store::Error::Io(msg) => Error::new(format!("config store I/O: {msg}")),
        }
    }

    std::thread_local! {
        static REMEMBERED: Remembered<Option<String>> = const { Remembered::new() };
    }

    pub(super) fn get(key: &str) -> Result<Option<String>, Error> {
        if let Some(value) = REMEMBERED.with(|known| known.find(key, |value| Some(value.clone()))) {
            return Ok(value);
        }
        let value = store::get(key).map_err(convert)?;
        REMEMBERED.with(|known| known.keep(key, || value.clone()));
        Ok(value)
    }

    pub(super) fn get_all() -> Result<Vec<(String, String)>, Error> {
        store::get_all().map_err(convert)
    }
}

/// Set a value that [`get`] returns on this thread (native builds only: for unit tests of
/// plugin logic).
#[cfg(not(target_arch = "wasm32"))]
pub fn set_native(key: impl Into<String>, value: impl Into<String>) {
    imp::NATIVE.with(|map| {
        map.borrow_mut().insert(key.into(), value.into());
    });
}

/// Remove every value set with [`set_native`] on this thread (native builds only).
#[cfg(not(target_arch = "wasm32"))]
pub fn clear_native() {
    imp::NATIVE.with(|map| map.borrow_mut().clear());
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use crate::Error;

    thread_local! {
        pub(super) static NATIVE: RefCell<BTreeMap<String, String>> =
            const { RefCell::new(BTreeMap::new()) };
    }

    pub(super) fn get(key: &str) -> Result<Option<String>, Error> {
        Ok(NATIVE.with(|map| map.borrow().get(key).cloned()))
    }

    pub(super) fn get_all() -> Result<Vec<(String, String)>, Error> {
        Ok(NATIVE.with(|map| {
            map.borrow()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_hands_over_what_the_parser_made_and_natively_sees_every_change() {
        clear_native();
        assert!(parsed("limit", |text| text.parse::<u32>()).is_none());
        set_native("limit", "5");
        let parses = std::cell::Cell::new(0);
        let read = || {
            parsed("limit", |text| {
                parses.set(parses.get() + 1);
                text.parse::<u32>()
            })
        };
        assert_eq!(read().as_deref(), Some(&Ok(5)));
        set_native("limit", "six");
        assert!(matches!(read().as_deref(), Some(Err(_))));
        // A native build is never a warm instance: every call parses what is there now.
        assert_eq!(parses.get(), 2);
        clear_native();
    }
}
