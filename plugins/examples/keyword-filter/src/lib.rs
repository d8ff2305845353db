//! keyword-filter: blocks or masks chat messages that contain banned words, for OpenIM and
//! Tencent Cloud Chat from one component (through [`hookbox_sdk::message::TextMessage`]).
//!
//! - OpenIM `callbackBeforeSendSingleMsgCommand` / `callbackBeforeSendGroupMsgCommand`: reject
//!   with code 5001 when the text contains a banned word.
//! - OpenIM `callbackBeforeMsgModifyCommand`: replace every banned word with `***`.
//! - Tencent `C2C.CallbackBeforeSendMsg` / `Group.CallbackBeforeSendMsg` (Tencent has no
//!   separate modify callback, so masking happens here): with `tencent_action = "mask"` (the
//!   default) answer a `MsgBody` whose `TIMTextElem` texts are masked and whose other elements
//!   are copied byte for byte; with `tencent_action = "reject"` reject with 120001 (C2C) or
//!   10100 (group), codes inside Tencent's custom ranges, so the client sees them and the
//!   message.
//! - Anything else, and messages without text: allow.
//!
//! Config `banned`: comma-separated words, matched case-insensitively anywhere in the text.
//!
//! Not: no word boundaries or look-alike normalisation, and only user-typed text is read (not
//! custom-element data, file names or image descriptions).
//!
//! The decision a reader may question: a Tencent message whose banned word only appears when
//! its text elements are joined (`"sp"`, a face, `"am"`) cannot be masked element by element,
//! so in mask mode it is **rejected** (like `tencent_action = "reject"`) rather than let
//! through.

use hookbox_sdk::message::{MessagePhase, TextMessage};
use hookbox_sdk::prelude::*;

struct KeywordFilter;

/// The error code OpenIM passes to the sender's client when a message is blocked. For Tencent
/// [`TextMessage::reject`] turns it into the first code of the command's custom range: 120001
/// for C2C, 10100 for groups.
const BLOCKED_CODE: i32 = 5001;

/// What a banned word is replaced with, whatever its length.
const MASK: &str = "***";

/// What to do with a banned word in a Tencent before-send callback (config `tencent_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TencentAction {
    Mask,
    Reject,
}

impl TencentAction {
    /// `tencent_action`: `mask` (default, also when absent or empty) or `reject`, any case.
    fn from_config() -> Result<Self, Error> {
        let value = config::get("tencent_action").unwrap_or_default();
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "mask" => Ok(TencentAction::Mask),
            "reject" => Ok(TencentAction::Reject),
            _ => Err(Error::new(format!(
                "keyword-filter: tencent_action must be \"mask\" or \"reject\", not {value:?}"
            ))),
        }
    }
}

impl Plugin for KeywordFilter {
    fn handle(event: Event) -> Result<Verdict, Error> {
        // Decide from the command alone first: other callbacks are allowed unparsed.
        let phase = MessagePhase::of(event.dialect(), event.command());
        let tencent = match (event.dialect(), phase) {
            (Dialect::OpenIm, Some(MessagePhase::BeforeSend | MessagePhase::BeforeModify))
            | (Dialect::Tencent, Some(MessagePhase::BeforeSend)) => {
                event.dialect() == Dialect::Tencent
            }
            _ => return Ok(Verdict::allow()),
        };
        // Parsed once per instance: a warm one keeps the list (see `config::parsed`).
        let Some(words) = config::parsed("banned", Banned::parse) else {
            return Ok(Verdict::allow());
        };
        if words.is_empty() {
            return Ok(Verdict::allow());
        }
        let masking = if tencent {
            TencentAction::from_config()? == TencentAction::Mask
        } else {
            phase == Some(MessagePhase::BeforeModify)
        };

        let Some(msg) = TextMessage::from_event(&event)? else {
            return Ok(Verdict::allow());
        };
        let Some(text) = msg.text() else {
            return Ok(Verdict::allow());
        };

        if masking {
            let mut count = 0;
            let verdict = msg.map_text(|piece| {
                let (masked, n) = words.mask(piece)?;
                count += n;
                Some(masked)
            })?;
            if count > 0 {
                hookbox_sdk::info!(
                    "masked {count} banned word(s) in a message from {} (id {:?})",
                    msg.sender(),
                    msg.message_id().unwrap_or_default()
                );
                return Ok(verdict);
            }
            // Nothing to mask piece by piece. For OpenIM the one piece is the whole text, so
            // the text is clean; for Tencent a word may still span two text elements.
        }

        match words.find(text) {
            Some(word) => {
                hookbox_sdk::info!(
                    "blocked a message from {} (id {:?}): banned word {:?}",
                    msg.sender(),
                    msg.message_id().unwrap_or_default(),
                    word.spelling
                );
                Ok(msg.reject(
                    BLOCKED_CODE,
                    format!(
                        "message blocked by keyword-filter: contains banned word \"{}\"",
                        word.spelling
                    ),
                ))
            }
            None => Ok(Verdict::allow()),
        }
    }
}

