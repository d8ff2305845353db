//! keyword-filter: blocks or masks OpenIM messages that contain banned words.
//!
//! - `callbackBeforeSendSingleMsgCommand` / `callbackBeforeSendGroupMsgCommand`: reject with
//!   code 5001 when the text contains a banned word.
//! - `callbackBeforeMsgModifyCommand`: replace every banned word with `***`.
//! - Anything else, and messages without text: allow.
//!
//! Config `banned`: comma-separated words, matched case-insensitively anywhere in the text.

use hookbox_sdk::openim::{self, command, content_type};
use hookbox_sdk::prelude::*;

struct KeywordFilter;

/// The error code OpenIM passes to the sender's client when a message is blocked.
const BLOCKED_CODE: i32 = 5001;

/// What a banned word is replaced with, whatever its length.
const MASK: &str = "***";

impl Plugin for KeywordFilter {
    fn handle(event: Event) -> Result<Verdict, Error> {
        let modify = match event.command() {
            command::BEFORE_SEND_SINGLE_MSG | command::BEFORE_SEND_GROUP_MSG => false,
            command::BEFORE_MSG_MODIFY => true,
            _ => return Ok(Verdict::allow()),
        };
        let Some(banned) = config::get("banned") else {
            return Ok(Verdict::allow());
        };
        let words = Word::parse_list(&banned);
        if words.is_empty() {
            return Ok(Verdict::allow());
        }

        // The three commands share CommonCallbackReq; recvID/groupID are not needed here.
        let msg: openim::CommonCallbackReq = event.json()?;
        let Some(text) = msg.text() else {
            return Ok(Verdict::allow());
        };

        if modify {
            let Some((masked, count)) = mask(&text, &words) else {
                return Ok(Verdict::allow());
            };
            let verdict = if msg.content_type == content_type::TEXT {
                Verdict::replace_text(&masked)
            } else {
                // @-text, quote, rich text: keep the other fields of the content element.
                match openim::replace_text_in_content(msg.content_type, &msg.content, &masked) {
                    Some(content) => Verdict::replace_content(&content),
                    None => return Ok(Verdict::allow()),
                }
            };
            hookbox_sdk::info!(
                "masked {count} banned word(s) in a message from {} (clientMsgID {:?})",
                msg.send_id,
                msg.client_msg_id
            );
            return Ok(verdict);
        }

        match find(&text, &words) {
            Some(word) => {
                hookbox_sdk::info!(
                    "blocked a message from {} (clientMsgID {:?}): banned word {:?}",
                    msg.send_id,
                    msg.client_msg_id,
                    word.spelling
                );
                Ok(Verdict::reject(
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
struct Word<'a> {
    spelling: &'a str,
    lower: String,
}

impl<'a> Word<'a> {
    /// `"spam, Scam,,"` → [spam, scam]: split on commas, trim, drop empty entries.
    fn parse_list(config: &'a str) -> Vec<Word<'a>> {
        config
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(|spelling| Word {
                spelling,
                lower: spelling.to_lowercase(),
            })
            .collect()
    }
}

/// If `text` starts with `word_lower` (ignoring case), the length in bytes of that match in
/// `text`. Case folding is per character with `char::to_lowercase`, so the match length in
/// the original text is exact even where lower-casing changes the byte length.
fn match_len(text: &str, word_lower: &str) -> Option<usize> {
    let mut want = word_lower.chars();
    for (i, c) in text.char_indices() {
        for lc in c.to_lowercase() {
            if want.next() != Some(lc) {
                return None;
            }
        }
        if want.as_str().is_empty() {
            return Some(i + c.len_utf8());
        }
    }
    None
}

/// The longest banned word starting at byte `i` of `text`.
fn longest_match_at(text: &str, i: usize, words: &[Word<'_>]) -> Option<usize> {
    let rest = &text[i..];
    words.iter().filter_map(|w| match_len(rest, &w.lower)).max()
}

/// The banned word that occurs first in `text`.
fn find<'w, 'a>(text: &str, words: &'w [Word<'a>]) -> Option<&'w Word<'a>> {
    text.char_indices().find_map(|(i, _)| {
        let rest = &text[i..];
        words.iter().find(|w| match_len(rest, &w.lower).is_some())
    })
}

/// `text` with every banned word replaced by [`MASK`], and how many were replaced; `None`
/// when nothing matched (no allocation then).
fn mask(text: &str, words: &[Word<'_>]) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut count = 0;
    let mut copied = 0; // text[..copied] is already in `out`
    let mut i = 0;
    while i < text.len() {
        if let Some(len) = longest_match_at(text, i, words) {
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

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    //! Native tests: `cargo test --target x86_64-unknown-linux-gnu -p keyword-filter`.

    use super::*;

    fn words(config: &str) -> Vec<Word<'_>> {
        Word::parse_list(config)
    }

    #[test]
    fn parses_the_word_list() {
        let w = words(" Spam , scam,, ,EGGS ");
        let got: Vec<(&str, &str)> = w.iter().map(|w| (w.spelling, w.lower.as_str())).collect();
        assert_eq!(got, [("Spam", "spam"), ("scam", "scam"), ("EGGS", "eggs")]);
        assert!(words("").is_empty());
        assert!(words(" , ,").is_empty());
    }

    #[test]
    fn finds_case_insensitively() {
        let w = words("spam,Scam");
        assert_eq!(find("this is SpAm!", &w).map(|w| w.spelling), Some("spam"));
        assert_eq!(
            find("a SCAM and spam", &w).map(|w| w.spelling),
            Some("Scam")
        );
        assert!(find("clean text", &w).is_none());
        assert!(find("", &w).is_none());
    }

    #[test]
    fn masks_every_occurrence_with_three_asterisks() {
        let w = words("spam,verylongword");
        assert_eq!(
            mask("Spam, spam and SPAM; VeryLongWord!", &w),
            Some(("***, *** and ***; ***!".to_owned(), 4))
        );
        assert_eq!(mask("nothing here", &w), None);
        assert_eq!(mask("spamspam", &w), Some(("******".to_owned(), 2)));
    }

    #[test]
    fn longest_word_wins_and_unicode_is_safe() {
        let w = words("ab,abc");
        assert_eq!(mask("xabcx", &w), Some(("x***x".to_owned(), 1)));
        let w = words("Straße,ÄRGER");
        assert_eq!(
            mask("Die STRASSE? Nein: die STRAßE und ärger 😀", &w),
            Some(("Die STRASSE? Nein: die *** und *** 😀".to_owned(), 2))
        );
        // Lower-casing changes the byte length of 'İ' (2 bytes → 3); the mask stays aligned.
        let w = words("i\u{307}x");
        assert_eq!(mask("a\u{130}xb", &w), Some(("a***b".to_owned(), 1)));
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
}
