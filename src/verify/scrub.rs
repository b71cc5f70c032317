//! Keeps secrets out of the messages a check leaves with. A provider may echo a secret in any
//! form it received or stores it in: raw, percent-encoded, form-encoded, JSON- or XML-escaped,
//! with its control characters turned to spaces, or cut short. So every secret is scrubbed in
//! all those forms, and not only whole: any run of text sharing a piece of [`PIECE`] characters
//! with one of them is replaced. Provider text is scrubbed before anything else is done to it
//! ([`Scrubber::printable`]): made printable and cut only afterwards, so that no cut can leave
//! the start of a secret behind and no cleaning can hide one.
//!
//! The cost of this strictness: a message word that shares six characters with a secret (a
//! password that contains "expired") is redacted too. A message loses a word; a secret is never
//! shown.

use std::collections::HashSet;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::secret::REDACTED;

/// The length of the pieces of a secret that may not survive in a message.
pub const PIECE: usize = 6;

/// Secrets shorter than this are not scrubbed from messages: they would mangle ordinary words.
pub const MIN_SCRUB_LEN: usize = 4;

/// Percent-encoding as RFC 3986 leaves the unreserved characters: `-._~` and alphanumerics.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What to scrub from messages: every form of every secret a check handled.
#[derive(Default)]
pub struct Scrubber {
    /// Every [`PIECE`]-character window of every form of the secrets.
    pieces: HashSet<[char; PIECE]>,
    /// Forms shorter than a piece (secrets of 4 or 5 characters), replaced whole.
    short: Vec<Vec<char>>,
}

impl Scrubber {
    /// A scrubber of `secrets` (the values a check read or minted).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut scrubber = Self::default();
        for secret in secrets {
            scrubber.add(secret);
        }
        scrubber
    }

    fn add(&mut self, secret: &str) {
        if secret.chars().count() < MIN_SCRUB_LEN {
            return;
        }
        // A document of secrets (a JSON key file) is scrubbed whole: its secret fields are
        // remembered on their own, and its other fields (URLs, e-mail addresses) are no secret.
        let document = secret.trim_start().starts_with('{')
            && serde_json::from_str::<serde_json::Value>(secret).is_ok();
        for form in forms(secret) {
            let chars: Vec<char> = form.chars().collect();
            if chars.len() < MIN_SCRUB_LEN {
                continue;
            }
            if chars.len() < PIECE || document {
                if !self.short.contains(&chars) {
                    self.short.push(chars);
                }
                continue;
            }
            for window in chars.windows(PIECE) {
                self.pieces.insert(piece(window));
            }
        }
    }

    /// `text` with every stretch that shares a piece with a secret (or holds a short secret
    /// whole) replaced by `[redacted]`.
    pub fn scrub(&self, text: &str) -> String {
        if self.pieces.is_empty() && self.short.is_empty() {
            return text.to_string();
        }
        let chars: Vec<char> = text.chars().collect();
        let mut covered = vec![false; chars.len()];
        for (at, window) in chars.windows(PIECE).enumerate() {
            if self.pieces.contains(&piece(window)) {
                covered[at..at + PIECE].fill(true);
            }
        }
        for short in &self.short {
            let mut at = 0;
            while at + short.len() <= chars.len() {
                if chars[at..at + short.len()] == short[..] {
                    covered[at..at + short.len()].fill(true);
                    at += short.len();
                } else {
                    at += 1;
                }
            }
        }
        let mut out = String::with_capacity(text.len());
        let mut in_secret = false;
        for (c, covered) in chars.iter().zip(&covered) {
            match (covered, in_secret) {
                (true, false) => out.push_str(REDACTED),
                (true, true) => {}
                (false, _) => out.push(*c),
            }
            in_secret = *covered;
        }
        out
    }

    /// Provider text made safe for a one-line message: scrubbed first, then [`printable`].
    pub fn printable(&self, text: &str, max_chars: usize) -> String {
        printable(&self.scrub(text), max_chars)
    }
}