hookbox_sdk::export_plugin!(KeywordFilter);

/// One banned word: as configured (trimmed) and lower-cased for matching.
struct Word {
    spelling: String,
    lower: String,
}

/// The configured words, and the ASCII bytes any of them can start with.
struct Banned {
    words: Vec<Word>,
    /// `starts[b]`: some word starts with ASCII byte `b` in either case. Most positions of a
    /// text start no word, and one lookup there replaces a comparison per word.
    starts: [bool; 128],
}

impl Banned {
    /// `"spam, Scam,,"` → [spam, scam]: split on commas, trim, drop empty entries.
    fn parse(config: &str) -> Self {
        let words: Vec<Word> = config
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(|spelling| Word {
                spelling: spelling.to_owned(),
                lower: spelling.to_lowercase(),
            })
            .collect();
        let mut starts = [false; 128];
        for first in words.iter().filter_map(|w| w.lower.bytes().next()) {
            if first.is_ascii() {
                starts[usize::from(first)] = true;
                starts[usize::from(first.to_ascii_uppercase())] = true;
            }
        }
        Banned { words, starts }
    }

    fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Whether a word may start at byte `i` of `text`: not inside a character, and for an
    /// ASCII character only if some word starts with it. A non-ASCII character is always
    /// checked: some lower-case to ASCII letters (the Kelvin sign to `k`).
    fn may_start_at(&self, text: &str, i: usize) -> bool {
        match text.as_bytes()[i] {
            b if b.is_ascii() => self.starts[usize::from(b)],
            _ => text.is_char_boundary(i),
        }
    }

    /// The longest word starting at byte `i` of `text`.
    fn longest_match_at(&self, text: &str, i: usize) -> Option<usize> {
        if !self.may_start_at(text, i) {
            return None;
        }
        let rest = &text[i..];
        self.words
            .iter()
            .filter_map(|w| match_len(rest, &w.lower))
            .max()
    }

    /// The word that occurs first in `text`.
    fn find(&self, text: &str) -> Option<&Word> {
        (0..text.len())
            .filter(|&i| self.may_start_at(text, i))
            .find_map(|i| {
                let rest = &text[i..];
                self.words
                    .iter()
                    .find(|w| match_len(rest, &w.lower).is_some())
            })
    }

    /// `text` with every word replaced by [`MASK`], and how many were replaced; `None` when
    /// nothing matched (no allocation then).
    fn mask(&self, text: &str) -> Option<(String, usize)> {
        let mut out = String::new();
        let mut count = 0;
        let mut copied = 0; // text[..copied] is already in `out`
        let mut i = 0;
        while i < text.len() {
            if let Some(len) = self.longest_match_at(text, i) {
                if count == 0 {
                    out.reserve(text.len());
                }
                out.push_str(&text[copied..i]);
                out.push_str(MASK);
                count += 1;
                i += len;
                copied = i;
            } else {
                i += text[i..].chars().next().map_or(1, char::len_utf8);
            }
        }
        if count == 0 {
            return None;
        }
        out.push_str(&text[copied..]);
        Some((out, count))
    }
}

