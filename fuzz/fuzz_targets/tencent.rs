//! Tencent: query string and body → `tencent::parse` (an open app 1400000001 and an app
//! 1400000002 signed with Tencent's documented token, clock 18 s after the documented
//! `RequestTime`) → for every parsed callback, `tencent::check_modify` of the plugin's
//! modification, and `tencent::render` of allow, that modification (accepted or not), a reject
//! per [`REJECT_CODES`] and discard.
//!
//! Besides "nothing panics", every answer must be a JSON object that starts with
//! `"ActionStatus":"OK"`, an int32 `ErrorCode` and a string `ErrorInfo`, in that order
//! (`protocols/tencent.md` §3), and repeats none of them in another case. Every `ResultItem`
//! the dialect writes holds one `{To_Account, ResultCode, ResultInfo}` per account the request
//! lists. Decoded, an answer must mean what the verdict meant: an after-callback gets the allow
//! answer whatever the verdict; allow and an accepted modification refuse nothing (and the
//! modification's fields reach the answer unchanged); reject refuses with
//! `tencent::reject_code` and the plugin's message, through `ErrorCode` or for every account;
//! discard drops silently (`ErrorCode` 2) on the send callbacks and refuses elsewhere.

#![no_main]

use hookbox_dialects::{Callback, tencent};
use hookbox_fuzz::{Input, REJECT_CODES, int32, object, string};
use hookbox_model::{JsonObject, Phase, Rejection, Verdict};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The answer every after-callback gets.
const ALLOW: &[u8] = br#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}"#;

fuzz_target!(|data: &[u8]| {
    let Some(input) = Input::split(data) else {
        return;
    };
    let apps = [
        tencent::TencentApp {
            sdk_app_id: 1_400_000_001,
            token: None,
        },
        tencent::TencentApp {
            sdk_app_id: 1_400_000_002,
            token: Some("xxxxyyyy".to_owned()),
        },
    ];
    let auth = tencent::Auth {
        apps: &apps,
        max_skew_secs: 60,
        now_unix_secs: 1_669_872_112 + 18,
    };
    let Ok(callback) = tencent::parse(&input.inbound(), &auth) else {
        return;
    };
    let info = tencent::command(&callback.event.command);
    let accounts = match info.map(|i| i.reject) {
        Some(tencent::RejectRule::ResultItems { items, .. }) => Some(accounts(&callback, items)),
        _ => None,
    };
    let answer = |verdict: &Verdict| {
        let bytes = tencent::render(&callback, verdict);
        if callback.phase == Phase::After {
            assert_eq!(bytes, ALLOW, "after-callback answer to {}", verdict.kind());
        }
        Answer::decode(&bytes)
    };

    let allow = answer(&Verdict::Allow);
    allow.check_results(accounts.as_deref());
    assert_eq!(allow.refusal(), None, "allow refuses: {allow:?}");

    let fields = input.modify.unwrap_or_else(|| callback.request().clone());
    let accepted = tencent::check_modify(&callback, &fields).is_ok();
    let modified = answer(&Verdict::Modify(fields.clone()));
    if accepted {
        modified.check_results(accounts.as_deref());
        assert_eq!(modified.error_code, 0, "modify refuses: {modified:?}");
        for (key, value) in &fields {
            assert_eq!(
                modified.body.get(key),
                Some(value),
                "accepted `{key}` is lost"
            );
        }
    }
    if callback.phase == Phase::After {
        return;
    }

    let message = &callback.event.payload;
    for &code in REJECT_CODES {
        let rejection = Rejection {
            code,
            message: message.clone(),
            detail: String::new(),
        };
        let rejected = answer(&Verdict::Reject(rejection));
        rejected.check_results(accounts.as_deref());
        let expected = tencent::reject_code(&callback, code).0;
        assert_ne!(expected, 0, "reject code {code} maps to 0");
        assert_eq!(rejected.refusal(), Some((expected, message.as_str())));
    }
    let discarded = answer(&Verdict::Discard);
    discarded.check_results(accounts.as_deref());
    if info.is_some_and(|i| i.silent_drop) {
        assert_eq!(
            (discarded.error_code, discarded.error_info.as_str()),
            (tencent::SILENT_DROP_CODE, "")
        );
    } else {
        let refusal = discarded.refusal();
        assert!(
            refusal.is_some_and(|(code, info)| code != 0 && info == tencent::DISCARD_MESSAGE),
            "discard does not refuse: {discarded:?}"
        );
    }
});

