//! OpenIM's delivery keys (see [`crate::delivery`]).
//!
//! * Idempotency: `openim:{command}:` then the message's `serverMsgID` (`msg:`), else its
//!   `clientMsgID` (`cmsg:`), else `op:{operationID}:{hash}`, else `body:{hash}`, the hash
//!   being over the command and the body.
//! * Ordering: `openim:` then OpenIM's own conversation id: `sg_{groupID}` for a group,
//!   the body's `conversationID` (revoke, read receipts), `si_{a}_{b}` (`sn_` for a
//!   notification) for a sender and receiver in sorted order, the same pair form for two
//!   users of a friend or blacklist callback, else `u:{userID}`, else `cmd:{command}`.
//!
//! The decision a reader may question: pairs are spelled the way OpenIM spells single-chat
//! conversation ids (`si_` + the two user ids sorted, joined by `_`). A revoke or a read
//! receipt names its conversation by that id, so it lands in the same conversation as the
//! messages it refers to and reaches a plugin after them.

use crate::Callback;
use crate::delivery::{DeliveryKeys, bounded, digest, first_text, sorted_pair, text};

/// Sender and receiver fields of the message and relationship callbacks, in the order tried.
const PAIRS: [(&str, &str); 5] = [
    ("sendID", "recvID"),
    ("fromUserID", "toUserID"),
    // afterAddFriendAgree names the responder `blackUserID` (a copy-paste tag in OpenIM).
    ("fromUserID", "blackUserID"),
    ("ownerUserID", "friendUserID"),
    ("ownerUserID", "blackUserID"),
];

/// The one user a callback is about, in the order tried.
const USERS: [&str; 4] = ["userID", "sendID", "ownerUserID", "fromUserID"];

/// OpenIM's `sessionType` of notification conversations.
const NOTIFICATION_SESSION: &str = "4";

pub(crate) fn delivery_keys(callback: &Callback) -> DeliveryKeys {
    DeliveryKeys {
        idempotency: bounded(idempotency(callback)),
        ordering: bounded(format!("openim:{}", conversation(callback))),
    }
}

fn idempotency(callback: &Callback) -> String {
    let request = callback.request();
    let command = &callback.event.command;
    if let Some(id) = text(request, "serverMsgID") {
        return format!("openim:{command}:msg:{id}");
    }
    if let Some(id) = text(request, "clientMsgID") {
        return format!("openim:{command}:cmsg:{id}");
    }
    let hash = digest(&[command.as_bytes(), callback.event.payload.as_bytes()]);
    match callback.operation_id() {
        Some(op) => format!("openim:{command}:op:{op}:{hash}"),
        None => format!("openim:{command}:body:{hash}"),
    }
}

fn conversation(callback: &Callback) -> String {
    let request = callback.request();
    if let Some(group) = first_text(request, &["groupID", "groupId"]) {
        return format!("sg_{group}");
    }
    if let Some(conversation) = first_text(request, &["conversationID", "conversationId"]) {
        return conversation;
    }
    for (a, b) in PAIRS {
        if let (Some(a_id), Some(b_id)) = (text(request, a), text(request, b)) {
            let notification = a == "sendID"
                && text(request, "sessionType").as_deref() == Some(NOTIFICATION_SESSION);
            let kind = if notification { "sn_" } else { "si_" };
            return format!("{kind}{}", sorted_pair(&a_id, &b_id, "_"));
        }
    }
    if let Some(user) = first_text(request, &USERS) {
        return format!("u:{user}");
    }
    format!("cmd:{}", callback.event.command)
}
