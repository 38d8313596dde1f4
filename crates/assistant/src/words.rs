//! The words of a message: each word's original text (titles keep the user's spelling) and a
//! normalised form for matching (lowercase, straight apostrophes, no surrounding punctuation).

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    pub raw: String,
    pub norm: String,
}

/// The normalised form of a quoted phrase: no matcher matches it, so it stays whole (a title).
pub(crate) const QUOTED: &str = "\u{1}quoted";

/// Split on whitespace; a phrase in double quotes ("…" or “…”) is one word whose `raw` is the
/// phrase without its quotes.
pub(crate) fn split(text: &str) -> Vec<Word> {
    let mut words = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        if let Some(open) = rest.chars().next().filter(|c| *c == '"' || *c == '“') {
            let inner = &rest[open.len_utf8()..];
            if let Some(end) = inner.find(['"', '”']) {
                let phrase = inner[..end].trim();
                if !phrase.is_empty() {
                    words.push(Word {
                        raw: phrase.to_owned(),
                        norm: QUOTED.to_owned(),
                    });
                }
                let close = inner[end..].chars().next().map_or(0, char::len_utf8);
                rest = inner[end + close..].trim_start();
                continue;
            }
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let raw = &rest[..end];
        let norm = normalise(raw);
        if !norm.is_empty() {
            words.push(Word {
                raw: raw.to_owned(),
                norm,
            });
        }
        rest = rest[end..].trim_start();
    }
    words
}

fn normalise(raw: &str) -> String {
    let lower = raw.to_lowercase().replace(['’', '‘'], "'");
    let trimmed = lower
        .trim_start_matches(|c: char| "\"“”'(".contains(c))
        .trim_end_matches(|c: char| ",.;:?\"“”')".contains(c));
    // "every!" keeps its mark (repeat from completion); elsewhere "!" is emphasis.
    let bare = trimmed.trim_end_matches('!');
    if (bare == "every" || bare == "each") && trimmed.ends_with('!') {
        return format!("{bare}!");
    }
    if bare.is_empty() {
        return String::new();
    }
    bare.to_owned()
}

/// A small cardinal: digits or an English number word.
pub(crate) fn number(word: &str) -> Option<u32> {
    if !word.is_empty() && word.len() <= 6 && word.bytes().all(|b| b.is_ascii_digit()) {
        return word.parse().ok();
    }
    let n = match word {
        "one" => 1,
        "two" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        "ten" => 10,
        "eleven" => 11,
        "twelve" => 12,
        "fifteen" => 15,
        "twenty" => 20,
        "thirty" => 30,
        "forty" => 40,
        "forty-five" => 45,
        "sixty" => 60,
        "ninety" => 90,
        _ => return None,
    };
    Some(n)
}

/// An ordinal such as `1st`, `22nd` or `third` (1–31).
pub(crate) fn ordinal(word: &str) -> Option<u32> {
    let words = [
        "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
        "tenth",
    ];
    if let Some(index) = words.iter().position(|w| *w == word) {
        return Some(index as u32 + 1);
    }
    let digits = word
        .strip_suffix("st")
        .or_else(|| word.strip_suffix("nd"))
        .or_else(|| word.strip_suffix("rd"))
        .or_else(|| word.strip_suffix("th"))?;
    let n: u32 = digits.parse().ok()?;
    let suffix_fits = match (n % 100, n % 10) {
        (11..=13, _) => word.ends_with("th"),
        (_, 1) => word.ends_with("st"),
        (_, 2) => word.ends_with("nd"),
        (_, 3) => word.ends_with("rd"),
        _ => word.ends_with("th"),
    };
    (suffix_fits && (1..=31).contains(&n)).then_some(n)
}

/// Does `words` (normalised) start with the phrase `phrase` (space-separated)?
pub(crate) fn starts_with(words: &[Word], phrase: &str) -> bool {
    let parts: Vec<&str> = phrase.split(' ').collect();
    words.len() >= parts.len() && parts.iter().zip(words).all(|(p, w)| *p == w.norm)
}

/// The normalised words joined by spaces.
pub(crate) fn norm_text(words: &[Word]) -> String {
    words
        .iter()
        .map(|w| w.norm.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The original words joined by spaces, without trailing punctuation.
pub(crate) fn raw_text(words: &[Word]) -> String {
    let joined = words
        .iter()
        .map(|w| w.raw.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    joined
        .trim_matches(|c: char| c.is_whitespace() || ",.;:!?\"“”'-—–".contains(c))
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_their_spelling_and_match_normalised() {
        let words = split("What’s due TODAY? every! urgent!! “Pay rent” at 5pm, (ok)");
        let norms: Vec<&str> = words.iter().map(|w| w.norm.as_str()).collect();
        assert_eq!(
            norms,
            [
                "what's", "due", "today", "every!", "urgent", QUOTED, "at", "5pm", "ok"
            ]
        );
        assert_eq!(words[0].raw, "What’s");
        assert_eq!(words[5].raw, "Pay rent");
    }

    #[test]
    fn numbers_and_ordinals_parse_digits_and_words() {
        assert_eq!(number("12"), Some(12));
        assert_eq!(number("three"), Some(3));
        assert_eq!(number("x"), None);
        assert_eq!(ordinal("1st"), Some(1));
        assert_eq!(ordinal("22nd"), Some(22));
        assert_eq!(ordinal("11th"), Some(11));
        assert_eq!(ordinal("third"), Some(3));
        assert_eq!(ordinal("11st"), None);
        assert_eq!(ordinal("32nd"), None);
        assert_eq!(ordinal("north"), None);
    }
}
