//! The example plugins written in JavaScript, Python, Go and C (`plugins/{js,python,go,c}/`)
//! through real callbacks: each one's allow, modify and reject envelopes, exactly.
//!
//! These components are not built by `build.rs` (they need the toolchains that
//! `.ci/install-languages.sh` installs); `plugins/build-languages.sh all` puts them in
//! [`languages_dir`]. A missing component fails the test when `CI` is set and skips it (with a
//! `SKIPPED` line on stderr) otherwise.
//!
//! One test per language, one server each: a JS or Python component takes seconds to compile
//! (tens of seconds in this unoptimised test build), so each is compiled once, every case runs
//! against it, and the compiled artifact is kept in the registry's cache under
//! `plugins/target/languages/.test-data/` for the next run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hookbox_registry::{Registry, RegistryOptions, Store};
use hookbox_tests::{
    OPENIM_ALLOW, TENCENT_ALLOW, TENCENT_APP, TestServer, languages_dir, openim_text_message,
    shared_runtime, tencent_message, tencent_query, unix_now,
};
use serde_json::{Value, json};

const REBUILD: &str = ".ci/install-languages.sh && plugins/build-languages.sh all";

/// The component `plugins/build-languages.sh` built as `name.wasm`, or `None` when it is not
/// there and this is not CI.
fn component(name: &str, sources: &str) -> Option<PathBuf> {
    let path = languages_dir().join(format!("{name}.wasm"));
    let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    if !path.is_file() {
        assert!(
            !in_ci,
            "{} is missing: run `{REBUILD}` before the tests",
            path.display()
        );
        // Straight to stderr: the test harness would swallow an eprintln! of a passing test.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED languages::{name}: {} is not built; run `{REBUILD}`",
            path.display()
        );
        return None;
    }
    // languages_dir() is plugins/target/languages.
    let sources = languages_dir().join("../..").join(sources);
    if newest_change(&sources) > modified(&path) {
        let _ = writeln!(
            std::io::stderr(),
            "WARNING languages::{name}: {} is older than {}; run `plugins/build-languages.sh`",
            path.display(),
            sources.display()
        );
    }
    Some(path)
}

fn modified(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(std::time::UNIX_EPOCH)
}

/// The latest modification time of the files under `dir`, leaving out what npm rewrites
/// (`node_modules`, `package-lock.json`).
fn newest_change(dir: &Path) -> std::time::SystemTime {
    let mut newest = std::time::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.ends_with("node_modules") || path.ends_with("package-lock.json") {
            continue;
        }
        let time = if path.is_dir() {
            newest_change(&path)
        } else {
            modified(&path)
        };
        newest = newest.max(time);
    }
    newest
}

/// How a test configures the plugin's instances: extra `[[plugin]]` keys, and a tag (e.g.
/// `"-reuse"`) that keeps its compiled cache apart. Every test runs in [`FRESH`] (hookbox's
/// default); another mode is one more `#[tokio::test]` calling the same function with it.
#[derive(Clone, Copy)]
struct Mode {
    tag: &'static str,
    keys: &'static str,
}

/// A fresh instance for every call.
const FRESH: Mode = Mode { tag: "", keys: "" };

/// Warm instances, one kept, each retired after three calls: every case list runs on a
/// reused instance and across a retirement.
const REUSE: Mode = Mode {
    tag: "-reuse",
    keys: "instances = \"reuse\"\nreuse = { pool_size = 1, max_calls = 3 }",
};

/// One `[[plugin]]` table for `source` (an absolute path, so the harness's plugin directory
/// does not apply), in `mode`; `extra` is more TOML for the table.
fn plugin_table(name: &str, source: &Path, commands: &[&str], mode: Mode, extra: &str) -> String {
    let commands: Vec<String> = commands.iter().map(|c| format!("{c:?}")).collect();
    format!(
        "[[plugin]]\nname = {name:?}\nsource = {:?}\ncommands = [{}]\n{}\n{extra}\n",
        source.display().to_string(),
        commands.join(", "),
        mode.keys
    )
}

