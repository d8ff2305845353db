//! The command table against `protocols/openim.md` §3.

use std::collections::HashSet;

use hookbox_dialects::openim::{self, COMMANDS, FieldType, ModifyRule};
use hookbox_model::Phase;

/// §3, in order: (string value, before?).
const EXPECTED: [(&str, bool); 52] = [
    ("callbackBeforeSendSingleMsgCommand", true),
    ("callbackAfterSendSingleMsgCommand", false),
    ("callbackBeforeSendGroupMsgCommand", true),
    ("callbackAfterSendGroupMsgCommand", false),
    ("callbackBeforeMsgModifyCommand", true),
    ("callbackAfterMsgSaveDBCommand", false),
    ("callbackAfterGroupMsgReadCommand", false),
    ("callbackAfterSingleMsgReadCommand", false),
    ("callbackBeforeAfterMsgCommand", false),
    ("callbackAfterUserOnlineCommand", false),
    ("callbackAfterUserOfflineCommand", false),
    ("callbackAfterUserKickOffCommand", false),
    ("callbackBeforeOfflinePushCommand", true),
    ("callbackBeforeOnlinePushCommand", true),
    ("callbackBeforeGroupOnlinePushCommand", true),
    ("callbackBeforeAddFriendCommand", true),
    ("callbackAfterAddFriendCommand", false),
    ("callbackBeforeAddFriendAgreeCommand", true),
    ("callbackAfterAddFriendAgreeCommand", false),
    ("callbackAfterDeleteFriendCommand", false),
    ("callbackBeforeImportFriendsCommand", true),
    ("callbackAfterImportFriendsCommand", false),
    ("callbackBeforeSetFriendRemarkCommand", true),
    ("callbackAfterSetFriendRemarkCommand", false),
    ("callbackBeforeAddBlackCommand", true),
    ("callbackAfterRemoveBlackCommand", false),
    ("callbackBeforeUpdateUserInfoCommand", true),
    ("callbackAfterUpdateUserInfoCommand", false),
    ("callbackBeforeUpdateUserInfoExCommand", true),
    ("callbackAfterUpdateUserInfoExCommand", false),
    ("callbackBeforeUserRegisterCommand", true),
    ("callbackAfterUserRegisterCommand", false),
    ("callbackBeforeCreateGroupCommand", true),
    ("callbackAfterCreateGroupCommand", false),
    ("callbackBeforeMembersJoinGroupCommand", true),
    ("callbackBeforeSetGroupMemberInfoCommand", true),
    ("callbackAfterSetGroupMemberInfoCommand", false),
    ("callbackAfterQuitGroupCommand", false),
    ("callbackAfterKickGroupCommand", false),
    ("callbackAfterDisMissGroupCommand", false),
    ("callbackBeforeJoinGroupCommand", true),
    ("callbackAfterJoinGroupCommand", false),
    ("callbackAfterTransferGroupOwnerCommand", false),
    ("callbackBeforeInviteJoinGroupCommand", true),
    ("callbackBeforeSetGroupInfoCommand", true),
    ("callbackAfterSetGroupInfoCommand", false),
    ("callbackBeforeSetGroupInfoExCommand", true),
    ("callbackAfterSetGroupInfoExCommand", false),
    ("callbackBeforeCreateSingleChatConversationsCommand", true),
    ("callbackAfterCreateSingleChatConversationsCommand", false),
    ("callbackBeforeCreateGroupChatConversationsCommand", true),
    ("callbackAfterCreateGroupChatConversationsCommand", false),
];

#[test]
fn all_52_commands_present_exactly_once() {
    assert_eq!(COMMANDS.len(), 52);
    let before = COMMANDS.iter().filter(|c| c.phase == Phase::Before).count();
    let after = COMMANDS.iter().filter(|c| c.phase == Phase::After).count();
    assert_eq!((before, after), (23, 29));
    for (name, is_before) in EXPECTED {
        let matching: Vec<_> = COMMANDS.iter().filter(|c| c.name == name).collect();
        assert_eq!(matching.len(), 1, "{name} must appear exactly once");
        let want = if is_before {
            Phase::Before
        } else {
            Phase::After
        };
        assert_eq!(matching[0].phase, want, "{name}");
    }
    let names: HashSet<&str> = COMMANDS.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), 52);
}

#[test]
fn lookup_is_exact() {
    for info in COMMANDS {
        assert_eq!(openim::command(info.name), Some(info));
    }
    assert!(openim::command("CallbackBeforeSendSingleMsgCommand").is_none());
    assert!(openim::command("callbackBeforeSendSingleMsgCommand ").is_none());
    assert!(openim::command("callbackMsgModifyCommand").is_none());
    assert!(openim::command("").is_none());
}

