//! The dialects on their own: parse one callback request into a `Callback` (body checks,
//! command resolution, metadata; for Tencent also the signature) and render the envelope for
//! a verdict, on the OpenIM seed payload and a Tencent group message with a signed query.
//!
//! `cargo bench -p hookbox-tests --bench dialects` prints median and p99 per operation.
//! Numbers, not assertions: the machine is shared and noisy, so compare runs made together.

use std::hint::black_box;
use std::time::{Duration, Instant};

use hookbox_dialects::tencent::{self, Auth, TencentApp};
use hookbox_dialects::{Inbound, openim};
use hookbox_model::{Rejection, Verdict};
use hookbox_tests::{openim_text_message, tencent_message, tencent_query, unix_now};

const WARMUP: usize = 2_000;
const CALLS: usize = 50_000;
const OPENIM_COMMAND: &str = "callbackBeforeSendSingleMsgCommand";
const TENCENT_COMMAND: &str = "Group.CallbackBeforeSendMsg";
const TOKEN: &str = "bench-token-0123456789";
const APP: u64 = 1_400_000_000;

fn main() {
    let mut headers = http::HeaderMap::new();
    headers.insert("operationID", "bench-op".parse().expect("header value"));
    let openim_body = openim_text_message(OPENIM_COMMAND, "hello there, how are you?").to_string();
    let openim_inbound = Inbound {
        path_command: Some(OPENIM_COMMAND),
        query: None,
        headers: &headers,
        body: openim_body.as_bytes(),
    };

    let now = unix_now();
    let query = tencent_query(TENCENT_COMMAND, APP, Some(TOKEN), now);
    let tencent_body = tencent_message(TENCENT_COMMAND, "hello there, how are you?").to_string();
    let no_headers = http::HeaderMap::new();
    let tencent_inbound = Inbound {
        path_command: None,
        query: Some(&query),
        headers: &no_headers,
        body: tencent_body.as_bytes(),
    };
    let apps = [TencentApp {
        sdk_app_id: APP,
        token: Some(TOKEN.to_owned()),
    }];
    let auth = Auth {
        apps: &apps,
        max_skew_secs: 60,
        now_unix_secs: now,
    };

    let openim_callback = openim::parse(&openim_inbound).expect("the OpenIM body parses");
    let tencent_callback =
        tencent::parse(&tencent_inbound, &auth).expect("the Tencent request parses");
    let reject = Verdict::Reject(Rejection {
        code: 5001,
        message: "message blocked by keyword-filter".to_owned(),
        detail: String::new(),
    });
    let openim_modify = Verdict::Modify(
        serde_json::from_str(r#"{"content":"{\"content\":\"no *** here\"}"}"#)
            .expect("a JSON object"),
    );
    let tencent_modify = Verdict::Modify(
        serde_json::from_str(
            r#"{"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"no *** here"}}]}"#,
        )
        .expect("a JSON object"),
    );

    println!(
        "dialects: OpenIM body {} bytes, Tencent body {} bytes, {CALLS} calls each",
        openim_body.len(),
        tencent_body.len()
    );
    println!("{:<48} {:>10} {:>10}", "operation", "median µs", "p99 µs");
    measure("OpenIM parse (before-send single)", || {
        openim::parse(black_box(&openim_inbound)).expect("parses")
    });
    measure("OpenIM render allow", || {
        openim::render(black_box(&openim_callback), &Verdict::Allow)
    });
    measure("OpenIM render reject", || {
        openim::render(black_box(&openim_callback), &reject)
    });
    measure("OpenIM render modify", || {
        openim::render(black_box(&openim_callback), &openim_modify)
    });
    measure("Tencent parse (signed group before-send)", || {
        tencent::parse(black_box(&tencent_inbound), &auth).expect("parses")
    });
    measure("Tencent render allow", || {
        tencent::render(black_box(&tencent_callback), &Verdict::Allow)
    });
    measure("Tencent render modify", || {
        tencent::render(black_box(&tencent_callback), &tencent_modify)
    });
}

fn measure<T>(name: &str, mut operation: impl FnMut() -> T) {
    for _ in 0..WARMUP {
        black_box(operation());
    }
    let mut times = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        black_box(operation());
        times.push(started.elapsed());
    }
    times.sort_unstable();
    println!(
        "{name:<48} {:>10.2} {:>10.2}",
        micros(times[times.len() / 2]),
        micros(times[times.len() * 99 / 100])
    );
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
