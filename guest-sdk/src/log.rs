//! Logging through the host (`wasi:logging/logging`).
//!
//! The host attaches the plugin's name and the request to every line. `context` is free text
//! for grouping lines (a module or rule name); the short functions pass `""`.
//!
//! Calling any of these makes the component import `wasi:logging/logging`, so the plugin's
//! manifest must grant logging (hosts usually grant it by default).
//!
//! Outside WebAssembly (native unit tests of plugin logic) lines go to stderr and are kept
//! per thread; read them with `take_captured()`.

use crate::bindings::wasi::logging::logging as wit;

/// How important a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Variables and control flow.
    Trace,
    /// Of interest when debugging the plugin.
    Debug,
    /// Of interest when monitoring the plugin.
    Info,
    /// A hazardous situation.
    Warn,
    /// A serious error.
    Error,
    /// A fatal error.
    Critical,
}

impl Level {
    /// The level's lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Critical => "critical",
        }
    }
}

impl From<Level> for wit::Level {
    fn from(level: Level) -> Self {
        match level {
            Level::Trace => wit::Level::Trace,
            Level::Debug => wit::Level::Debug,
            Level::Info => wit::Level::Info,
            Level::Warn => wit::Level::Warn,
            Level::Error => wit::Level::Error,
            Level::Critical => wit::Level::Critical,
        }
    }
}

/// Emit one log line at `level` with a `context` label.
pub fn log(level: Level, context: &str, message: &str) {
    #[cfg(target_arch = "wasm32")]
    wit::log(level.into(), context, message);
    #[cfg(not(target_arch = "wasm32"))]
    native::log(level, context, message);
}

/// Emit a trace line.
pub fn trace(message: &str) {
    log(Level::Trace, "", message);
}

/// Emit a debug line.
pub fn debug(message: &str) {
    log(Level::Debug, "", message);
}

/// Emit an info line.
pub fn info(message: &str) {
    log(Level::Info, "", message);
}

/// Emit a warning.
pub fn warn(message: &str) {
    log(Level::Warn, "", message);
}

/// Emit an error line.
pub fn error(message: &str) {
    log(Level::Error, "", message);
}

/// Emit a critical line.
pub fn critical(message: &str) {
    log(Level::Critical, "", message);
}

/// One captured log line (native builds only).
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// The line's level.
    pub level: Level,
    /// The line's context label.
    pub context: String,
    /// The line's text.
    pub message: String,
}

/// The lines logged on this thread since the last call (native builds only: for unit tests of
/// plugin logic).
#[cfg(not(target_arch = "wasm32"))]
pub fn take_captured() -> Vec<Captured> {
    native::CAPTURED.with(|lines| std::mem::take(&mut *lines.borrow_mut()))
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::cell::RefCell;

    use super::{Captured, Level};

    thread_local! {
        pub(super) static CAPTURED: RefCell<Vec<Captured>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn log(level: Level, context: &str, message: &str) {
        eprintln!("[{}] {context}: {message}", level.as_str());
        CAPTURED.with(|lines| {
            lines.borrow_mut().push(Captured {
                level,
                context: context.to_owned(),
                message: message.to_owned(),
            });
        });
    }
}

/// Log a formatted line at [`Level::Trace`]: `trace!("seq {}", seq)`, or with a context label,
/// `trace!(context: "rules", "seq {}", seq)`.
#[macro_export]
macro_rules! trace {
    (context: $ctx:expr, $($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Trace, $ctx, &::std::format!($($arg)+))
    };
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Trace, "", &::std::format!($($arg)+))
    };
}

/// Log a formatted line at [`Level::Debug`]; see [`trace!`] for the forms.
#[macro_export]
macro_rules! debug {
    (context: $ctx:expr, $($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Debug, $ctx, &::std::format!($($arg)+))
    };
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Debug, "", &::std::format!($($arg)+))
    };
}

/// Log a formatted line at [`Level::Info`]; see [`trace!`] for the forms.
#[macro_export]
macro_rules! info {
    (context: $ctx:expr, $($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Info, $ctx, &::std::format!($($arg)+))
    };
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Info, "", &::std::format!($($arg)+))
    };
}

/// Log a formatted line at [`Level::Warn`]; see [`trace!`] for the forms.
#[macro_export]
macro_rules! warn {
    (context: $ctx:expr, $($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Warn, $ctx, &::std::format!($($arg)+))
    };
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Warn, "", &::std::format!($($arg)+))
    };
}

/// Log a formatted line at [`Level::Error`]; see [`trace!`] for the forms.
#[macro_export]
macro_rules! error {
    (context: $ctx:expr, $($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Error, $ctx, &::std::format!($($arg)+))
    };
    ($($arg:tt)+) => {
        $crate::log::log($crate::log::Level::Error, "", &::std::format!($($arg)+))
    };
}
