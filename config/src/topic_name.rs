//! Topic-name validation.
//!
//! A topic name becomes a directory name under `<data_dir>/topics/`, so the
//! alphabet is kept to characters that are safe on every file system and in
//! URLs and metric labels: `[A-Za-z0-9._-]{1,249}`, as in Kafka. `.` and
//! `..` match that pattern but name the directory itself and its parent, so
//! they are rejected too.

use crate::ConfigError;

/// The longest topic name, in bytes (all allowed characters are ASCII).
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// The rule, in words, for error messages and help.
pub const TOPIC_NAME_RULE: &str = "topic names are 1 to 249 characters from A-Z, a-z, 0-9, '.', '_' and '-', \
     and may not be \".\" or \"..\"";

/// Whether `c` may appear in a topic name.
fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Accept `name` if it matches `[A-Za-z0-9._-]{1,249}` and is neither `.`
/// nor `..`; otherwise say what is wrong.
pub fn validate_topic_name(name: &str) -> Result<(), ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidTopicName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("the name is empty".to_owned()));
    }
    if let Some((position, c)) = name.chars().enumerate().find(|&(_, c)| !is_allowed(c)) {
        return Err(invalid(format!(
            "character {c:?} at position {position} is not allowed"
        )));
    }
    // Only ASCII remains, so the byte length is the character count.
    if name.len() > MAX_TOPIC_NAME_LEN {
        return Err(invalid(format!(
            "the name is {} characters long",
            name.len()
        )));
    }
    if name == "." || name == ".." {
        return Err(invalid("the name refers to a directory".to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordinary_names_are_accepted() {
        for name in [
            "orders",
            "a",
            "Orders.v2",
            "my_topic-1",
            "...",
            ".hidden",
            "_",
        ] {
            assert!(validate_topic_name(name).is_ok(), "{name}");
        }
        assert!(validate_topic_name(&"x".repeat(MAX_TOPIC_NAME_LEN)).is_ok());
    }

    #[test]
    fn empty_name_is_rejected() {
        let msg = validate_topic_name("").unwrap_err().to_string();
        assert!(msg.contains("empty"), "{msg}");
        assert!(msg.contains(TOPIC_NAME_RULE), "{msg}");
    }

    #[test]
    fn dot_and_dot_dot_are_rejected() {
        assert!(validate_topic_name(".").is_err());
        assert!(validate_topic_name("..").is_err());
    }

    #[test]
    fn too_long_name_is_rejected_with_its_length() {
        let msg = validate_topic_name(&"x".repeat(250))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("250 characters"), "{msg}");
    }

    #[test]
    fn bad_character_is_named_with_its_position() {
        let msg = validate_topic_name("a/b").unwrap_err().to_string();
        assert_eq!(
            msg,
            format!(
                "invalid topic name \"a/b\": character '/' at position 1 is not allowed; {TOPIC_NAME_RULE}"
            )
        );
        assert!(validate_topic_name("caf\u{e9}").is_err());
        assert!(validate_topic_name("a b").is_err());
        assert!(validate_topic_name("a\0").is_err());
    }

    proptest! {
        #[test]
        fn every_name_matching_the_pattern_is_accepted(name in "[A-Za-z0-9._-]{1,249}") {
            let expected = name != "." && name != "..";
            prop_assert_eq!(validate_topic_name(&name).is_ok(), expected);
        }

        #[test]
        fn a_name_with_any_other_character_is_rejected(
            prefix in "[A-Za-z0-9._-]{0,20}",
            bad in "[^A-Za-z0-9._-]",
            suffix in "[A-Za-z0-9._-]{0,20}",
        ) {
            let name = format!("{prefix}{bad}{suffix}");
            prop_assert!(validate_topic_name(&name).is_err());
        }

        #[test]
        fn a_name_longer_than_the_limit_is_rejected(name in "[A-Za-z0-9._-]{250,400}") {
            prop_assert!(validate_topic_name(&name).is_err());
        }

        #[test]
        fn arbitrary_strings_are_accepted_exactly_when_they_match(name in "\\PC{0,8}|[A-Za-z0-9._-]{0,3}") {
            let matches = (1..=MAX_TOPIC_NAME_LEN).contains(&name.chars().count())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
                && name != "."
                && name != "..";
            prop_assert_eq!(validate_topic_name(&name).is_ok(), matches);
        }
    }
}
