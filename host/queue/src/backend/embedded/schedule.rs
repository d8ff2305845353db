//! The embedded backend's in-memory schedule: which item of each conversation is next,
//! which are ready, which are leased.
//!
//! It is rebuilt from the `items` table at open (in id order, which is enqueue order), and
//! after that changed only by the writer thread after a commit, and by leases, which are
//! memory only. So it never shows an item that is not on disk, and a crash voids every
//! lease: the next open finds those items at the head of their conversations again.
//!
//! Invariant, per plugin: every non-empty conversation's head (its oldest item) is in
//! exactly one of `ready`, `leased`, or settling (taken out of `leased` by the writer thread
//! until its batch commits). No other item of a conversation is anywhere but its
//! conversation's list. That is the whole of per-conversation order.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Lease tokens, never reused while the process lives, not even by a queue reopened on the
/// same file (a stale [`Leased`](crate::Leased) from before must not match a new lease).
static GENERATIONS: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Default)]
pub(super) struct Schedule {
    plugins: HashMap<Arc<str>, PluginSchedule>,
}

#[derive(Debug, Default)]
struct PluginSchedule {
    /// Ordering key → its unsettled items, oldest first.
    conversations: HashMap<Arc<str>, VecDeque<Entry>>,
    /// (due, id) of the conversation heads that are neither leased nor settling.
    ready: BTreeSet<(u64, u64)>,
    /// id → the lease on it.
    leased: HashMap<u64, Lease>,
    /// Items in `conversations`.
    depth: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    id: u64,
    due_ms: u64,
}

/// A lease on a conversation's head.
#[derive(Debug, Clone)]
pub(super) struct Lease {
    generation: u64,
    deadline_ms: u64,
    /// When the item was due; it is due then again if the lease is voided.
    due_ms: u64,
}

impl Schedule {
    /// Appends item `id` to its conversation; it is ready at `due_ms` if it is the head.
    pub(super) fn push(&mut self, plugin: &Arc<str>, ordering_key: &str, id: u64, due_ms: u64) {
        let queue = self.plugins.entry(Arc::clone(plugin)).or_default();
        let conversation = match queue.conversations.get_mut(ordering_key) {
            Some(conversation) => conversation,
            None => queue
                .conversations
                .entry(Arc::from(ordering_key))
                .or_default(),
        };
        conversation.push_back(Entry { id, due_ms });
        if conversation.len() == 1 {
            queue.ready.insert((due_ms, id));
        }
        queue.depth += 1;
    }