/// A server for one language's test: a registry with a compiled cache of its own (tests run
/// in parallel) and room for a slow compile on a busy machine.
async fn start(test: &str, mode: Mode, config: &str, secrets: &[(&str, &str)]) -> TestServer {
    let dir = languages_dir()
        .join(".test-data")
        .join(format!("{test}{}", mode.tag));
    let store = Store::open(dir).expect("the test's data dir opens");
    let options = RegistryOptions {
        store: Some(store),
        compile_timeout: Duration::from_secs(600),
        ..RegistryOptions::default()
    };
    let registry = Registry::open(shared_runtime(), options).expect("the registry opens");
    TestServer::start_on(Arc::new(registry), config, secrets).await
}

const TOKEN_VAR: &str = "HOOKBOX_TEST_LANGUAGES_TOKEN";
const TOKEN: &str = "languages-test-token";

fn tencent_section() -> String {
    format!(
        "[tencent]\npath = \"/tencent\"\n\n[[tencent.app]]\nsdk_app_id = {TENCENT_APP}\ntoken_env = \"{TOKEN_VAR}\"\n\n"
    )
}

async fn tencent(server: &TestServer, command: &str, body: &Value) -> hookbox_tests::Answer {
    let query = tencent_query(command, TENCENT_APP, Some(TOKEN), unix_now());
    server
        .post(&format!("/tencent?{query}"), &[], body.to_string())
        .await
}

/// OpenIM's `callbackBeforeCreateGroupCommand` body as the group service sends it.
fn create_group(name: &str, owner: &str, members: &[(&str, i32)]) -> Value {
    let members: Vec<Value> = members
        .iter()
        .map(|(user, role)| json!({ "userID": user, "roleLevel": role }))
        .collect();
    json!({
        "operationID": "op-test-1",
        "callbackCommand": "callbackBeforeCreateGroupCommand",
        "groupID": "",
        "groupName": name,
        "notification": "",
        "introduction": "",
        "faceURL": "",
        "ownerUserID": owner,
        "createTime": 0,
        "memberCount": 0,
        "ex": "",
        "status": 0,
        "creatorUserID": "",
        "groupType": 2,
        "needVerification": 0,
        "lookMemberInfo": 0,
        "applyMemberFriend": 0,
        "notificationUpdateTime": 0,
        "notificationUserID": "",
        "initMemberList": members,
    })
}

// ---- JavaScript: plugins/js/welcome ----

#[tokio::test]
async fn javascript_welcome_sets_group_defaults_and_mutes_newcomers() {
    welcome(FRESH).await;
}

#[tokio::test]
async fn javascript_welcome_sets_group_defaults_and_mutes_newcomers_in_reuse_mode() {
    welcome(REUSE).await;
}

