//! Delivery keys: what names an after-callback's event (its idempotency key) and which
//! conversation it belongs to (its ordering key), read from the body by each dialect.
//!
//! The server stores every after-callback in a durable queue before it answers; the queue
//! drops an event whose idempotency key it saw within its dedupe window, and hands one
//! conversation's events to a plugin one at a time, in order. The keys are dialect knowledge
//! (which field is a message id, which a group), so they are made here, next to the command
//! tables; the rules per dialect are in `openim::delivery` and `tencent::delivery`.
//!
//! Not here: the queue, or deciding which plugins an event goes to.
//!
//! The decision a reader may question: when no message id names the event, the idempotency
//! key ends in a hash of the command and the body rather than being the operation id alone.
//! An IM server (or a proxy) that sends an event again sends the same bytes, so the hash still
//! recognises the duplicate; but one operation can cause several callbacks of one command
//! (a batch, a conversation per member), and a key that merged them would make the queue,
//! and every plugin that trusts the key, drop real events. The operation id stays in the key
//! so an operator can match a dead letter to the IM server's logs.

use hookbox_model::{DialectKind, Event, JsonObject};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::Callback;

/// The metadata key under which the server gives plugins an after-callback's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotencyKey";

/// Longest key kept as it is, in bytes; a longer one (a huge group id) is replaced by its hash,
/// which the queue stores in every item and every Redis key name.
const MAX_KEY_BYTES: usize = 256;

/// The two keys of an after-callback's event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryKeys {
    /// Names the event: the same event sent twice has the same key, two events never share
    /// one. Never empty. Includes the dialect and the command, because one message causes
    /// several callbacks (after-send and after-save-to-db) that are each an event.
    pub idempotency: String,
    /// Names the conversation: a group, a pair of users (in sorted order, so both
    /// directions are one conversation), else a user, else the command. Two conversations
    /// that happen to share a key are only serialised together, never reordered.
    pub ordering: String,
}

impl DeliveryKeys {
    /// `event` as plugins get an after-callback: its metadata ends with the idempotency key,
    /// under [`IDEMPOTENCY_KEY`].
    pub fn tag(&self, event: &Event) -> Event {
        let mut event = event.clone();
        event
            .metadata
            .push((IDEMPOTENCY_KEY.to_owned(), self.idempotency.clone()));
        event
    }
}

impl Callback {
    /// The delivery keys of this callback's event (meaningful for after-callbacks; any
    /// callback has them).
    pub fn delivery_keys(&self) -> DeliveryKeys {
        match self.event.dialect {
            DialectKind::Openim => crate::openim::delivery_keys(self),
            DialectKind::Tencent => crate::tencent::delivery_keys(self),
        }
    }
}

/// The body field `name` as text: a non-empty string, or a number's decimal form (Tencent
/// sends `MsgSeq` as a number, OpenIM `seq` too).
pub(crate) fn text(request: &JsonObject, name: &str) -> Option<String> {
    match request.get(name)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The first of `names` that [`text`] finds.
pub(crate) fn first_text(request: &JsonObject, names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| text(request, name))
}

/// `a` and `b` in sorted order, joined by `sep`: the same for both directions of a pair.
pub(crate) fn sorted_pair(a: &str, b: &str, sep: &str) -> String {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    format!("{low}{sep}{high}")
}

/// Lower-case hex of the first 128 bits of sha256 over `parts`, each followed by a newline
/// (so `("ab", "c")` and `("a", "bc")` differ).
pub(crate) fn digest(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
        hasher.update(b"\n");
    }
    hex::encode(&hasher.finalize()[..16])
}

/// `key`, or, when it is longer than [`MAX_KEY_BYTES`], its first bytes, `~` and a hash of
/// the whole: keys stay bounded, distinct, and still readable at the start.
pub(crate) fn bounded(key: String) -> String {
    if key.len() <= MAX_KEY_BYTES {
        return key;
    }
    let mut cut = MAX_KEY_BYTES - 40;
    while !key.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}~{}", &key[..cut], digest(&[key.as_bytes()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_the_same_both_ways_and_digests_separate_parts() {
        assert_eq!(sorted_pair("bob", "alice", "_"), "alice_bob");
        assert_eq!(sorted_pair("alice", "bob", "_"), "alice_bob");
        assert_ne!(digest(&[b"ab", b"c"]), digest(&[b"a", b"bc"]));
        assert_eq!(digest(&[b"x"]).len(), 32);
    }

    #[test]
    fn long_keys_are_cut_and_hashed_but_stay_distinct() {
        let short = "openim:sg_group-1".to_owned();
        assert_eq!(bounded(short.clone()), short);
        let long_a = format!("openim:sg_{}a", "g".repeat(400));
        let long_b = format!("openim:sg_{}b", "g".repeat(400));
        let (a, b) = (bounded(long_a), bounded(long_b));
        assert!(a.len() <= MAX_KEY_BYTES, "{}", a.len());
        assert_ne!(a, b);
        let multibyte = "群".repeat(200);
        assert!(bounded(multibyte).len() <= MAX_KEY_BYTES);
    }

    #[test]
    fn text_reads_strings_and_numbers_only() {
        let request: JsonObject =
            serde_json::from_str(r#"{"s":"x","n":42,"e":"","z":null,"o":{},"b":true}"#).unwrap();
        assert_eq!(text(&request, "s").as_deref(), Some("x"));
        assert_eq!(text(&request, "n").as_deref(), Some("42"));
        for absent in ["e", "z", "o", "b", "missing"] {
            assert_eq!(text(&request, absent), None, "{absent}");
        }
        assert_eq!(
            first_text(&request, &["e", "n", "s"]).as_deref(),
            Some("42")
        );
    }
}