/// Text already scrubbed (see [`Scrubber::printable`]) made a one-line message: control
/// characters made spaces, then cut to `max_chars`, never inside a `[redacted]`.
pub fn printable(scrubbed: &str, max_chars: usize) -> String {
    let cleaned: String = scrubbed
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.chars().count() <= max_chars {
        return cleaned.to_string();
    }
    let mut cut: String = cleaned.chars().take(max_chars).collect();
    // A marker cut in two would read as text: keep it whole or not at all.
    if let Some(start) = cut.rfind('[')
        && REDACTED.starts_with(&cut[start..])
        && cut.len() - start < REDACTED.len()
    {
        cut.truncate(start);
    }
    format!("{}…", cut.trim_end())
}

/// Percent-encoded text with its escapes' hex digits in lower case (`%2f`), as some encoders
/// write them; the rest unchanged.
fn lowercase_escapes(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut hex_left = 0;
    for c in encoded.chars() {
        if hex_left > 0 {
            out.push(c.to_ascii_lowercase());
            hex_left -= 1;
        } else {
            if c == '%' {
                hex_left = 2;
            }
            out.push(c);
        }
    }
    out
}

/// A window of [`PIECE`] characters as a key.
fn piece(window: &[char]) -> [char; PIECE] {
    let mut piece = ['\0'; PIECE];
    piece.copy_from_slice(window);
    piece
}

/// The forms a provider may echo `secret` in.
fn forms(secret: &str) -> Vec<String> {
    // PEM armour ("-----BEGIN PRIVATE KEY-----") is no secret, and ordinary messages name it.
    let material = without_armour(secret).trim().to_string();
    let percent = utf8_percent_encode(&material, COMPONENT).to_string();
    let json = serde_json::to_string(&material).unwrap_or_default();
    let json = json
        .strip_prefix('"')
        .and_then(|j| j.strip_suffix('"'))
        .unwrap_or(&json)
        .to_string();
    let mut forms = vec![
        lowercase_escapes(&percent),
        utf8_percent_encode(&material, NON_ALPHANUMERIC).to_string(),
        url::form_urlencoded::byte_serialize(material.as_bytes()).collect(),
        json.replace('/', "\\/"),
        json_ascii(&json),
        json,
        material
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#39;"),
        material
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect(),
        material.chars().filter(|c| !c.is_control()).collect(),
        percent,
        material,
    ];
    forms.sort();
    forms.dedup();
    forms
}

/// `text` without PEM armour (`-----BEGIN ...-----`, `-----END ...-----`), wherever it is (a key
/// pasted on one line has it mid-line).
fn without_armour(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = ["-----BEGIN ", "-----END "]
        .iter()
        .filter_map(|marker| rest.find(marker))
        .min()
    {
        let after = &rest[start + 5..];
        let Some(end) = after.find("-----") else {
            break;
        };
        out.push_str(&rest[..start]);
        rest = &after[end + 5..];
    }
    out.push_str(rest);
    out
}

