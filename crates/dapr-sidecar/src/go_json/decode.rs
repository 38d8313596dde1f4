//! Reading request bodies as Go's `encoding/json` reads them into daprd's structs.
//!
//! Go's decoder, unlike serde's derive, matches an object key to a struct field by the field's
//! JSON name exactly or, failing that, case-insensitively (`entryID` fills `EntryID
//! json:"entryId"`); ignores keys no field has; lets a later duplicate key overwrite an earlier
//! one (merging into a struct or map already decoded, as Go decodes into the existing value);
//! and reads `null` as "leave as is" for strings, numbers, booleans and structs, and as `nil`
//! for interfaces, maps, slices and pointers. `mapstructure.Decode`, which daprd uses on a
//! transaction operation's `request`, matches names the same way.
//!
//! [`decode`] reads the first JSON value of a body (as `json.NewDecoder(body).Decode` does),
//! keeping every key in order, rewrites it along a [`GoType`] that mirrors the Go struct into a
//! `serde_json::Value` with canonical field names, and hands that to serde. The Rust structs use
//! the Go JSON names as their field names. Where a struct has an `interface{}` field that can be
//! large (a state value, a transaction operation's `request`), the caller takes the tree
//! ([`decode_tree`]) and moves that field out ([`split_field`]) instead: serde would copy it
//! node by node into a `Value` field, and that copy was the largest part of a transaction's cost
//! in the sidecar.
//!
//! Used for: state save, bulk get and transaction bodies (`state::api`), bulk publish entries
//! (`pubsub::api`), an app's `GET /dapr/subscribe` answer and its delivery reply
//! (`pubsub::subscriptions`, `pubsub::delivery`). Not used where daprd decodes no struct: a
//! publish body is the event's data (an app's own CloudEvent is read into a map, where keys are
//! exact and the last duplicate wins, as with `serde_json::Value`), an invocation body is
//! forwarded untouched. A job body is protojson, not encoding/json (`jobs::api`).

