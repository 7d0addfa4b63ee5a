//! Durations in the config file: `"30m"`, `"90s"`, `"1h30m"`, `"2d"` or a number of seconds.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Parses `"1h30m"`-style text (units `d`, `h`, `m`, `s`, `ms`; a bare number is seconds). Zero
/// and negative durations are refused.
pub fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let expected =
        || format!("expected a duration such as \"30m\", \"90s\" or \"1h30m\" (got {t:?})");
    if t.is_empty() {
        return Err(expected());
    }
    if let Ok(secs) = t.parse::<u64>() {
        return positive(Duration::from_secs(secs), t);
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(expected());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| expected())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let step = match rest[..unit_len].trim() {
            "d" => Duration::from_secs(n.saturating_mul(86_400)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            "m" | "min" => Duration::from_secs(n.saturating_mul(60)),
            "s" => Duration::from_secs(n),
            "ms" => Duration::from_millis(n),
            _ => return Err(expected()),
        };
        total = total.saturating_add(step);
        rest = &rest[unit_len..];
    }
    positive(total, t)
}

fn positive(d: Duration, t: &str) -> Result<Duration, String> {
    if d.is_zero() {
        Err(format!("must be greater than zero (got {t:?})"))
    } else {
        Ok(d)
    }
}

/// Deserializes an optional duration written as text or as a number of seconds.
pub(crate) fn deserialize_option<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(
        untagged,
        expecting = "a duration such as \"30m\" or a number of seconds"
    )]
    enum Raw {
        Secs(i64),
        Text(String),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Secs(n)) if n > 0 => Ok(Some(Duration::from_secs(n.unsigned_abs()))),
        Some(Raw::Secs(n)) => Err(serde::de::Error::custom(format!(
            "must be greater than zero (got {n})"
        ))),
        Some(Raw::Text(s)) => parse(&s).map(Some).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_refuses_zero() {
        assert_eq!(parse("30m").unwrap(), Duration::from_mins(30));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_mins(90));
        assert_eq!(parse("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("2d").unwrap(), Duration::from_hours(48));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse(" 5 s ").unwrap(), Duration::from_secs(5));
        for bad in ["", "0", "0s", "m", "5x", "-5m", "1.5h", "h5"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
