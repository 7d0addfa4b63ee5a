//! Where a config error is: the file, the line of a field (found through `toml_edit` spans) and
//! the field's path, with values that could be secrets dropped from serde's messages.

use serde::de::DeserializeOwned;

use super::ConfigOrigin;
use crate::Error;

/// One step of a path into the TOML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
    /// An index into an array of named tables, shown with the name: `jobs[2] (staging-db)`.
    Named(usize, String),
}

pub(super) fn with(at: &[Seg], key: &str) -> Vec<Seg> {
    let mut v = at.to_vec();
    v.push(Seg::Key(key.into()));
    v
}

pub(super) fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => {
                s.push('[');
                s.push_str(&i.to_string());
                s.push(']');
            }
            Seg::Named(i, name) => {
                s.push('[');
                s.push_str(&i.to_string());
                s.push_str("] (");
                s.push_str(name);
                s.push(')');
            }
        }
    }
    s
}

/// The original text, kept to turn a field path into a line number.
#[derive(Debug, Clone)]
pub(super) struct SourceIndex {
    file: String,
    doc: Option<toml_edit::ImDocument<String>>,
    text: String,
}

impl SourceIndex {
    pub(super) fn new(text: &str, origin: &ConfigOrigin) -> Result<Self, Error> {
        let file = origin.to_string();
        let doc = text.parse::<toml_edit::ImDocument<String>>().map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            let msg = e.message().trim().to_owned();
            match line {
                Some(l) => Error::Config(format!("{file}:{l}: invalid TOML: {msg}")),
                None => Error::Config(format!("{file}: invalid TOML: {msg}")),
            }
        })?;
        Ok(Self {
            file,
            doc: Some(doc),
            text: text.to_owned(),
        })
    }

    fn line(&self, path: &[Seg]) -> Option<usize> {
        enum Node<'a> {
            Table(&'a toml_edit::Table),
            Inline(&'a toml_edit::InlineTable),
            Tables(&'a toml_edit::ArrayOfTables),
            Array(&'a toml_edit::Array),
            Leaf,
        }
        fn of_item(item: &toml_edit::Item) -> Node<'_> {
            match item {
                toml_edit::Item::Table(t) => Node::Table(t),
                toml_edit::Item::ArrayOfTables(a) => Node::Tables(a),
                toml_edit::Item::Value(v) => of_value(v),
                toml_edit::Item::None => Node::Leaf,
            }
        }
        fn of_value(value: &toml_edit::Value) -> Node<'_> {
            match value {
                toml_edit::Value::InlineTable(t) => Node::Inline(t),
                toml_edit::Value::Array(a) => Node::Array(a),
                _ => Node::Leaf,
            }
        }
        let doc = self.doc.as_ref()?;
        let mut node = Node::Table(doc.as_table());
        let mut best = None;
        for seg in path {
            node = match (seg, node) {
                (Seg::Key(k), Node::Table(t)) => {
                    best = t
                        .key(k)
                        .and_then(toml_edit::Key::span)
                        .map(|s| s.start)
                        .or(best);
                    match t.get(k) {
                        Some(item) => of_item(item),
                        None => break,
                    }
                }
                (Seg::Key(k), Node::Inline(t)) => {
                    best = t
                        .key(k)
                        .and_then(toml_edit::Key::span)
                        .map(|s| s.start)
                        .or(best);
                    match t.get(k) {
                        Some(v) => of_value(v),
                        None => break,
                    }
                }
                (Seg::Index(i) | Seg::Named(i, _), Node::Tables(a)) => match a.get(*i) {
                    Some(t) => {
                        best = t.span().map(|s| s.start).or(best);
                        Node::Table(t)
                    }
                    None => break,
                },
                (Seg::Index(i), Node::Array(a)) => match a.get(*i) {
                    Some(v) => {
                        best = v.span().map(|s| s.start).or(best);
                        of_value(v)
                    }
                    None => break,
                },
                _ => break,
            };
        }
        best.map(|offset| line_of(&self.text, offset))
    }

    pub(super) fn error(&self, path: &[Seg], message: &str) -> Error {
        let field = path_string(path);
        match (self.line(path), field.is_empty()) {
            (Some(l), _) => Error::Config(format!("{}:{l}: {message}", self.file)),
            (None, false) => Error::Config(format!("{}: {field}: {message}", self.file)),
            (None, true) => Error::Config(format!("{}: {message}", self.file)),
        }
    }

    pub(super) fn deserialize<T: DeserializeOwned>(
        &self,
        value: toml::Value,
        at: &[Seg],
    ) -> Result<T, Error> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let mut path = at.to_vec();
            for seg in e.path() {
                match seg {
                    serde_path_to_error::Segment::Map { key } => path.push(Seg::Key(key.clone())),
                    serde_path_to_error::Segment::Seq { index } => path.push(Seg::Index(*index)),
                    _ => {}
                }
            }
            let raw = e.inner().to_string();
            let message = format!(
                "{}{}",
                redact_value(&raw),
                super::hint::for_serde_message(&raw)
            );
            if let Some(unknown) = backticked_after(&message, "unknown field `") {
                // Some deserializers already put the unknown key at the end of the path.
                let unknown = Seg::Key(unknown);
                if path.last() != Some(&unknown) {
                    path.push(unknown);
                }
            }
            let field = path_string(&path);
            self.error(&path, &format!("{field}: {message}"))
        })
    }
}

/// Drops echoed values from serde messages (`invalid type: string "...", expected ...`), which
/// could be secrets: the message keeps the type and what was expected.
fn redact_value(message: &str) -> String {
    // `unknown variant `<value>`, expected one of ...`: the value may come from `${VAR}`.
    const VARIANT: &str = "unknown variant `";
    const MARKER: &str = "string \"";
    if let Some(start) = message.find(VARIANT) {
        let value_start = start + VARIANT.len();
        if let Some(end) = message[value_start..].find("`, expected") {
            return format!(
                "{}unknown value{}",
                &message[..start],
                &message[value_start + end + 1..]
            );
        }
    }
    if let Some(start) = message.find(MARKER) {
        let value_start = start + MARKER.len();
        if let Some(end) = message[value_start..].find("\", expected") {
            return format!(
                "{}string{}",
                &message[..start],
                &message[value_start + end + 1..]
            );
        }
    }
    message.to_owned()
}

fn backticked_after(message: &str, marker: &str) -> Option<String> {
    let start = message.find(marker)? + marker.len();
    let end = message[start..].find('`')?;
    Some(message[start..start + end].to_owned())
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}