use serde::de::{DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The shape of a Go type, as far as decoding JSON into it depends on it.
#[derive(Debug)]
pub(crate) enum GoType {
    String,
    /// Any Go number type (named for messages, e.g. `int`).
    Number(&'static str),
    Bool,
    /// `interface{}` / `any`: any JSON value.
    Any,
    /// A struct: its Go name and its fields as `(json name, type)`, in declaration order.
    Struct(&'static str, &'static [(&'static str, GoType)]),
    /// `map[string]T`.
    Map(&'static GoType),
    /// `[]T`.
    Slice(&'static GoType),
    /// `*T`.
    Ptr(&'static GoType),
}

/// A JSON value with every object key kept, in document order (duplicates included).
#[derive(Debug, Clone)]
enum Raw {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Raw>),
    Object(Vec<(String, Raw)>),
}

impl<'de> serde::Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RawVisitor;
        impl<'de> Visitor<'de> for RawVisitor {
            type Value = Raw;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_none<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
                serde::Deserialize::deserialize(d)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Raw, E> {
                Ok(Raw::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Raw, E> {
                Ok(Raw::Number(n.into()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Raw, E> {
                Ok(Raw::Number(n.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Raw, E> {
                Number::from_f64(n)
                    .map(Raw::Number)
                    .ok_or_else(|| E::custom("number out of range"))
            }
            fn visit_str<E>(self, s: &str) -> Result<Raw, E> {
                Ok(Raw::String(s.to_owned()))
            }
            fn visit_string<E>(self, s: String) -> Result<Raw, E> {
                Ok(Raw::String(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Raw::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Raw>()? {
                    entries.push(entry);
                }
                Ok(Raw::Object(entries))
            }
        }
        deserializer.deserialize_any(RawVisitor)
    }
}

impl Raw {
    /// Go's name of the JSON kind, as in `cannot unmarshal string into …`.
    fn kind(&self) -> &'static str {
        match self {
            Raw::Null => "null",
            Raw::Bool(_) => "bool",
            Raw::Number(_) => "number",
            Raw::String(_) => "string",
            Raw::Array(_) => "array",
            Raw::Object(_) => "object",
        }
    }

    /// As Go decodes into `interface{}`: a later duplicate key wins.
    fn into_value(self) -> Value {
        match self {
            Raw::Null => Value::Null,
            Raw::Bool(b) => Value::Bool(b),
            Raw::Number(n) => Value::Number(n),
            Raw::String(s) => Value::String(s),
            Raw::Array(items) => Value::Array(items.into_iter().map(Raw::into_value).collect()),
            Raw::Object(entries) => Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, v.into_value()))
                    .collect(),
            ),
        }
    }

    fn from_value(value: Value) -> Raw {
        match value {
            Value::Null => Raw::Null,
            Value::Bool(b) => Raw::Bool(b),
            Value::Number(n) => Raw::Number(n),
            Value::String(s) => Raw::String(s),
            Value::Array(items) => Raw::Array(items.into_iter().map(Raw::from_value).collect()),
            Value::Object(map) => Raw::Object(
                map.into_iter()
                    .map(|(k, v)| (k, Raw::from_value(v)))
                    .collect(),
            ),
        }
    }
}

impl GoType {
    fn go_name(&self) -> String {
        match self {
            GoType::String => "string".into(),
            GoType::Number(name) => (*name).into(),
            GoType::Bool => "bool".into(),
            GoType::Any => "interface {}".into(),
            GoType::Struct(name, _) => (*name).into(),
            GoType::Map(elem) => format!("map[string]{}", elem.go_name()),
            GoType::Slice(elem) => format!("[]{}", elem.go_name()),
            GoType::Ptr(elem) => format!("*{}", elem.go_name()),
        }
    }

    /// The Go zero value a map element starts from.
    fn zero(&self) -> Value {
        match self {
            GoType::String => Value::String(String::new()),
            GoType::Number(_) => Value::Number(0.into()),
            GoType::Bool => Value::Bool(false),
            GoType::Struct(..) => Value::Object(Map::new()),
            GoType::Any | GoType::Map(_) | GoType::Slice(_) | GoType::Ptr(_) => Value::Null,
        }
    }
}

/// Go's `bytes.EqualFold` on field names: Unicode simple case folding, where the Kelvin sign
/// folds to `k` and the long s to `s`.
pub(crate) fn equal_fold(a: &str, b: &str) -> bool {
    fn fold(c: char) -> char {
        match c {
            '\u{212A}' => 'k',
            '\u{17F}' => 's',
            c if c.is_ascii() => c.to_ascii_lowercase(),
            c => {
                let mut lower = c.to_lowercase();
                match (lower.next(), lower.next()) {
                    (Some(l), None) => l,
                    _ => c,
                }
            }
        }
    }
    a.chars().count() == b.chars().count()
        && a.chars().zip(b.chars()).all(|(x, y)| fold(x) == fold(y))
}

/// The field an object key fills: the exact JSON name first, else the first field (in
/// declaration order) whose name matches case-insensitively.
fn field_for<'a>(
    fields: &'a [(&'static str, GoType)],
    key: &str,
) -> Option<&'a (&'static str, GoType)> {
    fields
        .iter()
        .find(|(name, _)| *name == key)
        .or_else(|| fields.iter().find(|(name, _)| equal_fold(name, key)))
}

/// Decodes `raw` into the Go value `current` (`None` = its zero value / nil) of type `ty`, as Go
/// does: the result is the new value (`None` = zero / nil).
fn assign(
    ty: &GoType,
    raw: Raw,
    current: Option<Value>,
    path: &str,
) -> Result<Option<Value>, String> {
    let mismatch = |raw: &Raw| {
        let at = if path.is_empty() {
            "Go value".to_owned()
        } else {
            format!("Go struct field {path}")
        };
        Err(format!(
            "json: cannot unmarshal {} into {at} of type {}",
            raw.kind(),
            ty.go_name()
        ))
    };
    if let Raw::Null = raw {
        return Ok(match ty {
            GoType::String | GoType::Number(_) | GoType::Bool | GoType::Struct(..) => current,
            GoType::Any | GoType::Map(_) | GoType::Slice(_) | GoType::Ptr(_) => None,
        });
    }
    match (ty, raw) {
        (GoType::String, Raw::String(s)) => Ok(Some(Value::String(s))),
        (GoType::Number(_), Raw::Number(n)) => Ok(Some(Value::Number(n))),
        (GoType::Bool, Raw::Bool(b)) => Ok(Some(Value::Bool(b))),
        (GoType::Any, raw) => Ok(Some(raw.into_value())),
        (GoType::Ptr(inner), raw) => assign(inner, raw, current, path),
        (GoType::Struct(name, fields), Raw::Object(entries)) => {
            let mut object = match current {
                Some(Value::Object(object)) => object,
                _ => Map::new(),
            };
            for (key, value) in entries {
                let Some((field, field_type)) = field_for(fields, &key) else {
                    continue;
                };
                let field_path = if path.is_empty() {
                    format!("{name}.{field}")
                } else {
                    format!("{path}.{field}")
                };
                let previous = object.remove(*field);
                if let Some(value) = assign(field_type, value, previous, &field_path)? {
                    object.insert((*field).to_owned(), value);
                }
            }
            Ok(Some(Value::Object(object)))
        }
        (GoType::Map(elem), Raw::Object(entries)) => {
            let mut object = match current {
                Some(Value::Object(object)) => object,
                _ => Map::new(),
            };
            for (key, value) in entries {
                let value = assign(elem, value, None, path)?.unwrap_or_else(|| elem.zero());
                object.insert(key, value);
            }
            Ok(Some(Value::Object(object)))
        }
        (GoType::Slice(elem), Raw::Array(items)) => {
            // Go decodes element i into the existing element i, then cuts the slice.
            let mut previous = match current {
                Some(Value::Array(previous)) => previous.into_iter().map(Some).collect(),
                _ => Vec::new(),
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let existing = previous.get_mut(i).and_then(Option::take);
                out.push(assign(elem, item, existing, path)?.unwrap_or_else(|| elem.zero()));
            }
            Ok(Some(Value::Array(out)))
        }
        (_, raw) => mismatch(&raw),
    }
}

/// Decodes the first JSON value of `body` (trailing bytes ignored; an empty body is `EOF`) into
/// `T` by Go's rules for the Go type `ty`; `T`'s field names are the Go JSON names.
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8], ty: &GoType) -> Result<T, String> {
    from_tree(decode_tree(body, ty)?)
}

/// [`decode`] for a value already parsed (e.g. a transaction operation's `request`, which daprd
/// first decodes into `interface{}` and then into its struct with `mapstructure`).
pub(crate) fn decode_value<T: DeserializeOwned>(value: Value, ty: &GoType) -> Result<T, String> {
    from_tree(decode_value_tree(value, ty)?)
}

/// The Go value of `body` for `ty` as a tree with canonical field names (what [`decode`] hands
/// to serde; `Null` for a zero value), for a caller that moves parts of it out itself with
/// [`split_field`].
pub(crate) fn decode_tree(body: &[u8], ty: &GoType) -> Result<Value, String> {
    let raw = match serde_json::Deserializer::from_slice(body)
        .into_iter::<Raw>()
        .next()
    {
        Some(result) => result.map_err(|e| e.to_string())?,
        None => return Err("EOF".to_owned()),
    };
    Ok(assign(ty, raw, None, "")?.unwrap_or(Value::Null))
}

/// [`decode_tree`] for a value already parsed.
pub(crate) fn decode_value_tree(value: Value, ty: &GoType) -> Result<Value, String> {
    Ok(assign(ty, Raw::from_value(value), None, "")?.unwrap_or(Value::Null))
}

/// A struct's tree (from [`decode_tree`]) as `T`, with its field `name` taken out first and
/// returned apart (`None`: absent or nil). For an `interface{}` field: moved out, its value is
/// not copied node by node, as deserializing it into a `Value` field of `T` would (a state
/// value or a transaction's `request` can be tens of KB).
pub(crate) fn split_field<T: DeserializeOwned>(
    tree: Value,
    name: &str,
) -> Result<(T, Option<Value>), String> {
    let (rest, taken) = match tree {
        Value::Object(mut fields) => {
            let taken = fields.remove(name);
            (Value::Object(fields), taken)
        }
        other => (other, None),
    };
    Ok((from_tree(rest)?, taken))
}

/// A decoded tree as the Rust struct mirroring its Go type.
fn from_tree<T: DeserializeOwned>(tree: Value) -> Result<T, String> {
    serde_json::from_value(tree).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const INNER: GoType = GoType::Struct("Inner", &[("a", GoType::String), ("b", GoType::String)]);
    const OUTER: GoType = GoType::Struct(
        "Outer",
        &[
            ("name", GoType::String),
            ("Name", GoType::String),
            ("count", GoType::Number("int")),
            ("inner", INNER),
            ("tags", GoType::Map(&GoType::String)),
            ("any", GoType::Any),
            ("list", GoType::Slice(&GoType::String)),
        ],
    );

    fn go(body: &str) -> Result<Value, String> {
        decode::<Value>(body.as_bytes(), &OUTER)
    }

    #[test]
    fn exact_names_first_then_case_insensitive_unknown_ignored() {
        assert_eq!(
            go(r#"{"COUNT": 1, "name": "x", "NAME": "y", "other": true}"#),
            // "NAME" has no exact match, and "name" is the first field that folds to it.
            Ok(json!({"count": 1, "name": "y"}))
        );
        assert_eq!(go(r#"{"Name": "z"}"#), Ok(json!({"Name": "z"})));
        assert_eq!(
            go(r#"{"TAG\u017F": {"x": "1"}}"#),
            Ok(json!({"tags": {"x": "1"}})),
            "long s folds to s, as in Go"
        );
    }

    #[test]
    fn last_duplicate_wins_and_structs_and_maps_merge() {
        assert_eq!(
            go(
                r#"{"count": 1, "count": 2, "inner": {"a": "1"}, "Inner": {"b": "2"},
                   "tags": {"x": "1"}, "tags": {"y": "2"}, "any": {"k": 1}, "any": {"j": 2}}"#
            ),
            Ok(json!({"count": 2, "inner": {"a": "1", "b": "2"},
                      "tags": {"x": "1", "y": "2"}, "any": {"j": 2}}))
        );
    }

    #[test]
    fn null_keeps_scalars_and_structs_and_clears_the_rest() {
        assert_eq!(
            go(
                r#"{"name": "x", "name": null, "inner": {"a": "1"}, "inner": null,
                   "tags": {"x": "1"}, "tags": null, "list": ["a"], "list": null, "any": null}"#
            ),
            Ok(json!({"name": "x", "inner": {"a": "1"}}))
        );
        assert_eq!(
            go(r#"{"tags": {"x": null}}"#),
            Ok(json!({"tags": {"x": ""}}))
        );
        assert_eq!(go("null"), Ok(Value::Null));
    }

    #[test]
    fn type_mismatches_name_the_struct_field_like_go() {
        assert_eq!(
            go(r#"{"inner": {"a": 1}}"#),
            Err(
                "json: cannot unmarshal number into Go struct field Outer.inner.a of type string"
                    .into()
            )
        );
        assert_eq!(
            decode::<Value>(b"{}", &GoType::Slice(&OUTER)),
            Err("json: cannot unmarshal object into Go value of type []Outer".into())
        );
        assert_eq!(decode::<Value>(b"", &OUTER), Err("EOF".into()));
    }
}
