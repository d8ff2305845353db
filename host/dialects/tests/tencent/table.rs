//! The command table against `protocols/tencent.md` §4 and §6.

use std::collections::HashSet;

use hookbox_dialects::tencent::{
    self, C2C_SEND_CODES, COMMANDS, CodeRange, FRIEND_CODES, FieldType, GROUP_CODES, ModifyRule,
    RejectRule,
};
use hookbox_model::Phase;

/// §6, in order: (command word, before?).
const EXPECTED: [(&str, bool); 34] = [
    ("State.StateChange", false),
    ("Profile.CallbackPortraitSet", false),
    ("Sns.CallbackPrevFriendAdd", true),
    ("Sns.CallbackPrevFriendResponse", true),
    ("Sns.CallbackFriendAdd", false),
    ("Sns.CallbackFriendDelete", false),
    ("Sns.CallbackBlackListAdd", false),
    ("Sns.CallbackBlackListDelete", false),
    ("C2C.CallbackBeforeSendMsg", true),
    ("C2C.CallbackAfterSendMsg", false),
    ("C2C.CallbackAfterMsgReport", false),
    ("C2C.CallbackAfterMsgWithDraw", false),
    ("Group.CallbackBeforeCreateGroup", true),
    ("Group.CallbackAfterCreateGroup", false),
    ("Group.CallbackBeforeApplyJoinGroup", true),
    ("Group.CallbackBeforeInviteJoinGroup", true),
    ("Group.CallbackAfterNewMemberJoin", false),
    ("Group.CallbackAfterMemberExit", false),
    ("Group.CallbackBeforeSendMsg", true),
    ("Group.CallbackAfterSendMsg", false),
    ("Group.CallbackAfterGroupFull", false),
    ("Group.CallbackAfterGroupDestroyed", false),
    ("Group.CallbackAfterGroupInfoChanged", false),
    ("Group.CallbackOnMemberStateChange", false),
    ("Group.CallbackSendMsgException", false),
    ("Group.CallbackBeforeCreateTopic", true),
    ("Group.CallbackAfterCreateTopic", false),
    ("Group.CallbackAfterTopicDestroyed", false),
    ("Group.CallbackAfterTopicInfoChanged", false),
    ("Group.CallbackAfterRecallMsg", false),
    ("Group.CallbackAfterGroupMsgExtension", false),
    ("OfficialAccount.CallbackAfterSendMsg", false),
    ("OfficialAccount.CallbackAfterMsgWithDraw", false),
    ("Alert.RequestOverLimit", false),
];

#[test]
fn all_34_commands_present_exactly_once_in_order() {
    assert_eq!(COMMANDS.len(), EXPECTED.len());
    let before = COMMANDS.iter().filter(|c| c.phase == Phase::Before).count();
    assert_eq!((before, COMMANDS.len() - before), (8, 26));
    for (info, (name, is_before)) in COMMANDS.iter().zip(EXPECTED) {
        assert_eq!(info.name, name);
        let want = if is_before {
            Phase::Before
        } else {
            Phase::After
        };
        assert_eq!(info.phase, want, "{name}");
    }
    let names: HashSet<&str> = COMMANDS.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), COMMANDS.len());
}

#[test]
fn lookup_is_exact() {
    for info in COMMANDS {
        assert_eq!(tencent::command(info.name), Some(info));
    }
    assert!(tencent::command("c2c.CallbackBeforeSendMsg").is_none());
    assert!(tencent::command("C2C.CallbackBeforeSendMsg ").is_none());
    assert!(tencent::command("CallbackBeforeSendMsg").is_none());
    assert!(tencent::command("").is_none());
}

#[test]
fn documented_code_ranges() {
    assert_eq!(
        C2C_SEND_CODES,
        CodeRange {
            min: 120_001,
            max: 130_000
        }
    );
    assert_eq!(
        GROUP_CODES,
        CodeRange {
            min: 10_100,
            max: 10_200
        }
    );
    assert_eq!(
        FRIEND_CODES,
        CodeRange {
            min: 38_000,
            max: 39_000
        }
    );
    assert!(GROUP_CODES.contains(10_100) && GROUP_CODES.contains(10_200));
    assert!(!GROUP_CODES.contains(10_099) && !GROUP_CODES.contains(10_201));
    assert_eq!(tencent::GENERIC_REJECT_CODE, 1);
    assert_eq!(tencent::SILENT_DROP_CODE, 2);
}