async fn welcome(mode: Mode) {
    let Some(source) = component("welcome", "js/welcome") else {
        return;
    };
    let config = plugin_table(
        "welcome",
        &source,
        &[
            "callbackBeforeCreateGroupCommand",
            "callbackBeforeMembersJoinGroupCommand",
            "callbackAfterJoinGroupCommand",
        ],
        mode,
        r#"grants = { config = { introduction = "Trails and meetups of {groupName}", newcomer_mute_minutes = "10" } }"#,
    );
    let server = start("welcome", mode, &config, &[]).await;

    // A new group without notification or introduction gets both (modify).
    let command = "callbackBeforeCreateGroupCommand";
    let body = create_group(
        "Hiking club",
        "user-alice",
        &[("user-alice", 100), ("user-bob", 20)],
    );
    let answer = server.openim(command, &body).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0,"notification":"Welcome to Hiking club! Please be kind and stay on topic.","introduction":"Trails and meetups of Hiking club"}"#
    );

    // What the creator set is kept: only the missing field is filled in.
    let mut body = create_group("Chess", "user-alice", &[("user-alice", 100)]);
    body["notification"] = "Tournament on Friday".into();
    let answer = server.openim(command, &body).await;
    assert_eq!(
        answer.body,
        r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0,"introduction":"Trails and meetups of Chess"}"#
    );
    body["introduction"] = "Chess players".into();
    assert_eq!(server.openim(command, &body).await.body, OPENIM_ALLOW);

    // Members joining are muted for newcomer_mute_minutes (modify of memberCallbackList).
    let command = "callbackBeforeMembersJoinGroupCommand";
    let body = json!({
        "callbackCommand": command,
        "groupID": "group-42",
        "memberList": [{ "userID": "user-carol", "ex": "" }, { "userID": "user-dave", "ex": "" }],
        "groupEx": "",
    });
    let before = unix_now() * 1000;
    let answer = server.openim(command, &body).await;
    let after = unix_now() * 1000 + 1000;
    let envelope = answer.json();
    assert_eq!(envelope["errCode"], 0, "{envelope}");
    assert_eq!(envelope["nextCode"], 0, "{envelope}");
    let members = envelope["memberCallbackList"]
        .as_array()
        .expect("memberCallbackList");
    assert_eq!(members.len(), 2, "{envelope}");
    for (member, user) in members.iter().zip(["user-carol", "user-dave"]) {
        assert_eq!(member["userID"], user, "{envelope}");
        let until = member["muteEndTime"].as_i64().expect("muteEndTime");
        assert!(
            (before + 600_000..=after + 600_000).contains(&until),
            "muted for 10 minutes: {until} not in [{}, {}]",
            before + 600_000,
            after + 600_000
        );
    }

    // After-join only logs.
    let command = "callbackAfterJoinGroupCommand";
    let body = json!({
        "callbackCommand": command,
        "operationID": "op-test-1",
        "groupID": "group-42",
        "reqMessage": "hi",
        "joinSource": 4,
        "inviterUserID": "user-carol",
    });
    assert_eq!(server.openim(command, &body).await.body, OPENIM_ALLOW);
    server.stop().await;
}

// ---- Python: plugins/python/pii-mask ----

#[tokio::test]
async fn python_pii_mask_masks_phones_and_emails_for_openim_and_tencent() {
    pii_mask(FRESH).await;
}

#[tokio::test]
async fn python_pii_mask_masks_phones_and_emails_for_openim_and_tencent_in_reuse_mode() {
    pii_mask(REUSE).await;
}

