//! The data that goes in and comes out: [`NewItem`], [`Item`], [`Leased`], the outcomes
//! of enqueue and fail, dead letters and stats.
//!
//! Plain data, no I/O. The payload is opaque bytes (the serialized event); the queue reads
//! only the two keys: the idempotency key (to drop duplicates) and the ordering key (to
//! keep one conversation's items in order).

use std::fmt;
use std::sync::Arc;

/// An item's identity: unique across the whole queue and increasing in enqueue order.
///
/// One enqueue gives one id, shared by the item's copies in every plugin's queue; a
/// replayed dead letter gets a new id (it is queued again, behind what came meanwhile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemId(pub u64);

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a caller enqueues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewItem {
    /// Names the event: the same key enqueued again within
    /// [`QueueConfig::dedupe_window`](crate::QueueConfig::dedupe_window) is a duplicate.
    /// It must name the event, not just the message (add the command when one message
    /// causes several callbacks). Not empty.
    pub idempotency_key: String,
    /// Names the conversation (a group, or a sender/receiver pair): items with the same
    /// key reach a plugin one at a time, in enqueue order. May be empty (one conversation).
    pub ordering_key: String,
    /// The event, serialized; opaque to the queue.
    pub payload: Vec<u8>,
}

/// An item as stored in a plugin's queue or dead letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Its identity.
    pub id: ItemId,
    /// As enqueued.
    pub idempotency_key: String,
    /// As enqueued.
    pub ordering_key: String,
    /// As enqueued.
    pub payload: Vec<u8>,
    /// Failed attempts so far (a lease that expired is not counted). Zero again after a
    /// replay.
    pub attempts: u32,
    /// When it was first enqueued (kept through a replay), ms since the Unix epoch.
    pub enqueued_at_ms: u64,
    /// When it may next be handed out: its enqueue (or replay) time, then the retry time.
    pub next_attempt_at_ms: u64,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
}

/// An item handed to a consumer by [`Queue::lease`](crate::Queue::lease). Give it back to
/// [`Queue::ack`](crate::Queue::ack) or [`Queue::fail`](crate::Queue::fail).
///
/// Until then no other item of its conversation is handed out, for up to
/// [`QueueConfig::lease_timeout`](crate::QueueConfig::lease_timeout).
#[derive(Debug, Clone)]
pub struct Leased {
    pub(crate) plugin: Arc<str>,
    /// The item.
    pub item: Item,
    pub(crate) token: LeaseToken,
}

impl Leased {
    /// The plugin whose queue it came from.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }
}

/// What proves a lease is still the holder's; each hand-out of an item makes a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LeaseToken {
    Embedded {
        generation: u64,
    },
    Redis {
        /// The entry of the plugin's ready stream that delivered it.
        ticket: String,
        generation: u64,
    },
}

/// What [`Queue::enqueue`](crate::Queue::enqueue) did; every variant means the event is
/// durably stored (or was already), so the IM server may be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnqueueOutcome {
    /// Queued for every plugin.
    Queued {
        /// The new item's id.
        id: ItemId,
    },
    /// Queued for the plugins with room; the `plugins` listed had full queues, and their
    /// copy went to their dead letters with reason [`DeadReason::Overflow`], from where an
    /// operator can replay it. Count it and log it.
    Overflow {
        /// The new item's id.
        id: ItemId,
        /// The plugins whose queues were full.
        plugins: Vec<String>,
    },
    /// The idempotency key was enqueued within the dedupe window: nothing was queued.
    Duplicate {
        /// The id the key was first enqueued under.
        original: ItemId,
    },
}

/// What [`Queue::fail`](crate::Queue::fail) did with the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// It will be handed out again at `at_ms` (backoff with jitter); its conversation waits.
    Retry {
        /// Failed attempts so far, this one included.
        attempts: u32,
        /// Not handed out before this, ms since the Unix epoch.
        at_ms: u64,
    },
    /// That was its last attempt: it is in the dead letters, and its conversation moves on.
    DeadLettered {
        /// Failed attempts, this one included.
        attempts: u32,
    },
}

/// Why an item is in the dead letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadReason {
    /// It failed [`QueueConfig::max_attempts`](crate::QueueConfig::max_attempts) times.
    Failed,
    /// The plugin's queue was full when it arrived.
    Overflow,
}

impl DeadReason {
    /// `"failed"` or `"overflow"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::Overflow => "overflow",
        }
    }

    pub(crate) fn parse(text: &[u8]) -> Option<Self> {
        match text {
            b"failed" => Some(Self::Failed),
            b"overflow" => Some(Self::Overflow),
            _ => None,
        }
    }
}

impl fmt::Display for DeadReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An item in a plugin's dead letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The item as it was when it died (attempts and last error included).
    pub item: Item,
    /// Why it is here.
    pub reason: DeadReason,
    /// When it got here, ms since the Unix epoch.
    pub dead_at_ms: u64,
}

/// One page of [`Queue::dead_letters`](crate::Queue::dead_letters), oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterPage {
    /// Dead letters in id order.
    pub letters: Vec<DeadLetter>,
    /// Pass it back as `after` for the next page; `None` when this page is the last.
    pub next_cursor: Option<ItemId>,
}

/// Which dead letters [`Queue::replay_dead_letters`](crate::Queue::replay_dead_letters)
/// and [`Queue::delete_dead_letters`](crate::Queue::delete_dead_letters) act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every dead letter of the plugin.
    All,
    /// These; ids that are not dead letters of the plugin are ignored.
    Ids(Vec<ItemId>),
}

/// One plugin's queue in numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Items waiting, leased or retrying (dead letters not included).
    pub depth: u64,
    /// Items currently leased (on Redis: by any replica, expired leases included until
    /// they are reclaimed).
    pub leased: u64,
    /// Items in the dead letters.
    pub dead_letters: u64,
    /// Items that found the queue full, ever (a counter).
    pub overflows: u64,
    /// Enqueues dropped as duplicates, ever (a counter).
    pub duplicates: u64,
}
