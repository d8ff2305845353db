//! Who gets in: the sources allowed to send webhook requests, and the global and per-source
//! caps on requests in flight.
//!
//! Every webhook request passes [`Admission::admit`] before it is routed
//! ([`Webhooks`](crate::webhooks::Webhooks)). A peer outside `server.allow_sources` (when
//! it is set) is answered 403 there, before its body is read. Otherwise admission takes a
//! slot of `server.max_in_flight` and one of `server.max_in_flight_per_source` for the
//! peer's IP address, and holds both until the answer is built. When either is full, the request is
//! answered 503 with `Retry-After` at once, before its body is read.
//!
//! This is *not* a rate limiter (requests per second) or a queue: a slot is held while a
//! request is being answered, however long that takes, so a client that trickles its body
//! or waits on a slow plugin uses up its own share and nobody else's.
//!
//! The decision a reader may question: refusing instead of queueing. An IM server's
//! before-callback blocks a user's action until it is answered; a queue would only move the
//! wait from the IM server's side to ours and then time out anyway, holding memory (up to
//! `max_body_kb` per request) all the while. An immediate 503 lets the IM server apply its
//! failure policy now.
//!
//! The source is the TCP peer address. Behind a reverse proxy that is the proxy, and every
//! request shares its one slot budget: set `max_in_flight_per_source = max_in_flight` there.
//! Forwarded-for headers are not trusted, because anyone can send one.

use std::collections::hash_map::Entry;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::{SourceNetwork, source_allowed};
use crate::error::ApiError;

/// The in-flight caps of one webhook listener.
#[derive(Debug)]
pub(crate) struct Admission {
    global: Arc<Semaphore>,
    per_source: Arc<Mutex<SourceCounts>>,
    max_per_source: usize,
    allowed_sources: Vec<SourceNetwork>,
}

/// Proof that a request holds its slots; they are given back when it drops.
#[derive(Debug)]
pub(crate) struct Admitted {
    _global: OwnedSemaphorePermit,
    _source: SourceSlot,
}

/// Requests in flight per peer address. Looked up twice per request, so foldhash rather than
/// SipHash; its per-process seed is enough here, since the map never holds more entries than
/// there are requests in flight.
type SourceCounts = foldhash::HashMap<IpAddr, usize>;

#[derive(Debug)]
struct SourceSlot {
    ip: IpAddr,
    counts: Arc<Mutex<SourceCounts>>,
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Entry::Occupied(mut count) = counts.entry(self.ip) {
            *count.get_mut() -= 1;
            // Removing idle sources keeps the map as small as the set of busy peers, so
            // a scan from many addresses leaves nothing behind.
            if *count.get() == 0 {
                count.remove();
            }
        }
    }
}

impl Admission {
    /// `allowed_sources` empty: every source may send requests.
    pub(crate) fn new(
        max_in_flight: usize,
        max_per_source: usize,
        allowed_sources: Vec<SourceNetwork>,
    ) -> Admission {
        Admission {
            global: Arc::new(Semaphore::new(max_in_flight)),
            per_source: Arc::default(),
            max_per_source,
            allowed_sources,
        }
    }

    /// Take a global slot and one for `source` (in canonical form), or say why not: the
    /// source is not allowed, or which cap is full.
    pub(crate) fn admit(&self, source: IpAddr) -> Result<Admitted, ApiError> {
        if !source_allowed(&self.allowed_sources, source) {
            return Err(ApiError::SourceNotAllowed(source));
        }
        // The source is checked first: a noisy peer is told it is the problem, and its
        // refusals never consume global slots.
        let source = {
            let mut counts = self
                .per_source
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let count = counts.entry(source).or_insert(0);
            if *count >= self.max_per_source {
                return Err(ApiError::SourceOverloaded);
            }
            *count += 1;
            SourceSlot {
                ip: source,
                counts: self.per_source.clone(),
            }
        };
        // On failure `source` drops here and gives its slot back.
        let global = self
            .global
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::Overloaded)?;
        Ok(Admitted {
            _global: global,
            _source: source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn a_source_gets_its_share_and_no_more() {
        let admission = Admission::new(3, 2, Vec::new());
        let a1 = admission.admit(A).unwrap();
        let _a2 = admission.admit(A).unwrap();
        assert!(matches!(
            admission.admit(A),
            Err(ApiError::SourceOverloaded)
        ));
        let _b1 = admission.admit(B).unwrap();
        assert!(matches!(admission.admit(B), Err(ApiError::Overloaded)));
        drop(a1);
        let _a3 = admission.admit(A).unwrap();
    }

    #[test]
    fn idle_sources_leave_no_entry_behind() {
        let admission = Admission::new(10, 10, Vec::new());
        for last in 0..=255 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 1, last));
            drop(admission.admit(ip).unwrap());
        }
        assert!(admission.per_source.lock().unwrap().is_empty());
        // A refusal by the global cap gives the source slot back too.
        let full = Admission::new(1, 1, Vec::new());
        let _held = full.admit(A).unwrap();
        assert!(full.admit(B).is_err());
        assert_eq!(full.per_source.lock().unwrap().get(&B), None);
    }

    #[test]
    fn a_source_outside_the_list_is_refused_and_holds_no_slot() {
        let admission = Admission::new(1, 1, vec!["10.0.0.1".parse().unwrap()]);
        assert!(matches!(
            admission.admit(B),
            Err(ApiError::SourceNotAllowed(ip)) if ip == B
        ));
        assert!(admission.per_source.lock().unwrap().is_empty());
        // The refusal took neither the global slot nor A's.
        let _a = admission.admit(A).unwrap();
    }
}
