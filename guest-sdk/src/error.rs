//! The error a plugin returns when it cannot decide.

use core::fmt;

/// A plugin failure. Returned from [`Plugin::handle`](crate::Plugin::handle), it becomes the
/// WIT `err(string)`: the host logs the message and answers the IM server with the plugin's
/// configured `on_error` policy.
///
/// Build one from a message (`Error::new("...")`, `"...".into()`, `format!(..).into()`) or let
/// `?` convert a [`serde_json::Error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message the host will log.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message, by value.
    pub fn into_message(self) -> String {
        self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Self::new(format!("json: {err}"))
    }
}

impl From<crate::json::ScanError> for Error {
    fn from(err: crate::json::ScanError) -> Self {
        Self::new(format!("json: {err}"))
    }
}

impl From<fmt::Error> for Error {
    fn from(_: fmt::Error) -> Self {
        Self::new("formatting failed")
    }
}

impl From<Error> for String {
    fn from(err: Error) -> Self {
        err.message
    }
}
