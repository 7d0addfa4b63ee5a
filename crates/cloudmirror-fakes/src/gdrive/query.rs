//! The subset of Drive's `q` search language the adapter uses, and the `fields` selector.

use serde_json::{Map, Value};

use super::state::File;

/// One condition of a `q` query; a query is a list of them joined by `and`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cond {
    InParents(String),
    Name(bool, String),
    MimeType(bool, String),
    Trashed(bool),
}

impl Cond {
    pub(crate) fn matches(&self, f: &File) -> bool {
        match self {
            Cond::InParents(id) => f.parents.iter().any(|p| p == id),
            Cond::Name(eq, n) => (f.name == *n) == *eq,
            Cond::MimeType(eq, m) => (f.mime_type == *m) == *eq,
            Cond::Trashed(t) => f.trashed == *t,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Str(String),
    Word(String),
    Eq,
    Ne,
}

fn tokenize(q: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut it = q.chars().peekable();
    while let Some(&c) = it.peek() {
        match c {
            ' ' | '\t' | '\n' => {
                it.next();
            }
            '\'' => {
                it.next();
                let mut s = String::new();
                loop {
                    match it.next() {
                        None => return Err("unterminated string literal".into()),
                        Some('\\') => match it.next() {
                            Some(e @ ('\\' | '\'')) => s.push(e),
                            _ => return Err("invalid escape in string literal".into()),
                        },
                        Some('\'') => break,
                        Some(ch) => s.push(ch),
                    }
                }
                out.push(Tok::Str(s));
            }
            '=' => {
                it.next();
                out.push(Tok::Eq);
            }
            '!' => {
                it.next();
                if it.next() != Some('=') {
                    return Err("expected '!='".into());
                }
                out.push(Tok::Ne);
            }
            c if c.is_ascii_alphanumeric() => {
                let mut w = String::new();
                while let Some(&ch) = it.peek() {
                    if ch.is_ascii_alphanumeric() || ch == '_' {
                        w.push(ch);
                        it.next();
                    } else {
                        break;
                    }
                }
                out.push(Tok::Word(w));
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(out)
}

/// Parses `a and b and c` where each term is one of the supported conditions.
pub(crate) fn parse(q: &str) -> Result<Vec<Cond>, String> {
    let toks = tokenize(q)?;
    let mut conds = Vec::new();
    let mut i = 0;
    loop {
        let term = toks.get(i..i + 3).ok_or("incomplete term")?;
        let cond = match term {
            [Tok::Str(id), Tok::Word(w), Tok::Word(p)] if w == "in" && p == "parents" => {
                Cond::InParents(id.clone())
            }
            [Tok::Word(f), op @ (Tok::Eq | Tok::Ne), Tok::Str(v)] if f == "name" => {
                Cond::Name(*op == Tok::Eq, v.clone())
            }
            [Tok::Word(f), op @ (Tok::Eq | Tok::Ne), Tok::Str(v)] if f == "mimeType" => {
                Cond::MimeType(*op == Tok::Eq, v.clone())
            }
            [Tok::Word(f), Tok::Eq, Tok::Word(b)] if f == "trashed" => match b.as_str() {
                "true" => Cond::Trashed(true),
                "false" => Cond::Trashed(false),
                _ => return Err("trashed must be compared with true or false".into()),
            },
            _ => return Err(format!("unsupported term {term:?}")),
        };
        conds.push(cond);
        i += 3;
        match toks.get(i) {
            None => return Ok(conds),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("and") => i += 1,
            Some(t) => return Err(format!("expected 'and', got {t:?}")),
        }
    }
}

/// Keeps only the selected top-level fields of a resource (`*` or `None` with `default`).
pub(crate) fn select(
    resource: &Map<String, Value>,
    fields: Option<&str>,
    default: &[&str],
) -> Map<String, Value> {
    let wanted: Vec<String> = match fields {
        None => default.iter().map(|s| (*s).to_owned()).collect(),
        Some(f) => split_top(f),
    };
    if wanted.iter().any(|w| w == "*") {
        return resource.clone();
    }
    resource
        .iter()
        .filter(|(k, _)| wanted.iter().any(|w| w == *k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// For `files.list`: the per-file selector inside `files(...)`, and whether `nextPageToken` is wanted.
pub(crate) fn list_fields(fields: Option<&str>) -> (Option<String>, bool) {
    let Some(f) = fields else {
        return (None, true);
    };
    let mut inner = None;
    let mut next = false;
    for part in split_top(f) {
        if part == "*" {
            return (Some("*".into()), true);
        }
        if part == "nextPageToken" {
            next = true;
        } else if let Some(rest) = part.strip_prefix("files(") {
            inner = Some(rest.trim_end_matches(')').to_owned());
        } else if part == "files" {
            inner = Some("*".into());
        }
    }
    (Some(inner.unwrap_or_default()), next)
}

/// Splits a fields selector at top-level commas (not inside parentheses).
fn split_top(f: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0u32;
    let mut cur = String::new();
    for c in f.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth = depth.saturating_sub(1);
                cur.push(c);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur).trim().to_owned()),
            c => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_adapter_subset_with_escapes() {
        let q = r"'abc' in parents and name = 'it\'s a \\ test' and trashed = false and mimeType != 'application/vnd.google-apps.folder'";
        assert_eq!(
            parse(q).unwrap(),
            vec![
                Cond::InParents("abc".into()),
                Cond::Name(true, r"it's a \ test".into()),
                Cond::Trashed(false),
                Cond::MimeType(false, "application/vnd.google-apps.folder".into()),
            ]
        );
        assert!(parse("name contains 'x'").is_err());
        assert!(parse("name = 'x' or name = 'y'").is_err());
        assert!(parse(r"name = 'bad\q'").is_err());
        assert!(parse("name = 'unterminated").is_err());
    }

    #[test]
    fn fields_selectors() {
        assert_eq!(
            list_fields(Some("nextPageToken,files(id,name)")),
            (Some("id,name".into()), true)
        );
        assert_eq!(split_top("a,files(b,c),d"), ["a", "files(b,c)", "d"]);
    }
}