#[test]
fn config_keys_are_unique_and_match_webhooks_yml() {
    let keys: HashSet<&str> = COMMANDS.iter().map(|c| c.config_key).collect();
    assert_eq!(keys.len(), 52);
    for (name, key) in [
        ("callbackBeforeAfterMsgCommand", "afterRevokeMsg"),
        (
            "callbackBeforeMembersJoinGroupCommand",
            "beforeMemberJoinGroup",
        ),
        ("callbackBeforeJoinGroupCommand", "beforeApplyJoinGroup"),
        (
            "callbackBeforeInviteJoinGroupCommand",
            "beforeInviteUserToGroup",
        ),
        ("callbackAfterKickGroupCommand", "afterKickGroupMember"),
        ("callbackAfterDisMissGroupCommand", "afterDismissGroup"),
        ("callbackBeforeSendSingleMsgCommand", "beforeSendSingleMsg"),
        (
            "callbackAfterCreateGroupChatConversationsCommand",
            "afterCreateGroupChatConversations",
        ),
    ] {
        assert_eq!(openim::command(name).map(|c| c.config_key), Some(key));
    }
    for info in COMMANDS {
        let prefix = if info.phase == Phase::Before {
            "before"
        } else {
            "after"
        };
        assert!(info.config_key.starts_with(prefix), "{}", info.name);
    }
}

#[test]
fn modify_rules_follow_the_phase() {
    let modifiable: HashSet<&str> = COMMANDS
        .iter()
        .filter(|c| c.modify.is_modifiable())
        .map(|c| c.name)
        .collect();
    let expected: HashSet<&str> = [
        "callbackBeforeMsgModifyCommand",
        "callbackBeforeOfflinePushCommand",
        "callbackBeforeGroupOnlinePushCommand",
        "callbackBeforeImportFriendsCommand",
        "callbackBeforeSetFriendRemarkCommand",
        "callbackBeforeUpdateUserInfoCommand",
        "callbackBeforeUpdateUserInfoExCommand",
        "callbackBeforeUserRegisterCommand",
        "callbackBeforeCreateGroupCommand",
        "callbackBeforeMembersJoinGroupCommand",
        "callbackBeforeSetGroupMemberInfoCommand",
        "callbackBeforeSetGroupInfoCommand",
        "callbackBeforeSetGroupInfoExCommand",
        "callbackBeforeCreateSingleChatConversationsCommand",
        "callbackBeforeCreateGroupChatConversationsCommand",
    ]
    .into_iter()
    .collect();
    assert_eq!(modifiable, expected);
    for info in COMMANDS {
        match (info.phase, info.modify) {
            (Phase::After, ModifyRule::Ignored) => {}
            (Phase::Before, ModifyRule::DenyOnly | ModifyRule::Fields(_)) => {}
            other => panic!("{}: {other:?}", info.name),
        }
    }
}

#[test]
fn field_rules_are_well_formed() {
    fn walk(command: &str, rules: &[hookbox_dialects::openim::FieldRule]) {
        let names: HashSet<&str> = rules.iter().map(|r| r.name).collect();
        assert_eq!(names.len(), rules.len(), "{command}: duplicate field");
        for rule in rules {
            assert!(
                !openim::ENVELOPE_KEYS
                    .iter()
                    .any(|e| e.eq_ignore_ascii_case(rule.name)),
                "{command}: {} is an envelope key",
                rule.name
            );
            match rule.ty {
                FieldType::Object(inner) | FieldType::ObjectList(inner) => walk(command, inner),
                FieldType::Refused(reason) => assert!(!reason.is_empty()),
                _ => {}
            }
        }
    }
    for info in COMMANDS {
        if let ModifyRule::Fields(rules) = info.modify {
            assert!(!rules.is_empty(), "{}", info.name);
            walk(info.name, rules);
        }
    }
}

#[test]
fn key_query_and_echo_are_where_openim_md_says() {
    let with_key: HashSet<&str> = COMMANDS
        .iter()
        .filter(|c| c.key_query)
        .map(|c| c.name)
        .collect();
    assert_eq!(
        with_key,
        [
            "callbackAfterSendSingleMsgCommand",
            "callbackAfterSendGroupMsgCommand",
            "callbackAfterMsgSaveDBCommand"
        ]
        .into_iter()
        .collect()
    );
    let echoing: Vec<&str> = COMMANDS
        .iter()
        .filter(|c| !c.echo.is_empty())
        .map(|c| c.name)
        .collect();
    assert_eq!(
        echoing,
        [
            "callbackBeforeSetGroupInfoCommand",
            "callbackBeforeSetGroupInfoExCommand"
        ]
    );
    for info in COMMANDS.iter().filter(|c| !c.echo.is_empty()) {
        assert_eq!(info.echo.first(), Some(&"groupID"), "{}", info.name);
    }
    // `render` writes echoed fields after the envelope without a map: an echo key that is an
    // envelope key, or repeated, would be written twice.
    for info in COMMANDS {
        let mut keys: Vec<&str> = info.echo.to_vec();
        keys.extend(openim::ENVELOPE_KEYS);
        keys.sort_unstable();
        let before = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), before, "{}: an echo key repeats", info.name);
    }
}
