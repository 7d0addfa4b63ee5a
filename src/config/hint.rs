//! "did you mean `compress`?": the one close candidate for a misspelt key or value.

/// The candidate closest to `input` when exactly one is close (a typo or two away, at most a
/// third of the word); `None` when none is, or when two are equally close.
pub(crate) fn did_you_mean<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let input = input.to_ascii_lowercase();
    let limit = (input.chars().count() / 3).max(1);
    let mut scored: Vec<(usize, &str)> = candidates
        .iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&input, &c.to_ascii_lowercase()),
                *c,
            )
        })
        .filter(|(d, _)| *d <= limit)
        .collect();
    scored.sort_by_key(|(d, _)| *d);
    match scored.as_slice() {
        [(_, only)] => Some(only),
        [(a, best), (b, _), ..] if a < b => Some(best),
        _ => None,
    }
}

/// The hint for a serde message `unknown field `compres`, expected one of `compress`, ...` (or
/// `unknown variant ...`): ` (did you mean `compress`?)`, or empty.
pub(crate) fn for_serde_message(message: &str) -> String {
    let input = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|marker| {
            let start = message.find(marker)? + marker.len();
            let end = message[start..].find('`')?;
            Some(&message[start..start + end])
        });
    let Some(input) = input else {
        return String::new();
    };
    let Some((_, expected)) = message.split_once("expected ") else {
        return String::new();
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    did_you_mean(input, &candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_close_candidate_is_suggested() {
        assert_eq!(
            for_serde_message(
                "unknown field `compres`, expected one of `compress`, `name`, `exec`"
            ),
            " (did you mean `compress`?)"
        );
        assert_eq!(
            for_serde_message("unknown variant `gzp`, expected one of `gzip`, `zstd`, `none`"),
            " (did you mean `gzip`?)"
        );
        assert_eq!(
            did_you_mean("dropbx", &["dropbox", "gdrive", "s3"]),
            Some("dropbox")
        );
        assert_eq!(did_you_mean("ftp", &["dropbox", "gdrive", "s3"]), None);
        // Two equally close: no guess.
        assert_eq!(did_you_mean("ab", &["aa", "bb"]), None);
        assert_eq!(
            for_serde_message("invalid type: integer, expected a string"),
            ""
        );
    }
}