/// If `text` starts with `word_lower` (ignoring case), the length in bytes of that match in
/// `text`. Case folding is per character with `char::to_lowercase`, so the match length in
/// the original text is exact even where lower-casing changes the byte length.
fn match_len(text: &str, word_lower: &str) -> Option<usize> {
    // Most positions of a text start no banned word: when the text's first char is ASCII,
    // one byte compare settles that (its lower case is one ASCII byte, which a word starting
    // with anything else cannot equal).
    if let (Some(&t), Some(&w)) = (text.as_bytes().first(), word_lower.as_bytes().first())
        && t.is_ascii()
        && t.to_ascii_lowercase() != w
    {
        return None;
    }
    let mut want = word_lower.chars();
    for (i, c) in text.char_indices() {
        // Most chat text is ASCII, and this runs at every position of the text for every
        // word: `char::to_lowercase` and its iterator cost several times the byte compare.
        if c.is_ascii() {
            if want.next() != Some(c.to_ascii_lowercase()) {
                return None;
            }
        } else {
            for lc in c.to_lowercase() {
                if want.next() != Some(lc) {
                    return None;
                }
            }
        }
        if want.as_str().is_empty() {
            return Some(i + c.len_utf8());
        }
    }
    None
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    //! Native tests: `cargo test --target x86_64-unknown-linux-gnu -p keyword-filter`.

    use hookbox_sdk::openim::command;
    use hookbox_sdk::tencent::command as tencent;

    use super::*;

    fn words(config: &str) -> Banned {
        Banned::parse(config)
    }

    #[test]
    fn parses_the_word_list() {
        let w = words(" Spam , scam,, ,EGGS ");
        let got: Vec<(&str, &str)> = w
            .words
            .iter()
            .map(|w| (w.spelling.as_str(), w.lower.as_str()))
            .collect();
        assert_eq!(got, [("Spam", "spam"), ("scam", "scam"), ("EGGS", "eggs")]);
        assert!(words("").is_empty());
        assert!(words(" , ,").is_empty());
    }

    #[test]
    fn finds_case_insensitively() {
        let w = words("spam,Scam");
        assert_eq!(
            w.find("this is SpAm!").map(|w| w.spelling.as_str()),
            Some("spam")
        );
        assert_eq!(
            w.find("a SCAM and spam").map(|w| w.spelling.as_str()),
            Some("Scam")
        );
        assert!(w.find("clean text").is_none());
        assert!(w.find("").is_none());
    }

    #[test]
    fn non_ascii_letters_that_fold_to_ascii_still_match() {
        // The Kelvin sign lower-cases to an ASCII 'k': the ASCII fast path must not skip it.
        let w = words("kite");
        assert_eq!(
            w.find("a \u{212A}ite!").map(|w| w.spelling.as_str()),
            Some("kite")
        );
        assert_eq!(w.mask("\u{212A}ITE"), Some(("***".to_owned(), 1)));
        // A non-ASCII word against ASCII text never matches, whatever the text.
        let w = words("\u{e9}t\u{e9}");
        assert!(w.find("ete ETE").is_none());
        assert_eq!(
            w.find("un \u{c9}T\u{c9}").map(|w| w.spelling.as_str()),
            Some("\u{e9}t\u{e9}")
        );
    }

    #[test]
    fn the_start_table_skips_only_positions_no_word_starts_at() {
        // Against a scan of every character position for every word, on texts of mixed
        // case, digits, punctuation and letters that fold across scripts and lengths.
        let pieces = [
            "a", "B", "sp", "AM", "$", "3", " ", "\u{212A}", "\u{e9}", "\u{130}", "x", "ß",
        ];
        let w = words("spam,$$,3am,kite,\u{e9}t\u{e9},i\u{307}x,Ba");
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..(seed % 9) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            let naive = text.char_indices().find_map(|(i, _)| {
                w.words
                    .iter()
                    .find(|word| match_len(&text[i..], &word.lower).is_some())
            });
            assert_eq!(
                w.find(&text).map(|w| w.spelling.as_str()),
                naive.map(|w| w.spelling.as_str()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn masks_every_occurrence_with_three_asterisks() {
        let w = words("spam,verylongword");
        assert_eq!(
            w.mask("Spam, spam and SPAM; VeryLongWord!"),
            Some(("***, *** and ***; ***!".to_owned(), 4))
        );
        assert_eq!(w.mask("nothing here"), None);
        assert_eq!(w.mask("spamspam"), Some(("******".to_owned(), 2)));
    }

    #[test]
    fn longest_word_wins_and_unicode_is_safe() {
        let w = words("ab,abc");
        assert_eq!(w.mask("xabcx"), Some(("x***x".to_owned(), 1)));
        let w = words("Straße,ÄRGER");
        assert_eq!(
            w.mask("Die STRASSE? Nein: die STRAßE und ärger 😀"),
            Some(("Die STRASSE? Nein: die *** und *** 😀".to_owned(), 2))
        );
        // Lower-casing changes the byte length of 'İ' (2 bytes → 3); the mask stays aligned.
        let w = words("i\u{307}x");
        assert_eq!(w.mask("a\u{130}xb"), Some(("a***b".to_owned(), 1)));
    }

    fn event(command: &str, content_type: i32, content: &str) -> Event {
        let body = hookbox_sdk::serde_json::json!({
            "sendID": "u1", "recvID": "u2", "clientMsgID": "c1",
            "contentType": content_type, "content": content, "atUserList": null,
        });
        Event::new(Dialect::OpenIm, command, body.to_string())
    }

    #[test]
    fn handle_end_to_end() {
        config::clear_native();
        let spam = event(
            command::BEFORE_SEND_SINGLE_MSG,
            101,
            r#"{"content":"buy SPAM now"}"#,
        );
        assert_eq!(
            KeywordFilter::handle(spam.clone()).unwrap(),
            Verdict::allow(),
            "no config"
        );
        config::set_native("banned", " , ");
        assert_eq!(
            KeywordFilter::handle(spam.clone()).unwrap(),
            Verdict::allow(),
            "empty list"
        );

        config::set_native("banned", "scam, spam");
        let _ = hookbox_sdk::log::take_captured();
        assert_eq!(
            KeywordFilter::handle(spam).unwrap(),
            Verdict::reject(
                5001,
                "message blocked by keyword-filter: contains banned word \"spam\""
            )
        );
        assert_eq!(hookbox_sdk::log::take_captured().len(), 1);

        let group = event(
            command::BEFORE_SEND_GROUP_MSG,
            106,
            r#"{"text":"@a a scam","atUserList":["a"]}"#,
        );
        assert!(matches!(
            KeywordFilter::handle(group).unwrap(),
            Verdict::Reject(_)
        ));

        let clean = event(
            command::BEFORE_SEND_GROUP_MSG,
            101,
            r#"{"content":"hello"}"#,
        );
        assert_eq!(KeywordFilter::handle(clean).unwrap(), Verdict::allow());

        let picture = event(
            command::BEFORE_SEND_SINGLE_MSG,
            102,
            r#"{"content":"spam"}"#,
        );
        assert_eq!(KeywordFilter::handle(picture).unwrap(), Verdict::allow());

        let after = event(command::AFTER_SEND_SINGLE_MSG, 101, r#"{"content":"spam"}"#);
        assert_eq!(KeywordFilter::handle(after).unwrap(), Verdict::allow());

        let modify = event(
            command::BEFORE_MSG_MODIFY,
            101,
            r#"{"content":"Spam or scam?"}"#,
        );
        assert_eq!(
            KeywordFilter::handle(modify).unwrap(),
            Verdict::Modify(r#"{"content":"{\"content\":\"*** or ***?\"}"}"#.to_owned())
        );

        let modify_at = event(
            command::BEFORE_MSG_MODIFY,
            106,
            r#"{"text":"@a spam","atUserList":["a"]}"#,
        );
        assert_eq!(
            KeywordFilter::handle(modify_at).unwrap(),
            Verdict::replace_content(r#"{"text":"@a ***","atUserList":["a"]}"#)
        );

        let modify_clean = event(command::BEFORE_MSG_MODIFY, 101, r#"{"content":"fine"}"#);
        assert_eq!(
            KeywordFilter::handle(modify_clean).unwrap(),
            Verdict::allow()
        );

        let broken = Event::new(Dialect::OpenIm, command::BEFORE_MSG_MODIFY, "not json");
        assert!(KeywordFilter::handle(broken).is_err());
        config::clear_native();
    }

    // --- Tencent Cloud Chat -------------------------------------------------------------

    const C2C_SAMPLE: &str = include_str!("../events/tencent-c2c-before-send.json");
    const GROUP_SAMPLE: &str = include_str!("../events/tencent-group-before-send.json");

    fn tencent_event(command: &str, body: &str) -> Event {
        Event::new(Dialect::Tencent, command, body)
            .with_metadata("SdkAppid", "1400000002")
            .with_metadata("OptPlatform", "Android")
    }

    /// A Tencent before-send body with these elements.
    fn tencent_body(elements: &str) -> String {
        format!(
            r#"{{"From_Account":"jared","To_Account":"Jonh","GroupId":"@TGS#1","MsgKey":"1_2_3","MsgBody":[{elements}]}}"#
        )
    }

    fn run(event: Event, banned: &str, action: Option<&str>) -> Result<Verdict, Error> {
        config::clear_native();
        config::set_native("banned", banned);
        if let Some(action) = action {
            config::set_native("tencent_action", action);
        }
        let verdict = KeywordFilter::handle(event);
        config::clear_native();
        verdict
    }

    #[test]
    fn tencent_c2c_masks_by_default_and_keeps_other_elements() {
        let _ = hookbox_sdk::log::take_captured();
        let verdict = run(
            tencent_event(tencent::C2C_BEFORE_SEND_MSG, C2C_SAMPLE),
            "spam,scam",
            None,
        );
        assert_eq!(
            verdict.unwrap(),
            Verdict::Modify(
                r#"{"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"cheap *** here"}},{"MsgType":"TIMFaceElem","MsgContent":{"Index":1,"Data":"content"}}]}"#
                    .to_owned()
            )
        );
        let lines = hookbox_sdk::log::take_captured();
        assert_eq!(lines.len(), 1);
        assert_eq!(
            lines[0].message,
            r#"masked 1 banned word(s) in a message from jared (id "48374_2837546_1669872110")"#
        );
    }

    #[test]
    fn tencent_group_masks_every_text_element() {
        let verdict = run(
            tencent_event(tencent::GROUP_BEFORE_SEND_MSG, GROUP_SAMPLE),
            "spam,scam",
            Some(" Mask "),
        );
        assert_eq!(
            verdict.unwrap(),
            Verdict::Modify(
                r#"{"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"*** or "}},{"MsgType":"TIMCustomElem","MsgContent":{"Data":"{\"kind\":\"sticker\"}","Desc":"","Ext":"","Sound":""}},{"MsgType":"TIMTextElem","MsgContent":{"Text":"***?"}}]}"#
                    .to_owned()
            )
        );
    }

    #[test]
    fn tencent_reject_mode_uses_the_custom_ranges() {
        let message = "message blocked by keyword-filter: contains banned word \"spam\"";
        assert_eq!(
            run(
                tencent_event(tencent::C2C_BEFORE_SEND_MSG, C2C_SAMPLE),
                "spam",
                Some("reject"),
            )
            .unwrap(),
            Verdict::reject(120_001, message)
        );
        assert_eq!(
            run(
                tencent_event(tencent::GROUP_BEFORE_SEND_MSG, GROUP_SAMPLE),
                "spam",
                Some("REJECT"),
            )
            .unwrap(),
            Verdict::reject(10_100, message)
        );
    }

    #[test]
    fn tencent_word_split_across_text_elements_is_rejected() {
        let body = tencent_body(concat!(
            r#"{"MsgType":"TIMTextElem","MsgContent":{"Text":"buy sp"}},"#,
            r#"{"MsgType":"TIMTextElem","MsgContent":{"Text":"am now"}}"#
        ));
        let message = "message blocked by keyword-filter: contains banned word \"spam\"";
        assert_eq!(
            run(
                tencent_event(tencent::C2C_BEFORE_SEND_MSG, &body),
                "spam",
                None
            )
            .unwrap(),
            Verdict::reject(120_001, message)
        );
        assert_eq!(
            run(
                tencent_event(tencent::GROUP_BEFORE_SEND_MSG, &body),
                "spam",
                None
            )
            .unwrap(),
            Verdict::reject(10_100, message)
        );
    }

    #[test]
    fn tencent_allows_what_it_should() {
        let clean = tencent_body(r#"{"MsgType":"TIMTextElem","MsgContent":{"Text":"hello"}}"#);
        let image = tencent_body(
            r#"{"MsgType":"TIMImageElem","MsgContent":{"UUID":"spam","ImageFormat":1,"ImageInfoArray":[]}}"#,
        );
        let custom =
            tencent_body(r#"{"MsgType":"TIMCustomElem","MsgContent":{"Data":"spam spam"}}"#);
        for body in [&clean, &image, &custom, &"{}".to_owned()] {
            for command in [tencent::C2C_BEFORE_SEND_MSG, tencent::GROUP_BEFORE_SEND_MSG] {
                for action in [None, Some("reject")] {
                    assert_eq!(
                        run(tencent_event(command, body), "spam", action).unwrap(),
                        Verdict::allow(),
                        "{command} {action:?} {body}"
                    );
                }
            }
        }
        // No banned words configured.
        config::clear_native();
        assert_eq!(
            KeywordFilter::handle(tencent_event(tencent::C2C_BEFORE_SEND_MSG, C2C_SAMPLE)).unwrap(),
            Verdict::allow()
        );
        assert_eq!(
            run(
                tencent_event(tencent::C2C_BEFORE_SEND_MSG, C2C_SAMPLE),
                " ,",
                Some("bogus")
            )
            .unwrap(),
            Verdict::allow(),
            "an empty list allows before tencent_action is read"
        );
        // After-send and other commands are not even parsed.
        for command in [
            tencent::C2C_AFTER_SEND_MSG,
            tencent::GROUP_AFTER_SEND_MSG,
            tencent::STATE_CHANGE,
            command::BEFORE_SEND_SINGLE_MSG,
        ] {
            assert_eq!(
                run(tencent_event(command, "not json"), "spam", None).unwrap(),
                Verdict::allow(),
                "{command}"
            );
        }
        // A Tencent command name in an OpenIM event means nothing.
        assert_eq!(
            run(
                Event::new(Dialect::OpenIm, tencent::C2C_BEFORE_SEND_MSG, C2C_SAMPLE),
                "spam",
                None
            )
            .unwrap(),
            Verdict::allow()
        );
    }

    #[test]
    fn tencent_errors() {
        let err = run(
            tencent_event(tencent::C2C_BEFORE_SEND_MSG, C2C_SAMPLE),
            "spam",
            Some("block"),
        )
        .unwrap_err();
        assert!(err.message().contains("tencent_action"), "{err}");
        assert!(
            run(
                tencent_event(tencent::GROUP_BEFORE_SEND_MSG, "not json"),
                "spam",
                None
            )
            .is_err()
        );
    }

    #[test]
    fn openim_samples_do_what_the_readme_says() {
        let single = Event::new(
            Dialect::OpenIm,
            command::BEFORE_SEND_SINGLE_MSG,
            include_str!("../events/before-send-single.json"),
        );
        assert_eq!(
            run(single, "spam,scam", None).unwrap(),
            Verdict::reject(
                5001,
                "message blocked by keyword-filter: contains banned word \"spam\""
            )
        );
        let modify = Event::new(
            Dialect::OpenIm,
            command::BEFORE_MSG_MODIFY,
            include_str!("../events/before-msg-modify.json"),
        );
        assert_eq!(
            run(modify, "spam,scam", None).unwrap(),
            Verdict::Modify(r#"{"content":"{\"content\":\"*** or ***?\"}"}"#.to_owned())
        );
    }
}
