//! `export_plugin!` works from a crate other than the SDK, and the exported glue converts
//! events and verdicts.

use hookbox_sdk::prelude::*;

struct Echo;

impl Plugin for Echo {
    fn handle(event: Event) -> Result<Verdict, Error> {
        match event.command() {
            "allow" => Ok(Verdict::allow()),
            "discard" => Ok(Verdict::discard()),
            "reject" => Ok(Verdict::reject(5001, "no").with_detail(event.payload())),
            "modify" => Verdict::modify_json(event.into_payload()),
            "meta" => Ok(Verdict::reject(
                i32::try_from(event.deadline_ms()).unwrap_or(-1),
                event.operation_id().unwrap_or("none"),
            )),
            _ => Err(Error::new(format!("unknown command {}", event.command()))),
        }
    }
}

hookbox_sdk::export_plugin!(Echo);

use hookbox_sdk::bindings::hookbox::plugin::types as wit;

fn wit_event(command: &str, payload: &str) -> wit::Event {
    wit::Event {
        dialect: wit::Dialect::Openim,
        command: command.to_owned(),
        payload: payload.to_owned(),
        metadata: vec![("Operationid".to_owned(), "op-1".to_owned())],
        deadline_ms: 250,
    }
}

fn call(command: &str, payload: &str) -> Result<wit::Verdict, String> {
    hookbox_sdk::__private::handle::<Echo>(wit_event(command, payload))
}

#[test]
fn verdicts_cross_the_wit_boundary() {
    assert!(matches!(call("allow", "{}"), Ok(wit::Verdict::Allow)));
    assert!(matches!(call("discard", "{}"), Ok(wit::Verdict::Discard)));
    match call("reject", "rule=x") {
        Ok(wit::Verdict::Reject(r)) => {
            assert_eq!(
                (r.code, r.message.as_str(), r.detail.as_str()),
                (5001, "no", "rule=x")
            );
        }
        other => panic!("{other:?}"),
    }
    match call("modify", r#"{"ex":"1"}"#) {
        Ok(wit::Verdict::Modify(json)) => assert_eq!(json, r#"{"ex":"1"}"#),
        other => panic!("{other:?}"),
    }
    match call("meta", "{}") {
        Ok(wit::Verdict::Reject(r)) => assert_eq!((r.code, r.message.as_str()), (250, "op-1")),
        other => panic!("{other:?}"),
    }
    assert_eq!(call("nope", "{}").unwrap_err(), "unknown command nope");
    assert!(call("modify", "[1]").unwrap_err().contains("JSON object"));
}