async fn pii_mask(mode: Mode) {
    let Some(source) = component("pii-mask", "python/pii-mask") else {
        return;
    };
    let config = tencent_section()
        + &plugin_table(
            "pii-mask",
            &source,
            &[
                "callbackBeforeMsgModifyCommand",
                "C2C.CallbackBeforeSendMsg",
                "Group.CallbackBeforeSendMsg",
            ],
            mode,
            r#"grants = { config = { keep_last_digits = "4" } }"#,
        );
    let server = start("pii-mask", mode, &config, &[(TOKEN_VAR, TOKEN)]).await;

    // OpenIM msg-modify: `content` is a JSON string; the answer's is too.
    let command = "callbackBeforeMsgModifyCommand";
    let body = openim_text_message(
        command,
        "call me at +1 (415) 555-2671 or alice.smith@example.com, not on 2026-11-23",
    );
    let answer = server.openim(command, &body).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0,"content":"{\"content\":\"call me at +* (***) ***-2671 or a***@example.com, not on 2026-11-23\"}"}"#
    );
    let clean = openim_text_message(command, "see you at 10:30 in room 12");
    assert_eq!(server.openim(command, &clean).await.body, OPENIM_ALLOW);
    // The digit count that skips the phone scan: exactly `min_phone_digits` (7) is masked,
    // one fewer is left alone.
    let seven = openim_text_message(command, "ring 555-2671");
    assert_eq!(
        server.openim(command, &seven).await.body,
        r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0,"content":"{\"content\":\"ring ***-2671\"}"}"#
    );
    let six = openim_text_message(command, "ring 55-2671");
    assert_eq!(server.openim(command, &six).await.body, OPENIM_ALLOW);
    let mut picture = openim_text_message(command, "");
    picture["contentType"] = 102.into();
    picture["content"] =
        r#"{"sourcePicture":{"url":"https://example.com/13812345678.png"}}"#.into();
    assert_eq!(server.openim(command, &picture).await.body, OPENIM_ALLOW);
    // An @-message (106): the text is `text`; the other keys stay, in their order; the content
    // comes back compact, with non-ASCII as it is and JSON escapes kept.
    let mut mention = openim_text_message(command, "");
    mention["contentType"] = 106.into();
    mention["content"] = r#"{"text": "@bob \u7535\u8bdd +86 138-1234-5678, \"quoted\"\\path\tx", "atUserList": ["bob"], "isAtSelf": false}"#.into();
    let masked = r#"{"text":"@bob 电话 +** ***-****-5678, \"quoted\"\\path\tx","atUserList":["bob"],"isAtSelf":false}"#;
    assert_eq!(
        server.openim(command, &mention).await.json(),
        json!({ "actionCode": 0, "errCode": 0, "errMsg": "", "errDlt": "", "nextCode": 0, "content": masked })
    );
    // Every address, "@" mentions left alone; addresses are masked before phone numbers, so
    // "+1 555 2671.bob@..." loses its digits to the address and is too short for a number.
    let emails = openim_text_message(
        command,
        "@alice mail alice.smith@example.com or bob@mail.example.cn; +1 555 2671.bob@example.com",
    );
    assert_eq!(
        server.openim(command, &emails).await.json()["content"],
        r#"{"content":"@alice mail a***@example.com or b***@mail.example.cn; +1 555 2***@example.com"}"#
    );
    // Phone-number edges: digits running into a letter are not a number, one may end before a
    // "+", and a parenthesis may stand without a space.
    let phones = openim_text_message(command, "order 12345678x, 555-123-4567+1 or (415)555-2671");
    assert_eq!(
        server.openim(command, &phones).await.json()["content"],
        r#"{"content":"order 12345678x, ***-***-4567+1 or (***)***-2671"}"#
    );
    // Whitespace around the body is JSON too.
    let spaced = format!(
        "  \r\n{}  \n",
        serde_json::to_string(&seven).expect("serialisable")
    );
    assert_eq!(
        server
            .post(
                &format!("/openim/{command}"),
                &[("operationID", "op-test-1")],
                spaced
            )
            .await
            .body,
        r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0,"content":"{\"content\":\"ring ***-2671\"}"}"#
    );

    // Tencent before-send: a new MsgBody with the text masked and the custom element as it was.
    for command in ["Group.CallbackBeforeSendMsg", "C2C.CallbackBeforeSendMsg"] {
        let body = tencent_message(command, "我的手机 13812345678, mail bob@mail.example.cn");
        let answer = tencent(&server, command, &body).await;
        assert_eq!(answer.status, 200, "{command}: {}", answer.body);
        let envelope = answer.json();
        assert_eq!(
            envelope,
            json!({
                "ActionStatus": "OK",
                "ErrorCode": 0,
                "ErrorInfo": "",
                "MsgBody": [
                    { "MsgType": "TIMTextElem", "MsgContent": { "Text": "我的手机 *******5678, mail b***@mail.example.cn" } },
                    body["MsgBody"][1].clone(),
                ],
            }),
            "{command}"
        );
        let clean = tencent_message(command, "nothing personal here");
        assert_eq!(
            tencent(&server, command, &clean).await.body,
            TENCENT_ALLOW,
            "{command}"
        );
    }
    // Several elements: each text masked on its own, every other element (even one holding a
    // number or an address) and every key order kept, byte for byte.
    let command = "C2C.CallbackBeforeSendMsg";
    let mut body = tencent_message(command, "");
    body["MsgBody"] = serde_json::from_str(
        r#"[
            {"MsgType": "TIMTextElem", "MsgContent": {"Text": "电话 138 1234 5678"}},
            {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 1, "Data": "content"}},
            {"MsgType": "TIMTextElem", "MsgContent": {"Text": "nothing to see"}},
            {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "13812345678", "Desc": "bob@example.com", "Ext": "url", "Sound": "dingdong.aiff"}},
            {"MsgContent": {"Text": "\"quoted\" \\ mail: Bob.Smith+tag@mail.example.cn\n"}, "MsgType": "TIMTextElem"}
        ]"#,
    )
    .expect("valid JSON");
    assert_eq!(
        tencent(&server, command, &body).await.body,
        concat!(
            r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","MsgBody":["#,
            r#"{"MsgType":"TIMTextElem","MsgContent":{"Text":"电话 *** **** 5678"}},"#,
            r#"{"MsgType":"TIMFaceElem","MsgContent":{"Index":1,"Data":"content"}},"#,
            r#"{"MsgType":"TIMTextElem","MsgContent":{"Text":"nothing to see"}},"#,
            r#"{"MsgType":"TIMCustomElem","MsgContent":{"Data":"13812345678","Desc":"bob@example.com","Ext":"url","Sound":"dingdong.aiff"}},"#,
            r#"{"MsgContent":{"Text":"\"quoted\" \\ mail: B***@mail.example.cn\n"},"MsgType":"TIMTextElem"}]}"#,
        )
    );
    server.stop().await;
}