/// JSON text with every non-ASCII character as `\uXXXX` escapes, as some encoders write it.
fn json_ascii(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether any `PIECE`-character piece of `secret` is in `text`.
    fn leaks(text: &str, secret: &str) -> bool {
        let chars: Vec<char> = secret.chars().collect();
        chars
            .windows(PIECE)
            .any(|w| text.contains(&w.iter().collect::<String>()))
    }

    const PASSWORD: &str = "Sup3r!Secret\tPa55/wörd&<x>";

    #[test]
    fn every_form_and_piece_is_redacted() {
        let scrubber = Scrubber::new([PASSWORD]);
        let encoded: String = url::form_urlencoded::byte_serialize(PASSWORD.as_bytes()).collect();
        let percent = utf8_percent_encode(PASSWORD, NON_ALPHANUMERIC).to_string();
        let json = serde_json::to_string(PASSWORD).unwrap();
        for echo in [
            format!("password={encoded}&grant_type=password"),
            format!("{{\"password\":{json}}}"),
            format!("bad value {percent} given"),
            format!("wrong: {}", PASSWORD.replace('\t', " ")),
            format!("cut short: {}", &PASSWORD[..9]),
            format!(
                "<Message>{}</Message>",
                PASSWORD
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
            ),
            format!("as escaped: {}", json_ascii(&json)),
            PASSWORD.to_string(),
        ] {
            let scrubbed = scrubber.scrub(&echo);
            assert!(!leaks(&scrubbed, PASSWORD), "{echo:?} -> {scrubbed:?}");
            for form in forms(PASSWORD) {
                assert!(
                    !leaks(&scrubbed, &form),
                    "{echo:?} -> {scrubbed:?} ({form:?})"
                );
            }
            assert!(scrubbed.contains(REDACTED), "{scrubbed}");
        }
        assert_eq!(
            scrubber.scrub("a password=Sup3r!Se then more"),
            "a password=[redacted] then more"
        );
    }

    #[test]
    fn printable_scrubs_before_it_cuts() {
        let secret = "correct-horse-battery-staple";
        let scrubber = Scrubber::new([secret]);
        // The secret starts 190 characters in, past where a cut at 200 would fall.
        let text = format!("{}{secret} and so on", "x".repeat(190));
        let shown = scrubber.printable(&text, 200);
        assert!(!shown.contains("correct"), "{shown}");
        assert!(
            shown.ends_with("x…") || shown.ends_with("[redacted]…"),
            "{shown}"
        );
        // A tab inside the secret does not turn it into something else first.
        let tabbed = "abc\tdefghijk";
        let scrubber = Scrubber::new([tabbed]);
        let shown = scrubber.printable(&format!("said {tabbed}"), 200);
        assert_eq!(shown, "said [redacted]");
    }

    #[test]
    fn short_secrets_whole_documents_whole_and_pem_armour_kept() {
        let scrubber = Scrubber::new(["abcd", "ab"]);
        assert_eq!(scrubber.scrub("xabcdx ab"), "x[redacted]x ab");
        let document =
            r#"{"type": "service_account", "token_uri": "https://oauth2.googleapis.com/token"}"#;
        let scrubber = Scrubber::new([document]);
        assert_eq!(
            scrubber.scrub("POST https://oauth2.googleapis.com/token failed"),
            "POST https://oauth2.googleapis.com/token failed"
        );
        let key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n";
        let scrubber = Scrubber::new([key]);
        assert_eq!(
            scrubber.scrub("not a PEM PRIVATE KEY: MIIEvQIBADAN"),
            "not a PEM PRIVATE KEY: [redacted]"
        );
    }

    #[test]
    fn a_key_of_armour_alone_or_on_one_line_is_fine() {
        let one_line = "-----BEGIN PRIVATE KEY----- MIIEvQIBADANBgkq -----END PRIVATE KEY-----";
        assert_eq!(without_armour(one_line), " MIIEvQIBADANBgkq ");
        let scrubber = Scrubber::new([one_line, "-----BEGIN X-----\n-----END X-----"]);
        assert_eq!(scrubber.scrub("key MIIEvQIBADANBgkq"), "key [redacted]");
    }

    #[test]
    fn only_escapes_are_lowered() {
        assert_eq!(lowercase_escapes("AKIA%2FXY%C3%A9"), "AKIA%2fXY%c3%a9");
        // A key id in capitals does not redact the same word in lower case.
        let scrubber = Scrubber::new(["AKIADEMOCREDWATCH001"]);
        assert_eq!(scrubber.scrub("user/credwatch"), "user/credwatch");
    }

    #[test]
    fn no_secret_no_change() {
        assert_eq!(Scrubber::default().scrub("plain"), "plain");
        assert_eq!(Scrubber::default().printable("a\tb\n", 10), "a b");
        assert_eq!(Scrubber::default().printable("abcdefghijkl", 5), "abcde…");
    }
}
