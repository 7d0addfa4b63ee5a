//! `${VAR}` expansion, applied to every string of the parsed TOML (`$${` writes a literal `${`).

use super::source::{path_string, Seg, SourceIndex};
use crate::Error;

/// Replaces `${NAME}` in every string with the variable's value; a missing variable is an error
/// naming it and the field. `$${` writes a literal `${`.
pub(super) fn substitute_env(
    value: &mut toml::Value,
    path: &mut Vec<Seg>,
    env: &dyn Fn(&str) -> Option<String>,
    source: &SourceIndex,
) -> Result<(), Error> {
    match value {
        toml::Value::String(s) if s.contains('$') => {
            *s = expand(s, env).map_err(|var| {
                source.error(
                    path,
                    &format!(
                        "{}: environment variable {var} is not set",
                        path_string(path)
                    ),
                )
            })?;
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(Seg::Index(i));
                substitute_env(item, path, env, source)?;
                path.pop();
            }
        }
        toml::Value::Table(t) => {
            for (k, item) in t.iter_mut() {
                path.push(Seg::Key(k.clone()));
                substitute_env(item, path, env, source)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

/// Expands `${NAME}`; returns the first missing variable's name as the error.
pub(crate) fn expand(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(lit) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = lit;
        } else if let Some(body) = after.strip_prefix("${") {
            let Some(end) = body.find('}') else {
                out.push_str(after);
                rest = "";
                break;
            };
            let name = &body[..end];
            let value = env(name).ok_or_else(|| name.to_owned())?;
            out.push_str(&value);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}