// ---- Go: plugins/go/group-allowlist ----

#[tokio::test]
async fn go_group_allowlist_rejects_creators_not_on_the_list() {
    group_allowlist(FRESH).await;
}

#[tokio::test]
async fn go_group_allowlist_rejects_creators_not_on_the_list_in_reuse_mode() {
    group_allowlist(REUSE).await;
}

async fn group_allowlist(mode: Mode) {
    let Some(source) = component("group-allowlist", "go/group-allowlist") else {
        return;
    };
    let config = tencent_section()
        + &plugin_table(
            "group-allowlist",
            &source,
            &[
                "callbackBeforeCreateGroupCommand",
                "Group.CallbackBeforeCreateGroup",
            ],
            mode,
            r#"grants = { config = { allowed = "user-alice, admin" } }"#,
        );
    let server = start("group-allowlist", mode, &config, &[(TOKEN_VAR, TOKEN)]).await;
    let command = "callbackBeforeCreateGroupCommand";

    let allowed = create_group("Hiking club", "user-alice", &[("user-alice", 100)]);
    assert_eq!(server.openim(command, &allowed).await.body, OPENIM_ALLOW);

    let refused = create_group("Spam HQ", "user-mallory", &[("user-mallory", 100)]);
    assert_eq!(
        server.openim(command, &refused).await.body,
        r#"{"actionCode":0,"errCode":5003,"errMsg":"user-mallory may not create groups","errDlt":"","nextCode":1}"#
    );

    // No ownerUserID: the member with roleLevel 100 is the owner.
    let by_member = create_group("Book club", "", &[("user-bob", 20), ("user-alice", 100)]);
    assert_eq!(server.openim(command, &by_member).await.body, OPENIM_ALLOW);
    let by_member = create_group("Book club", "", &[("user-alice", 20), ("user-bob", 100)]);
    assert_eq!(
        server.openim(command, &by_member).await.json()["errMsg"],
        "user-bob may not create groups"
    );

    // Tencent: Owner_Account, with a code in the group-create range.
    let command = "Group.CallbackBeforeCreateGroup";
    let body = json!({
        "CallbackCommand": command,
        "Operator_Account": "admin",
        "Owner_Account": "leckie",
        "Type": "Public",
        "Name": "MyFirstGroup",
        "CreateGroupNum": 1,
        "MemberList": [{ "Member_Account": "bob" }],
        "EventTime": 1670574414123_i64,
    });
    assert_eq!(
        tencent(&server, command, &body).await.body,
        r#"{"ActionStatus":"OK","ErrorCode":10100,"ErrorInfo":"leckie may not create groups"}"#
    );
    let mut by_admin = body.clone();
    by_admin["Owner_Account"] = "".into();
    assert_eq!(
        tencent(&server, command, &by_admin).await.body,
        TENCENT_ALLOW
    );
    server.stop().await;
}

