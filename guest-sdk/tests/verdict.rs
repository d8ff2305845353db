//! Verdict builders produce exactly the JSON the WIT contract and OpenIM expect; events,
//! config and logging work natively for plugin unit tests.

use std::collections::BTreeMap;

use hookbox_sdk::prelude::*;
use serde::Serialize;

#[test]
fn replace_text_is_json_inside_json() {
    let Verdict::Modify(json) = Verdict::replace_text("***") else {
        panic!("not a modify")
    };
    assert_eq!(json, r#"{"content":"{\"content\":\"***\"}"}"#);

    // Quotes, backslashes, newlines and non-ASCII survive both levels of encoding.
    let text = "say \"hi\" \\ ok\nü 😀 <b>";
    let Verdict::Modify(json) = Verdict::replace_text(text) else {
        panic!("not a modify")
    };
    let outer: serde_json::Value = serde_json::from_str(&json).unwrap();
    let inner: serde_json::Value =
        serde_json::from_str(outer["content"].as_str().unwrap()).unwrap();
    assert_eq!(inner, serde_json::json!({ "content": text }));
    assert_eq!(outer.as_object().unwrap().len(), 1);
}

#[test]
fn replace_content() {
    assert_eq!(
        Verdict::replace_content(r#"{"text":"@a ***","atUserList":["a"]}"#),
        Verdict::Modify(r#"{"content":"{\"text\":\"@a ***\",\"atUserList\":[\"a\"]}"}"#.into())
    );
}

#[test]
fn modify_serialises_objects() {
    #[derive(Serialize)]
    struct Remark<'a> {
        remark: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        ex: Option<&'a str>,
    }
    assert_eq!(
        Verdict::modify(Remark {
            remark: "vip",
            ex: None
        })
        .unwrap(),
        Verdict::Modify(r#"{"remark":"vip"}"#.into())
    );

    let mut map = serde_json::Map::new();
    map.insert("userIDList".into(), serde_json::json!(["a", "b"]));
    map.insert("ex".into(), serde_json::json!("x"));
    // preserve_order: keys stay in insertion order.
    assert_eq!(
        Verdict::modify(&map).unwrap(),
        Verdict::Modify(r#"{"userIDList":["a","b"],"ex":"x"}"#.into())
    );
    assert_eq!(
        Verdict::modify(map).unwrap(),
        Verdict::Modify(r#"{"userIDList":["a","b"],"ex":"x"}"#.into())
    );

    let tree: BTreeMap<&str, i32> = [("needVerification", 1)].into_iter().collect();
    assert_eq!(
        Verdict::modify(tree).unwrap(),
        Verdict::Modify(r#"{"needVerification":1}"#.into())
    );
    assert_eq!(
        Verdict::modify(serde_json::json!({})).unwrap(),
        Verdict::Modify("{}".into())
    );
}

#[test]
fn modify_refuses_non_objects() {
    for bad in [
        serde_json::json!("{\"a\":1}"),
        serde_json::json!([1]),
        serde_json::json!(1),
        serde_json::json!(null),
        serde_json::json!(true),
    ] {
        let err = Verdict::modify(&bad).unwrap_err();
        assert!(err.message().contains("JSON object"), "{bad}: {err}");
    }
}

#[test]
fn modify_json_validates() {
    assert_eq!(
        Verdict::modify_json(r#" {"a": [1, {"b": null}]} "#).unwrap(),
        Verdict::Modify(r#" {"a": [1, {"b": null}]} "#.into())
    );
    assert!(Verdict::modify_json("[1]").is_err());
    assert!(Verdict::modify_json("").is_err());
    assert!(Verdict::modify_json(r#"{"a":1"#).is_err());
    assert!(Verdict::modify_json(r#"{"a":1} {"b":2}"#).is_err());
}

#[test]
fn reject_and_detail() {
    assert_eq!(
        Verdict::reject(5001, "blocked").with_detail("rule=spam"),
        Verdict::Reject(Rejection {
            code: 5001,
            message: "blocked".into(),
            detail: "rule=spam".into(),
        })
    );
    assert_eq!(
        Verdict::reject(5002, String::from("x")),
        Verdict::Reject(Rejection {
            code: 5002,
            message: "x".into(),
            detail: String::new(),
        })
    );
    assert_eq!(Verdict::allow().with_detail("ignored"), Verdict::Allow);
    assert_eq!(Verdict::discard(), Verdict::Discard);
}

#[test]
fn errors_convert() {
    let e: Error = "plain".into();
    assert_eq!(e.message(), "plain");
    let e: Error = format!("n={}", 1).into();
    assert_eq!(e.to_string(), "n=1");
    let e: Error = serde_json::from_str::<u8>("x").unwrap_err().into();
    assert!(e.message().starts_with("json: "), "{e}");
    let s: String = Error::new("out").into();
    assert_eq!(s, "out");

    fn question_mark() -> Result<Verdict, Error> {
        let n: u32 = serde_json::from_str("\"nope\"")?;
        Ok(Verdict::reject(
            i32::try_from(n).map_err(|e| e.to_string())?,
            "",
        ))
    }
    assert!(question_mark().is_err());
}

#[test]
fn event_accessors() {
    let event = Event::new(
        Dialect::Tencent,
        "Group.CallbackBeforeSendMsg",
        r#"{"GroupId":"@TGS#1"}"#,
    )
    .with_metadata("SdkAppid", "1400000000")
    .with_metadata("operationid", "op-lower")
    .with_metadata("operationID", "op-exact")
    .with_deadline_ms(150);
    assert_eq!(event.dialect(), Dialect::Tencent);
    assert_eq!(event.dialect().as_str(), "tencent");
    assert_eq!(event.command(), "Group.CallbackBeforeSendMsg");
    assert_eq!(event.metadata("SdkAppid"), Some("1400000000"));
    assert_eq!(event.metadata("sdkappid"), Some("1400000000"));
    assert_eq!(event.metadata("ClientIP"), None);
    assert_eq!(event.operation_id(), Some("op-exact"), "exact key wins");
    assert_eq!(event.metadata_all().len(), 3);
    assert_eq!(event.deadline_ms(), 150);
    assert_eq!(event.value().unwrap()["GroupId"], "@TGS#1");

    #[derive(serde::Deserialize)]
    struct Borrowed<'a> {
        #[serde(rename = "GroupId")]
        group_id: &'a str,
    }
    let b: Borrowed<'_> = event.json().unwrap();
    assert_eq!(b.group_id, "@TGS#1");

    let plain = Event::new(Dialect::OpenIm, "c", "{}");
    assert_eq!(plain.operation_id(), None);
    assert_eq!(plain.deadline_ms(), 1000);
}

#[test]
fn config_and_log_work_natively() {
    config::clear_native();
    assert_eq!(config::get("banned"), None);
    config::set_native("banned", "spam, scam");
    config::set_native("a", "1");
    assert_eq!(config::get("banned").as_deref(), Some("spam, scam"));
    assert_eq!(config::try_get("nope").unwrap(), None);
    assert_eq!(
        config::get_all(),
        vec![
            ("a".into(), "1".into()),
            ("banned".into(), "spam, scam".into())
        ]
    );
    config::clear_native();
    assert!(config::get_all().is_empty());

    let _ = log::take_captured();
    log::info("plain");
    hookbox_sdk::warn!("n={}", 2);
    hookbox_sdk::error!(context: "rules", "rule {} fired", "r1");
    log::log(log::Level::Critical, "ctx", "boom");
    let lines = log::take_captured();
    let got: Vec<(log::Level, &str, &str)> = lines
        .iter()
        .map(|l| (l.level, l.context.as_str(), l.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (log::Level::Info, "", "plain"),
            (log::Level::Warn, "", "n=2"),
            (log::Level::Error, "rules", "rule r1 fired"),
            (log::Level::Critical, "ctx", "boom"),
        ]
    );
    assert!(log::take_captured().is_empty());
}