/// The distinct `To_Account` strings of `request[items]`, in request order: the accounts a
/// `ResultItem` must answer.
fn accounts(callback: &Callback, items: &str) -> Vec<String> {
    let mut accounts: Vec<String> = Vec::new();
    let listed = callback.request().get(items).and_then(Value::as_array);
    for item in listed.into_iter().flatten() {
        if let Some(account) = item.get("To_Account").and_then(Value::as_str)
            && !accounts.iter().any(|a| a == account)
        {
            accounts.push(account.to_owned());
        }
    }
    accounts
}

/// A decoded answer.
#[derive(Debug)]
struct Answer {
    error_code: i32,
    error_info: String,
    body: JsonObject,
}

impl Answer {
    /// Decodes `bytes`; panics if Tencent could not read the envelope.
    fn decode(bytes: &[u8]) -> Self {
        let body = object(bytes);
        assert!(
            body.keys().take(3).eq(tencent::ENVELOPE_KEYS),
            "answer does not start with the envelope: {body:?}"
        );
        let repeated = body.keys().skip(3).find(|key| {
            let is_envelope = |e: &&str| e.eq_ignore_ascii_case(key);
            tencent::ENVELOPE_KEYS.iter().any(is_envelope)
        });
        assert_eq!(repeated, None, "envelope key repeated: {body:?}");
        assert_eq!(string("ActionStatus", &body["ActionStatus"]), "OK");
        Answer {
            error_code: int32("ErrorCode", &body["ErrorCode"]),
            error_info: string("ErrorInfo", &body["ErrorInfo"]).to_owned(),
            body,
        }
    }

    /// `(To_Account, ResultCode, ResultInfo)` of every `ResultItem` entry, if the answer has
    /// one; panics unless each entry is exactly those three fields, typed as Tencent reads them.
    /// Only for answers the dialect wrote itself or whose modification it accepted.
    fn results(&self) -> Option<Vec<(&str, i32, &str)>> {
        let items = self.body.get("ResultItem")?;
        let items = items
            .as_array()
            .unwrap_or_else(|| panic!("ResultItem {items}"));
        Some(items.iter().map(result).collect())
    }

    /// On the friend commands, a `ResultItem` must answer every requested account exactly once
    /// (in any order: a plugin's may reorder them), unless there are none and the envelope
    /// refuses instead; elsewhere there is none.
    fn check_results(&self, accounts: Option<&[String]>) {
        match (accounts, self.results()) {
            (Some([]) | None, None) => {}
            (Some(accounts), Some(results)) => {
                let mut answered: Vec<&str> =
                    results.iter().map(|&(account, ..)| account).collect();
                let mut requested: Vec<&str> = accounts.iter().map(String::as_str).collect();
                answered.sort_unstable();
                requested.sort_unstable();
                assert_eq!(answered, requested, "ResultItem {results:?}");
            }
            (accounts, results) => panic!("ResultItem {results:?} for accounts {accounts:?}"),
        }
    }

    /// `(code, message)` of the refusal the answer makes, if any: a non-zero `ErrorCode`, or the
    /// one non-zero `ResultCode` every account gets.
    fn refusal(&self) -> Option<(i32, &str)> {
        if self.error_code != 0 {
            return Some((self.error_code, self.error_info.as_str()));
        }
        let results = self.results()?;
        let &(_, code, info) = results.first()?;
        let same = results.iter().all(|&(_, c, i)| (c, i) == (code, info));
        assert!(same, "mixed ResultItem: {results:?}");
        (code != 0).then_some((code, info))
    }
}

/// One `ResultItem` entry, which must be exactly `{To_Account, ResultCode, ResultInfo}`.
fn result(item: &Value) -> (&str, i32, &str) {
    let keys = ["To_Account", "ResultCode", "ResultInfo"];
    let exact = |map: &JsonObject| map.len() == 3 && keys.iter().all(|k| map.contains_key(*k));
    assert!(
        item.as_object().is_some_and(exact),
        "ResultItem entry {item}"
    );
    (
        string("To_Account", &item["To_Account"]),
        int32("ResultCode", &item["ResultCode"]),
        string("ResultInfo", &item["ResultInfo"]),
    )
}
