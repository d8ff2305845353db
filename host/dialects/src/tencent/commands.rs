//! The Tencent Cloud Chat command table: every callback command `protocols/tencent.md` §6 lists
//! (34), whether Tencent waits for the answer, how a reject is encoded (which `ErrorCode` range
//! reaches the client), whether `ErrorCode` 2 drops silently, and which response fields a
//! modification may set (with their JSON shapes).
//!
//! This is the one table; parsing, rendering, `reject_code` and modification checks all read it.
//! Sources: `protocols/tencent.md` §4 and §6, plus Tencent's own pages for the four
//! before-callbacks §4 leaves open (Group.CallbackBeforeApplyJoinGroup 1047/34370,
//! Group.CallbackBeforeInviteJoinGroup 1047/34371, Sns.CallbackPrevFriendResponse 1047/43467,
//! Group.CallbackBeforeCreateTopic 1047/49463). It is not a request schema: request bodies are
//! never validated against it.
//!
//! The decision a reader may question: the two `Sns.CallbackPrev*` commands reject through
//! `ResultItem`, not through `ErrorCode`. Tencent reads a non-zero `ErrorCode` there as "the app
//! backend failed" and by default *ignores* it, so an `ErrorCode` reject would let the friend
//! request through; refusing every requested account in `ResultItem` is what actually refuses.

use hookbox_model::Phase;

use crate::modify_rule::FieldName;

/// One Tencent callback command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandInfo {
    /// The command word, exactly as Tencent sends it (query and body `CallbackCommand`).
    pub name: &'static str,
    /// Whether Tencent waits for the answer (before) or ignores it (after).
    pub phase: Phase,
    /// How a reject (and a discard that is not a silent drop) is encoded.
    pub reject: RejectRule,
    /// Whether `ErrorCode` 2 drops the action silently, the sender being told it succeeded
    /// (the two before-send callbacks).
    pub silent_drop: bool,
    /// What a modification may set.
    pub modify: ModifyRule,
}

/// An inclusive range of error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeRange {
    /// Smallest code in the range.
    pub min: i32,
    /// Largest code in the range.
    pub max: i32,
}

impl CodeRange {
    /// Whether `code` lies in the range.
    pub fn contains(&self, code: i32) -> bool {
        (self.min..=self.max).contains(&code)
    }
}

/// How Tencent reads a refusal for a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectRule {
    /// An after-callback: Tencent ignores the answer, every verdict is rendered as an allow.
    Ignored,
    /// `ErrorCode` 1 refuses with Tencent's generic error; a code in `custom` refuses with that
    /// code and `ErrorInfo` passed on to the client.
    ErrorCode {
        /// The codes that reach the client (`None`: only the generic 1; used for unknown commands).
        custom: Option<CodeRange>,
    },
    /// `ErrorCode` stays 0 and the answer's `ResultItem` refuses every account the request
    /// lists in `items` (each element's `To_Account`) with a `ResultCode` in `custom`.
    ResultItems {
        /// The request's array of requested accounts (`FriendItem`, `ResponseFriendItem`).
        items: &'static str,
        /// The refusal codes; `min` is the code used when the plugin's does not fit.
        custom: CodeRange,
    },
}

/// What Tencent does with the fields of an answer to one command.
pub type ModifyRule = crate::modify_rule::ModifyRule<FieldRule>;

/// One field a modification may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRule {
    /// The JSON key (exact case).
    pub name: &'static str,
    /// Its JSON shape.
    pub ty: FieldType,
}

impl FieldName for FieldRule {
    fn name(&self) -> &'static str {
        self.name
    }
}

/// The JSON shape a modify field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A JSON string (`null` is refused: omit the field to keep the request's value).
    String,
    /// A message body: a non-empty array of `{"MsgType": <documented type>, "MsgContent": {…}}`
    /// (`protocols/tencent.md` §8), at most one `TIMCustomElem`.
    MsgBody,
    /// An array of account strings, each of which the request lists in `items[].key`.
    AccountList {
        /// The request's array.
        items: &'static str,
        /// The account key of its elements.
        key: &'static str,
    },
    /// `ResultItem`: one `{To_Account, ResultCode, ResultInfo}` for every account the request lists
    /// in `items[].To_Account`, exactly once; `ResultCode` 0 allows, a code in `refuse` refuses.
    ResultItems {
        /// The request's array.
        items: &'static str,
        /// The refusal codes.
        refuse: CodeRange,
    },
}

impl FieldType {
    /// How an error message describes the expected JSON.
    pub fn expected(&self) -> &'static str {
        match self {
            FieldType::String => "a string",
            FieldType::MsgBody => "an array of message elements",
            FieldType::AccountList { .. } => "an array of account strings",
            FieldType::ResultItems { .. } => "an array of result objects",
        }
    }
}

/// `ErrorCode` 1: Tencent's generic refusal (the client sees 20006 or 10016).
pub const GENERIC_REJECT_CODE: i32 = 1;

/// `ErrorCode` 2: drop silently (before-send callbacks only).
pub const SILENT_DROP_CODE: i32 = 2;

/// Custom refusal codes of `C2C.CallbackBeforeSendMsg`.
pub const C2C_SEND_CODES: CodeRange = CodeRange {
    min: 120_001,
    max: 130_000,
};

