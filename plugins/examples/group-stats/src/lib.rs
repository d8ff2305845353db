//! group-stats: message statistics in the host's key-value store, for OpenIM and Tencent Cloud
//! Chat from one component. On every after-send callback (one-to-one and group) it counts
//!
//! | key | what |
//! | --- | --- |
//! | `messages:total` | every message |
//! | `messages:sender:{user}` | messages by sender |
//! | `messages:day:{YYYY-MM-DD}` | messages per day (UTC, from the message's send time) |
//! | `messages:group:{group}` | messages per group |
//! | `messages:group:{group}:day:{day}` | messages per group per day |
//! | `active:group:{group}:day:{day}` | distinct senders per group per day |
//!
//! and keeps a marker `seen:group:{group}:day:{day}:{user}` per active sender, created with
//! compare-and-swap so that two replicas counting the same sender at once count it once.
//! Operators read the counts with `GET /plugins/group-stats/kv?prefix=messages:`.
//!
//! Not: exactly-once. An after-callback the IM server delivers twice is counted twice (the
//! durable after-callback queue deduplicates by message ID; see issue #9).
//!
//! The decision a reader may question: every counter is its own key, incremented atomically,
//! rather than one JSON document per group. A document would need read-modify-write with
//! retries under contention; separate counters are one `increment` each, exact across
//! replicas, and readable one by one.

use hookbox_sdk::kv::{self, Bucket};
use hookbox_sdk::message::{MessagePhase, Target, TextMessage};
use hookbox_sdk::prelude::*;

struct GroupStats;

impl Plugin for GroupStats {
    fn handle(event: Event) -> Result<Verdict, Error> {
        if MessagePhase::of(event.dialect(), event.command()) != Some(MessagePhase::AfterSend) {
            return Ok(Verdict::allow());
        }
        let Some(msg) = TextMessage::from_event(&event)? else {
            return Ok(Verdict::allow());
        };
        let day = utc_day(msg.sent_at_ms().unwrap_or_else(now_ms));
        count(&kv::open()?, &msg, &day)?;
        Ok(Verdict::allow())
    }
}

hookbox_sdk::export_plugin!(GroupStats);

/// Count one message sent on `day`.
fn count(bucket: &Bucket, msg: &TextMessage, day: &str) -> Result<(), Error> {
    let sender = msg.sender();
    bucket.increment("messages:total", 1)?;
    bucket.increment(&format!("messages:sender:{sender}"), 1)?;
    bucket.increment(&format!("messages:day:{day}"), 1)?;
    if let Target::Group(group) = msg.target() {
        bucket.increment(&format!("messages:group:{group}"), 1)?;
        bucket.increment(&format!("messages:group:{group}:day:{day}"), 1)?;
        let marker = format!("seen:group:{group}:day:{day}:{sender}");
        if bucket.compare_and_swap(&marker, None, "1")? {
            bucket.increment(&format!("active:group:{group}:day:{day}"), 1)?;
        }
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `YYYY-MM-DD` (UTC) of a Unix time in milliseconds (Howard Hinnant's civil-from-days).
fn utc_day(unix_ms: i64) -> String {
    let days = unix_ms.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    //! Native tests: `cargo test --target x86_64-unknown-linux-gnu -p group-stats`.

    use hookbox_sdk::openim::command;

    use super::*;

    #[test]
    fn days_are_utc_calendar_dates() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(1_700_000_000_000), "2023-11-14");
        assert_eq!(utc_day(951_782_400_000), "2000-02-29");
        assert_eq!(utc_day(-1), "1969-12-31");
    }

    fn group_message(sender: &str, group: &str) -> Event {
        let body = format!(
            r#"{{"sendID":"{sender}","groupID":"{group}","sessionType":3,"contentType":101,"content":"{{\"content\":\"hi\"}}","sendTime":1700000000000}}"#
        );
        Event::new(Dialect::OpenIm, command::AFTER_SEND_GROUP_MSG, body)
    }

    #[test]
    fn counts_messages_and_distinct_senders() {
        kv::clear_native();
        for (sender, group) in [("u1", "g1"), ("u1", "g1"), ("u2", "g1"), ("u1", "g2")] {
            GroupStats::handle(group_message(sender, group)).unwrap();
        }
        let bucket = kv::open().unwrap();
        let get = |key: &str| bucket.get_string(key).unwrap();
        assert_eq!(get("messages:total").as_deref(), Some("4"));
        assert_eq!(get("messages:sender:u1").as_deref(), Some("3"));
        assert_eq!(get("messages:group:g1").as_deref(), Some("3"));
        assert_eq!(
            get("messages:group:g1:day:2023-11-14").as_deref(),
            Some("3")
        );
        assert_eq!(get("active:group:g1:day:2023-11-14").as_deref(), Some("2"));
        assert_eq!(get("active:group:g2:day:2023-11-14").as_deref(), Some("1"));
        assert_eq!(get("messages:day:2023-11-14").as_deref(), Some("4"));
    }

    #[test]
    fn other_commands_are_not_counted() {
        kv::clear_native();
        let event = Event::new(Dialect::OpenIm, command::BEFORE_SEND_SINGLE_MSG, "{}");
        assert_eq!(GroupStats::handle(event).unwrap(), Verdict::allow());
        assert_eq!(kv::open().unwrap().get("messages:total").unwrap(), None);
    }
}
