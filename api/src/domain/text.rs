//! The one rule for text a client sends (README, "Input rules"): every string of every body,
//! query parameter and form, whatever the surface (canonical API, iftrue, the GitHub-shaped
//! API, deploy hooks, webhooks, the web page), is held to it.
//!
//! - NUL (U+0000) is always refused: PostgreSQL `text` cannot hold it, and SQLite would keep a
//!   value other code reads differently.
//! - Every other control character (C0, DEL, C1) is refused too, except tab, line feed and
//!   carriage return in free text ([`FREE_TEXT_FIELDS`]: changelogs, descriptions, bodies and
//!   the opaque GitHub `payload`).
//!
//! Requests are refused (422 naming the field for bodies, 400 naming the parameter for query
//! strings); webhook payloads, which their sender cannot change, are cleaned with
//! [`clean_text`], which applies the same rule by replacing what it refuses.

use super::FieldError;

/// Body fields whose text may span lines (tab, LF, CR allowed). A string anywhere below
/// `payload` (GitHub's opaque deployment payload) counts as free text too.
pub const FREE_TEXT_FIELDS: &[&str] = &["changelog", "description", "body", "payload", "message"];

/// Whether `c` is refused in text; `free_text` allows tab, line feed and carriage return.
pub fn refused_char(c: char, free_text: bool) -> bool {
    c.is_control() && !(free_text && matches!(c, '\t' | '\n' | '\r'))
}

/// THE check: `Ok` when `value` holds no refused character.
pub fn check_text(value: &str, free_text: bool) -> Result<(), String> {
    if value.contains('\0') {
        Err("must not contain NUL (U+0000)".to_owned())
    } else if value.chars().any(|c| refused_char(c, free_text)) {
        Err(if free_text {
            "must not contain control characters other than tab and newlines".to_owned()
        } else {
            "must not contain control characters".to_owned()
        })
    } else {
        Ok(())
    }
}

/// `text` with every refused character replaced by a space (newlines and tabs kept when
/// `multiline`), trimmed, at most `max` characters: for webhook payloads, which cannot be
/// refused back to their sender.
pub fn clean_text(text: &str, max: usize, multiline: bool) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if refused_char(c, multiline) || (multiline && c == '\r') {
                ' '
            } else {
                c
            }
        })
        .collect();
    cleaned.trim().chars().take(max).collect()
}

/// Every string of a JSON body, object keys included, checked with [`check_text`]: one
/// error per offending field, named by its JSON path (`commits[0].sha`). A string is free
/// text when the nearest object key above it is in [`FREE_TEXT_FIELDS`] or it lies below
/// `payload`.
pub fn check_json_text(value: &serde_json::Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    walk(value, &mut String::new(), false, &mut errors);
    errors
}

fn walk(value: &serde_json::Value, path: &mut String, free: bool, errors: &mut Vec<FieldError>) {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            if let Err(message) = check_text(s, free) {
                let field = if path.is_empty() { "$" } else { path.as_str() };
                errors.push(FieldError::new(field, message));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, path, free, errors);
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                if let Err(message) = check_text(key, false) {
                    errors.push(FieldError::new(path.clone(), format!("name {message}")));
                }
                let item_free = free || FREE_TEXT_FIELDS.contains(&key.as_str());
                walk(item, path, item_free, errors);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// The first pair of a URL query string (`a=1&b=2`, percent-encoded) with a refused
/// character in its name or value: `(name, message)`. Query parameters are never free text.
pub fn check_query_text(query: &str) -> Option<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes()).find_map(|(name, value)| {
        check_text(&name, false)
            .and_then(|()| check_text(&value, false))
            .err()
            .map(|message| (name.into_owned(), message))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_is_always_refused() {
        assert!(check_text("a\u{0}b", true).is_err());
        assert!(check_text("a\u{0}b", false).is_err());
        assert!(check_text("a\tb\r\nc", true).is_ok());
        assert!(check_text("a\tb", false).is_err());
        assert!(check_text("a\u{1b}[31m", true).is_err());
        assert!(check_text("a\u{7f}", false).is_err());
        assert!(check_text("a\u{85}", false).is_err());
        assert!(check_text("café ✓", false).is_ok());
    }

    #[test]
    fn json_fields_are_named() {
        let body = json!({
            "title": "a\u{0}b",
            "changelog": "line\nline",
            "commits": [{"sha": "ab\u{1}"}],
            "payload": {"notes": "x\ny", "k\u{0}": 1},
            "url": "ok"
        });
        let mut fields: Vec<String> = check_json_text(&body)
            .into_iter()
            .map(|e| e.field)
            .collect();
        fields.sort();
        assert_eq!(fields, ["commits[0].sha", "payload.k\u{0}", "title"]);
        assert!(check_json_text(&json!({"description": "tab\there"})).is_empty());
        assert_eq!(
            check_json_text(&json!({"payload": {"a": "\u{0}"}})).len(),
            1
        );
    }

    #[test]
    fn query_pairs() {
        assert_eq!(
            check_query_text("branch=a%00b&x=1")
                .map(|(n, _)| n)
                .as_deref(),
            Some("branch")
        );
        assert_eq!(check_query_text("branch=main&environment=prod"), None);
        assert!(check_query_text("a%09=1").is_some());
    }

    #[test]
    fn cleaning_applies_the_same_rule() {
        assert_eq!(clean_text("a\u{0}b\nc", 10, false), "a b c");
        assert_eq!(clean_text("a\u{0}b\nc\td", 10, true), "a b\nc\td");
        assert_eq!(clean_text("abcdef", 3, false), "abc");
    }
}