// ---- C: plugins/c/length-limit ----

#[tokio::test]
async fn c_length_limit_counts_code_points_and_rejects_long_messages() {
    length_limit(FRESH).await;
}

#[tokio::test]
async fn c_length_limit_counts_code_points_and_rejects_long_messages_in_reuse_mode() {
    length_limit(REUSE).await;
}

async fn length_limit(mode: Mode) {
    let Some(source) = component("length-limit", "c/length-limit") else {
        return;
    };
    let sends = [
        "callbackBeforeSendSingleMsgCommand",
        "callbackBeforeSendGroupMsgCommand",
    ];
    let config = plugin_table(
        "length-limit",
        &source,
        &sends,
        mode,
        r#"grants = { config = { max_chars = "10" } }"#,
    );
    let server = start("length-limit", mode, &config, &[]).await;
    for command in sends {
        let short = openim_text_message(command, "hello");
        assert_eq!(
            server.openim(command, &short).await.body,
            OPENIM_ALLOW,
            "{command}"
        );

        // 10 emoji are 40 bytes but 10 characters; JSON-escaped as surrogate pairs, too.
        let ten = openim_text_message(command, &"😀".repeat(10));
        assert_eq!(
            server.openim(command, &ten).await.body,
            OPENIM_ALLOW,
            "{command}"
        );
        let mut escaped = ten.clone();
        escaped["content"] = r#"{"content":"\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00"}"#.into();
        assert_eq!(
            server.openim(command, &escaped).await.body,
            OPENIM_ALLOW,
            "{command}"
        );

        let eleven = openim_text_message(command, "你好世界你好世界你好!");
        assert_eq!(
            server.openim(command, &eleven).await.body,
            r#"{"actionCode":0,"errCode":5002,"errMsg":"message too long: 11 characters, the limit is 10","errDlt":"","nextCode":1}"#,
            "{command}"
        );

        // @-messages (106) count their `text`; pictures are not counted.
        let mut at = openim_text_message(command, "");
        at["contentType"] = 106.into();
        at["content"] = json!({ "text": "@bob this is far too long", "atUserList": ["user-bob"] })
            .to_string()
            .into();
        assert_eq!(
            server.openim(command, &at).await.json()["errCode"],
            5002,
            "{command}"
        );
        let mut picture = openim_text_message(command, "");
        picture["contentType"] = 102.into();
        picture["content"] =
            r#"{"sourcePicture":{"url":"https://example.com/a-long-name.png"}}"#.into();
        assert_eq!(
            server.openim(command, &picture).await.body,
            OPENIM_ALLOW,
            "{command}"
        );
    }
    server.stop().await;

    // A bad max_chars is the plugin's error: the host answers with on_error.
    let config = plugin_table(
        "length-limit",
        &source,
        &sends,
        mode,
        "on_error = \"reject\"\non_error_code = 5999\ngrants = { config = { max_chars = \"lots\" } }",
    );
    let server = start("length-limit-bad-config", mode, &config, &[]).await;
    let command = sends[0];
    let answer = server
        .openim(command, &openim_text_message(command, "hello"))
        .await;
    assert_eq!(answer.json()["errCode"], 5999, "{}", answer.body);
    server.stop().await;
}