    /// Leases up to `max` heads of `plugin` due by `now_ms`, earliest due first, after
    /// voiding the leases whose deadline has passed. Returns (id, generation) pairs.
    pub(super) fn lease(
        &mut self,
        plugin: &str,
        now_ms: u64,
        max: usize,
        lease_ms: u64,
    ) -> Vec<(u64, u64)> {
        let Some(queue) = self.plugins.get_mut(plugin) else {
            return Vec::new();
        };
        let expired: Vec<u64> = queue
            .leased
            .iter()
            .filter(|(_, lease)| lease.deadline_ms <= now_ms)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(lease) = queue.leased.remove(&id) {
                queue.ready.insert((lease.due_ms, id));
            }
        }
        let mut out = Vec::new();
        while out.len() < max {
            let Some(&(due_ms, id)) = queue.ready.first() else {
                break;
            };
            if due_ms > now_ms {
                break;
            }
            queue.ready.pop_first();
            let generation = GENERATIONS.fetch_add(1, Ordering::Relaxed) + 1;
            queue.leased.insert(
                id,
                Lease {
                    generation,
                    deadline_ms: now_ms.saturating_add(lease_ms),
                    due_ms,
                },
            );
            out.push((id, generation));
        }
        out
    }

    /// Takes the lease on `id` out of the table if `generation` is still its token: the
    /// item is now being settled by the caller, and nobody can lease it meanwhile.
    pub(super) fn take_lease(&mut self, plugin: &str, id: u64, generation: u64) -> Option<Lease> {
        let queue = self.plugins.get_mut(plugin)?;
        match queue.leased.get(&id) {
            Some(lease) if lease.generation == generation => queue.leased.remove(&id),
            _ => None,
        }
    }

    /// Undoes a [`Schedule::take_lease`] whose settlement did not commit: the head is ready
    /// again, when it was due.
    pub(super) fn release(&mut self, plugin: &str, id: u64, lease: &Lease) {
        if let Some(queue) = self.plugins.get_mut(plugin) {
            queue.ready.insert((lease.due_ms, id));
        }
    }

    /// Gives up a lease that could not be handed out after all (its item could not be read).
    pub(super) fn give_back(&mut self, plugin: &str, id: u64, generation: u64) {
        if let Some(lease) = self.take_lease(plugin, id, generation) {
            self.release(plugin, id, &lease);
        }
    }

    /// A settled head that stays (it failed and will be retried): ready again at `due_ms`.
    pub(super) fn retry(&mut self, plugin: &str, ordering_key: &str, id: u64, due_ms: u64) {
        let Some(queue) = self.plugins.get_mut(plugin) else {
            return;
        };
        if let Some(head) = queue
            .conversations
            .get_mut(ordering_key)
            .and_then(VecDeque::front_mut)
            .filter(|head| head.id == id)
        {
            head.due_ms = due_ms;
            queue.ready.insert((due_ms, id));
        }
    }

    /// A settled head that leaves (acked or dead): the next item of its conversation, if
    /// any, becomes ready when it is due.
    pub(super) fn finish(&mut self, plugin: &str, ordering_key: &str, id: u64) {
        let Some(queue) = self.plugins.get_mut(plugin) else {
            return;
        };
        let Some(conversation) = queue.conversations.get_mut(ordering_key) else {
            return;
        };
        if conversation.front().is_some_and(|head| head.id == id) {
            conversation.pop_front();
            queue.depth -= 1;
            match conversation.front() {
                Some(next) => {
                    queue.ready.insert((next.due_ms, next.id));
                }
                None => {
                    queue.conversations.remove(ordering_key);
                }
            }
        }
    }

    pub(super) fn depth(&self, plugin: &str) -> u64 {
        self.plugins.get(plugin).map_or(0, |queue| queue.depth)
    }

    pub(super) fn leased(&self, plugin: &str) -> u64 {
        self.plugins
            .get(plugin)
            .map_or(0, |queue| queue.leased.len() as u64)
    }

    /// The earliest time something of `plugin` becomes ready by itself: a retry or new
    /// item's due time, or a lease deadline.
    pub(super) fn next_due_ms(&self, plugin: &str) -> Option<u64> {
        let queue = self.plugins.get(plugin)?;
        let ready = queue.ready.first().map(|(due, _)| *due);
        let deadline = queue.leased.values().map(|lease| lease.deadline_ms).min();
        ready.into_iter().chain(deadline).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin() -> Arc<str> {
        Arc::from("p")
    }

    #[test]
    fn one_head_per_conversation_is_handed_out() {
        let mut s = Schedule::default();
        s.push(&plugin(), "a", 1, 0);
        s.push(&plugin(), "a", 2, 0);
        s.push(&plugin(), "b", 3, 0);
        let leased: Vec<u64> = s.lease("p", 10, 10, 1_000).iter().map(|l| l.0).collect();
        assert_eq!(leased, [1, 3]);
        assert!(s.lease("p", 10, 10, 1_000).is_empty());
        s.finish("p", "a", 1);
        let leased: Vec<u64> = s.lease("p", 10, 10, 1_000).iter().map(|l| l.0).collect();
        assert_eq!(leased, [2]);
        assert_eq!(s.depth("p"), 2);
    }

    #[test]
    fn an_expired_lease_is_handed_out_again_with_a_new_token() {
        let mut s = Schedule::default();
        s.push(&plugin(), "a", 1, 0);
        let first = s.lease("p", 0, 1, 100);
        assert!(s.lease("p", 99, 1, 100).is_empty());
        let second = s.lease("p", 100, 1, 100);
        assert_eq!(second.len(), 1);
        assert_ne!(first[0].1, second[0].1);
        assert!(s.take_lease("p", 1, first[0].1).is_none());
        assert!(s.take_lease("p", 1, second[0].1).is_some());
    }
}
