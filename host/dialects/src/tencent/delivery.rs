//! Tencent's delivery keys (see [`crate::delivery`]). Both start with `tencent:{SdkAppid}:`:
//! several apps share one hookbox, and their message keys and group ids are only unique
//! within an app.
//!
//! * Idempotency: then `{command}:` and the message's `MsgKey` (`msgkey:`, one-to-one
//!   messages and their recalls), else its `MsgId` (`msgid:`, live groups), else
//!   `seq:{GroupId}[/{TopicId}]:{MsgSeq}`, else `body:{hash}` over the command and the body.
//!   Tencent's retries (when the console enables them) re-sign the query, never the body.
//! * Ordering: `g:{GroupId}`, else `c2c:{a}|{b}` for `From_Account` and `To_Account` in
//!   sorted order (or the one pair of a `PairList`), else `u:{account}` for the account the
//!   callback is about (`Info.To_Account` of a state change, else the first of
//!   `From_Account`, `Requester_Account`, `Operator_Account`, `To_Account`), else
//!   `cmd:{command}`.
//!
//! The decision a reader may question: a group's topics share the group's conversation.
//! Ordering them apart would let more run at once, but a topic's messages and the group's
//! membership changes (`Group.CallbackAfterMemberExit`, which names no topic) then could
//! reach a plugin out of order.

use serde_json::Value;

use crate::Callback;
use crate::delivery::{DeliveryKeys, bounded, digest, first_text, sorted_pair, text};

use super::SDK_APP_ID;

/// The account a callback is about when it names no pair, in the order tried.
const USERS: [&str; 4] = [
    "From_Account",
    "Requester_Account",
    "Operator_Account",
    "To_Account",
];

pub(crate) fn delivery_keys(callback: &Callback) -> DeliveryKeys {
    let app = callback.event.metadata_value(SDK_APP_ID).unwrap_or("0");
    DeliveryKeys {
        idempotency: bounded(format!("tencent:{app}:{}", idempotency(callback))),
        ordering: bounded(format!("tencent:{app}:{}", conversation(callback))),
    }
}

fn idempotency(callback: &Callback) -> String {
    let request = callback.request();
    let command = &callback.event.command;
    if let Some(key) = text(request, "MsgKey") {
        return format!("{command}:msgkey:{key}");
    }
    if let Some(id) = text(request, "MsgId") {
        return format!("{command}:msgid:{id}");
    }
    if let (Some(group), Some(seq)) = (text(request, "GroupId"), text(request, "MsgSeq")) {
        return match text(request, "TopicId") {
            Some(topic) => format!("{command}:seq:{group}/{topic}:{seq}"),
            None => format!("{command}:seq:{group}:{seq}"),
        };
    }
    let hash = digest(&[command.as_bytes(), callback.event.payload.as_bytes()]);
    format!("{command}:body:{hash}")
}

fn conversation(callback: &Callback) -> String {
    let request = callback.request();
    if let Some(group) = text(request, "GroupId") {
        return format!("g:{group}");
    }
    let single_pair = match request.get("PairList") {
        Some(Value::Array(pairs)) if pairs.len() == 1 => pairs[0].as_object(),
        _ => None,
    };
    for pair in [Some(request), single_pair].into_iter().flatten() {
        if let (Some(from), Some(to)) = (text(pair, "From_Account"), text(pair, "To_Account")) {
            return format!("c2c:{}", sorted_pair(&from, &to, "|"));
        }
    }
    let state_change = match request.get("Info") {
        Some(Value::Object(info)) => text(info, "To_Account"),
        _ => None,
    };
    if let Some(account) = state_change.or_else(|| first_text(request, &USERS)) {
        return format!("u:{account}");
    }
    format!("cmd:{}", callback.event.command)
}