/// Custom refusal codes of the group before-callbacks (send, create, apply, invite, topic).
pub const GROUP_CODES: CodeRange = CodeRange {
    min: 10_100,
    max: 10_200,
};

/// Refusal `ResultCode`s of the two `Sns.CallbackPrev*` commands.
pub const FRIEND_CODES: CodeRange = CodeRange {
    min: 38_000,
    max: 39_000,
};

const SEND_MSG: &[FieldRule] = &[
    FieldRule {
        name: "MsgBody",
        ty: FieldType::MsgBody,
    },
    FieldRule {
        name: "CloudCustomData",
        ty: FieldType::String,
    },
];

const INVITE_JOIN_GROUP: &[FieldRule] = &[FieldRule {
    name: "RefusedMembers_Account",
    ty: FieldType::AccountList {
        items: "DestinationMembers",
        key: "Member_Account",
    },
}];

const PREV_FRIEND_ADD: &[FieldRule] = &[FieldRule {
    name: "ResultItem",
    ty: FieldType::ResultItems {
        items: "FriendItem",
        refuse: FRIEND_CODES,
    },
}];

const PREV_FRIEND_RESPONSE: &[FieldRule] = &[FieldRule {
    name: "ResultItem",
    ty: FieldType::ResultItems {
        items: "ResponseFriendItem",
        refuse: FRIEND_CODES,
    },
}];

const fn before(name: &'static str, custom: CodeRange, modify: ModifyRule) -> CommandInfo {
    CommandInfo {
        name,
        phase: Phase::Before,
        reject: RejectRule::ErrorCode {
            custom: Some(custom),
        },
        silent_drop: false,
        modify,
    }
}

const fn deny_only(name: &'static str, custom: CodeRange) -> CommandInfo {
    before(name, custom, ModifyRule::DenyOnly)
}

const fn send(name: &'static str, custom: CodeRange) -> CommandInfo {
    CommandInfo {
        silent_drop: true,
        ..before(name, custom, ModifyRule::Fields(SEND_MSG))
    }
}

const fn friend(
    name: &'static str,
    items: &'static str,
    fields: &'static [FieldRule],
) -> CommandInfo {
    CommandInfo {
        name,
        phase: Phase::Before,
        reject: RejectRule::ResultItems {
            items,
            custom: FRIEND_CODES,
        },
        silent_drop: false,
        modify: ModifyRule::Fields(fields),
    }
}

const fn after(name: &'static str) -> CommandInfo {
    CommandInfo {
        name,
        phase: Phase::After,
        reject: RejectRule::Ignored,
        silent_drop: false,
        modify: ModifyRule::Ignored,
    }
}

/// Every command of `protocols/tencent.md` §6, in its order: 34 commands, 8 before, 26 after.
pub static COMMANDS: &[CommandInfo] = &[
    // Online status.
    after("State.StateChange"),
    // Profile and relationship chain.
    after("Profile.CallbackPortraitSet"),
    friend("Sns.CallbackPrevFriendAdd", "FriendItem", PREV_FRIEND_ADD),
    friend(
        "Sns.CallbackPrevFriendResponse",
        "ResponseFriendItem",
        PREV_FRIEND_RESPONSE,
    ),
    after("Sns.CallbackFriendAdd"),
    after("Sns.CallbackFriendDelete"),
    after("Sns.CallbackBlackListAdd"),
    after("Sns.CallbackBlackListDelete"),
    // One-to-one messages.
    send("C2C.CallbackBeforeSendMsg", C2C_SEND_CODES),
    after("C2C.CallbackAfterSendMsg"),
    after("C2C.CallbackAfterMsgReport"),
    after("C2C.CallbackAfterMsgWithDraw"),
    // Groups.
    deny_only("Group.CallbackBeforeCreateGroup", GROUP_CODES),
    after("Group.CallbackAfterCreateGroup"),
    deny_only("Group.CallbackBeforeApplyJoinGroup", GROUP_CODES),
    before(
        "Group.CallbackBeforeInviteJoinGroup",
        GROUP_CODES,
        ModifyRule::Fields(INVITE_JOIN_GROUP),
    ),
    after("Group.CallbackAfterNewMemberJoin"),
    after("Group.CallbackAfterMemberExit"),
    send("Group.CallbackBeforeSendMsg", GROUP_CODES),
    after("Group.CallbackAfterSendMsg"),
    after("Group.CallbackAfterGroupFull"),
    after("Group.CallbackAfterGroupDestroyed"),
    after("Group.CallbackAfterGroupInfoChanged"),
    after("Group.CallbackOnMemberStateChange"),
    after("Group.CallbackSendMsgException"),
    deny_only("Group.CallbackBeforeCreateTopic", GROUP_CODES),
    after("Group.CallbackAfterCreateTopic"),
    after("Group.CallbackAfterTopicDestroyed"),
    after("Group.CallbackAfterTopicInfoChanged"),
    after("Group.CallbackAfterRecallMsg"),
    after("Group.CallbackAfterGroupMsgExtension"),
    // Other product areas.
    after("OfficialAccount.CallbackAfterSendMsg"),
    after("OfficialAccount.CallbackAfterMsgWithDraw"),
    after("Alert.RequestOverLimit"),
];

/// The table entry for `name` (exact, case-sensitive match).
pub fn command(name: &str) -> Option<&'static CommandInfo> {
    COMMANDS.iter().find(|c| c.name == name)
}
