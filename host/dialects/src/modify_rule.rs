//! What a command lets an answer change, and the part of judging a modification both IM servers
//! share: no envelope key, an empty object allows, a command that applies no fields refuses any,
//! and a key the command does not apply is refused, before its value is looked at.
//!
//! This is not where values are checked: OpenIM's rules are the Go types it decodes into and
//! Tencent's are JSON shapes, so [`ModifyRule`] is generic over each dialect's field rule, and
//! each dialect checks a field's value its own way in the closure it hands `check_fields`.
//!
//! The decision a reader may question: a command that applies no fields names only the first
//! field the plugin set, not all of them; one is enough to tell its author what to remove, and
//! the error stays bounded whatever the plugin sent.

use hookbox_model::JsonObject;
use serde_json::Value;

use crate::ModifyError;

/// What an IM server does with the fields of an answer to one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModifyRule<F: 'static> {
    /// An after-callback: the IM server ignores the answer. Nothing can be denied or modified.
    Ignored,
    /// A before-callback that can only be allowed or rejected; answer fields are not applied.
    DenyOnly,
    /// A before-callback whose answer fields the IM server applies: exactly these.
    Fields(&'static [F]),
}

/// A dialect's rule for one field a modification may carry.
pub trait FieldName {
    /// The JSON key, exact case.
    fn name(&self) -> &'static str;
}

impl<F: FieldName> ModifyRule<F> {
    /// Whether a modification may set at least one field.
    pub fn is_modifiable(&self) -> bool {
        matches!(self, ModifyRule::Fields(_))
    }

    /// The rule for the field `name`, if the command applies it.
    pub fn field(&self, name: &str) -> Option<&'static F> {
        match *self {
            ModifyRule::Fields(fields) => fields.iter().find(|f| f.name() == name),
            ModifyRule::DenyOnly | ModifyRule::Ignored => None,
        }
    }
}

/// How one IM server is named in the reasons a command takes no modification.
pub(crate) struct Refusals {
    /// Why a before-callback that only reads allow or reject takes none.
    pub deny_only: &'static str,
    /// Why an after-callback takes none.
    pub ignored: &'static str,
}

/// Checks what both IM servers share about a modification of `command` (whose rule is `rule`,
/// `None` for a command the dialect does not know), then hands each field with its rule to
/// `check_value`, in the plugin's order; the first error wins.
pub(crate) fn check_fields<F: FieldName>(
    command: &str,
    rule: Option<ModifyRule<F>>,
    fields: &JsonObject,
    is_envelope_key: impl Fn(&str) -> bool,
    refusals: &Refusals,
    mut check_value: impl FnMut(&String, &Value, &'static F) -> Result<(), ModifyError>,
) -> Result<(), ModifyError> {
    if let Some(key) = fields.keys().find(|key| is_envelope_key(key)) {
        return Err(ModifyError::EnvelopeField { field: key.clone() });
    }
    let Some(first) = fields.keys().next() else {
        return Ok(());
    };
    let not_modifiable = |why| ModifyError::NotModifiable {
        command: command.to_owned(),
        field: first.clone(),
        why,
    };
    let rule = match rule {
        Some(rule @ ModifyRule::Fields(_)) => rule,
        Some(ModifyRule::DenyOnly) => return Err(not_modifiable(refusals.deny_only)),
        Some(ModifyRule::Ignored) => return Err(not_modifiable(refusals.ignored)),
        None => return Err(not_modifiable("unknown command")),
    };
    for (key, value) in fields {
        let Some(field_rule) = rule.field(key) else {
            return Err(ModifyError::UnknownField {
                command: command.to_owned(),
                field: key.clone(),
            });
        };
        check_value(key, value, field_rule)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy)]
    struct Rule(&'static str);

    impl FieldName for Rule {
        fn name(&self) -> &'static str {
            self.0
        }
    }

    static RULES: [Rule; 2] = [Rule("text"), Rule("ex")];
    const REFUSALS: Refusals = Refusals {
        deny_only: "reads allow or reject",
        ignored: "ignores the answer",
    };

    fn fields(json: &str) -> JsonObject {
        serde_json::from_str(json).unwrap()
    }

    fn check(rule: Option<ModifyRule<Rule>>, json: &str) -> Result<Vec<String>, ModifyError> {
        let mut seen = Vec::new();
        check_fields(
            "cmd",
            rule,
            &fields(json),
            |key| key.eq_ignore_ascii_case("errCode"),
            &REFUSALS,
            |key, _, rule| {
                seen.push(format!("{key}={}", rule.name()));
                Ok(())
            },
        )?;
        Ok(seen)
    }

    #[test]
    fn each_known_field_reaches_the_value_check_with_its_rule() {
        let rule = Some(ModifyRule::Fields(&RULES));
        assert_eq!(
            check(rule, r#"{"ex":1,"text":"a"}"#).unwrap(),
            ["ex=ex", "text=text"]
        );
        assert_eq!(check(rule, "{}").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn shared_refusals_come_before_any_value_is_checked() {
        let fields_rule = Some(ModifyRule::Fields(&RULES));
        assert!(matches!(
            check(fields_rule, r#"{"text":"a","ERRCODE":1}"#),
            Err(ModifyError::EnvelopeField { field }) if field == "ERRCODE"
        ));
        assert!(matches!(
            check(fields_rule, r#"{"text":"a","Text":"b"}"#),
            Err(ModifyError::UnknownField { field, .. }) if field == "Text"
        ));
        for (rule, expected) in [
            (Some(ModifyRule::DenyOnly), REFUSALS.deny_only),
            (Some(ModifyRule::Ignored), REFUSALS.ignored),
            (None, "unknown command"),
        ] {
            assert!(matches!(
                check(rule, r#"{"ex":1,"text":"a"}"#),
                Err(ModifyError::NotModifiable { command, field, why })
                    if command == "cmd" && field == "ex" && why == expected
            ));
            assert_eq!(check(rule, "{}").unwrap(), Vec::<String>::new());
        }
    }

    #[test]
    fn rules_are_found_by_exact_name() {
        let rule: ModifyRule<Rule> = ModifyRule::Fields(&RULES);
        assert!(rule.is_modifiable());
        assert_eq!(rule.field("ex").map(Rule::name), Some("ex"));
        assert!(rule.field("EX").is_none());
        assert!(!ModifyRule::<Rule>::DenyOnly.is_modifiable());
        assert!(ModifyRule::<Rule>::Ignored.field("ex").is_none());
    }
}