#[test]
fn reject_rules_per_command() {
    let error_code = |name: &str| match tencent::command(name).map(|c| c.reject) {
        Some(RejectRule::ErrorCode {
            custom: Some(range),
        }) => range,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(error_code("C2C.CallbackBeforeSendMsg"), C2C_SEND_CODES);
    for name in [
        "Group.CallbackBeforeSendMsg",
        "Group.CallbackBeforeCreateGroup",
        "Group.CallbackBeforeApplyJoinGroup",
        "Group.CallbackBeforeInviteJoinGroup",
        "Group.CallbackBeforeCreateTopic",
    ] {
        assert_eq!(error_code(name), GROUP_CODES, "{name}");
    }
    for (name, items) in [
        ("Sns.CallbackPrevFriendAdd", "FriendItem"),
        ("Sns.CallbackPrevFriendResponse", "ResponseFriendItem"),
    ] {
        assert_eq!(
            tencent::command(name).map(|c| c.reject),
            Some(RejectRule::ResultItems {
                items,
                custom: FRIEND_CODES
            })
        );
        match tencent::command(name)
            .and_then(|c| c.modify.field("ResultItem"))
            .map(|f| f.ty)
        {
            Some(FieldType::ResultItems { items: i, refuse }) => {
                assert_eq!((i, refuse), (items, FRIEND_CODES), "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    for info in COMMANDS {
        assert_eq!(
            info.phase == Phase::After,
            info.reject == RejectRule::Ignored,
            "{}",
            info.name
        );
    }
}

#[test]
fn silent_drop_only_on_before_send() {
    let silent: HashSet<&str> = COMMANDS
        .iter()
        .filter(|c| c.silent_drop)
        .map(|c| c.name)
        .collect();
    assert_eq!(
        silent,
        ["C2C.CallbackBeforeSendMsg", "Group.CallbackBeforeSendMsg"]
            .into_iter()
            .collect()
    );
}

#[test]
fn modify_rules_follow_the_doc() {
    let fields = |name: &str| -> Vec<&str> {
        match tencent::command(name).map(|c| c.modify) {
            Some(ModifyRule::Fields(rules)) => rules.iter().map(|r| r.name).collect(),
            other => panic!("{name}: {other:?}"),
        }
    };
    assert_eq!(
        fields("C2C.CallbackBeforeSendMsg"),
        ["MsgBody", "CloudCustomData"]
    );
    assert_eq!(
        fields("Group.CallbackBeforeSendMsg"),
        ["MsgBody", "CloudCustomData"]
    );
    assert_eq!(
        fields("Group.CallbackBeforeInviteJoinGroup"),
        ["RefusedMembers_Account"]
    );
    assert_eq!(fields("Sns.CallbackPrevFriendAdd"), ["ResultItem"]);
    assert_eq!(fields("Sns.CallbackPrevFriendResponse"), ["ResultItem"]);
    let modifiable = COMMANDS.iter().filter(|c| c.modify.is_modifiable()).count();
    assert_eq!(modifiable, 5);
    for info in COMMANDS {
        match (info.phase, info.modify) {
            (Phase::After, ModifyRule::Ignored) => {}
            (Phase::Before, ModifyRule::DenyOnly | ModifyRule::Fields(_)) => {}
            other => panic!("{}: {other:?}", info.name),
        }
        if let ModifyRule::Fields(rules) = info.modify {
            for rule in rules {
                assert!(
                    !tencent::ENVELOPE_KEYS
                        .iter()
                        .any(|e| e.eq_ignore_ascii_case(rule.name)),
                    "{}: {}",
                    info.name,
                    rule.name
                );
            }
        }
    }
    assert_eq!(
        tencent::command("C2C.CallbackBeforeSendMsg")
            .and_then(|c| c.modify.field("CloudCustomData"))
            .map(|f| f.ty.expected()),
        Some("a string")
    );
}
