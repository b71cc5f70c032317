//! `${credentials.NAME}` in a web service's URL, headers and body: one scanner, and what is made
//! with it — the config's check of the names, a harmless fill to check a URL's shape, and the
//! request's text with the values (percent-encoded in a URL).

use std::collections::BTreeMap;

use crate::secret::Secret;
use crate::spec::{ConfigError, Section};

const START: &str = "${credentials.";

/// A piece of a template.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    /// `${credentials.NAME}`: the name.
    Field(&'a str),
    /// A `${credentials.` without its `}`, with the rest of the text.
    Unterminated(&'a str),
}

/// The template's pieces, in order.
fn pieces(text: &str) -> impl Iterator<Item = Piece<'_>> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let piece = match rest.find(START) {
            None => Piece::Text(std::mem::take(&mut rest)),
            Some(0) => {
                let after = &rest[START.len()..];
                match after.find('}') {
                    None => Piece::Unterminated(std::mem::take(&mut rest)),
                    Some(end) => {
                        rest = &after[end + 1..];
                        Piece::Field(&after[..end])
                    }
                }
            }
            Some(start) => {
                let (text, placeholder) = rest.split_at(start);
                rest = placeholder;
                Piece::Text(text)
            }
        };
        Some(piece)
    })
}

/// Whether `text` has a placeholder (a URL without one is parsed once, a header with one is
/// marked sensitive).
pub(super) fn has_placeholder(text: &str) -> bool {
    text.contains(START)
}

/// Every `${credentials.NAME}` in `text` (the value of `key`) must name a field this
/// authentication offers (`names`).
pub(super) fn check(
    section: &Section,
    key: &str,
    text: &str,
    names: &[String],
) -> Result<(), ConfigError> {
    for piece in pieces(text) {
        match piece {
            Piece::Text(_) => {}
            Piece::Field(name) if names.iter().any(|n| n == name) => {}
            Piece::Field(name) => {
                let offered = if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                };
                return Err(section.error(
                    key,
                    format!(
                        "${{credentials.{name}}} names no credential field (offered here: {offered})"
                    ),
                ));
            }
            Piece::Unterminated(_) => {
                return Err(section.error(key, "has an unterminated ${credentials. placeholder"));
            }
        }
    }
    Ok(())
}

/// The text with every placeholder replaced by a harmless value, to validate its shape.
pub(super) fn fill_harmless(text: &str) -> String {
    pieces(text)
        .map(|piece| match piece {
            Piece::Text(text) => text,
            Piece::Field(_) | Piece::Unterminated(_) => "x",
        })
        .collect()
}

/// What a value put into a URL is percent-encoded against: all but RFC 3986's unreserved
/// characters, so a value stays one path segment or one query value.
const URL_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` with every `${credentials.NAME}` replaced by its value (percent-encoded for a URL).
pub(super) fn substitute(text: &str, values: &BTreeMap<String, Secret>, in_url: bool) -> String {
    let mut out = String::new();
    for piece in pieces(text) {
        match piece {
            Piece::Text(text) | Piece::Unterminated(text) => out.push_str(text),
            Piece::Field(name) => {
                let value = values.get(name).map(Secret::expose).unwrap_or_default();
                if in_url {
                    out.extend(percent_encoding::utf8_percent_encode(value, URL_COMPONENT));
                } else {
                    out.push_str(value);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Piece, fill_harmless, pieces, substitute};
    use crate::secret::Secret;

    #[test]
    fn one_scanner_for_every_use() {
        let text = "https://h/${credentials.user}/x?k=${credentials.key}&${credentials.open";
        assert_eq!(
            pieces(text).collect::<Vec<_>>(),
            [
                Piece::Text("https://h/"),
                Piece::Field("user"),
                Piece::Text("/x?k="),
                Piece::Field("key"),
                Piece::Text("&"),
                Piece::Unterminated("${credentials.open"),
            ]
        );
        assert_eq!(fill_harmless(text), "https://h/x/x?k=x&x");
        assert_eq!(pieces("").count(), 0);
        assert_eq!(fill_harmless("${credentials.a}${credentials.b}"), "xx");
        let values = [
            ("user".to_string(), Secret::new("a b/c".to_string())),
            ("key".to_string(), Secret::new("k&v".to_string())),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            substitute(
                "https://h/${credentials.user}?k=${credentials.key}",
                &values,
                true
            ),
            "https://h/a%20b%2Fc?k=k%26v"
        );
        assert_eq!(
            substitute(
                "Basic ${credentials.user}:${credentials.key}",
                &values,
                false
            ),
            "Basic a b/c:k&v"
        );
    }
}
