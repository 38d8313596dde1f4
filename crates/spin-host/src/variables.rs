//! `fermyon:spin/variables@2.0.0`: a component's resolved Spin variables.

use std::collections::HashMap;
use std::sync::Arc;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "fermyon:spin/spin-host-imports",
    });
}

pub use bindings::fermyon::spin::variables::Error as VariableError;
use bindings::fermyon::spin::variables::{self, Host};

/// Per-store view of one component's variables (shared, read-only).
pub(crate) struct Variables {
    pub(crate) values: Arc<HashMap<String, String>>,
}

impl Host for Variables {
    fn get(&mut self, name: String) -> Result<String, VariableError> {
        lookup(&self.values, &name)
    }
}

/// Resolve `name` as Spin does: invalid names are rejected before the lookup.
pub fn lookup(values: &HashMap<String, String>, name: &str) -> Result<String, VariableError> {
    validate_variable_name(name).map_err(|reason| {
        VariableError::InvalidName(format!("invalid variable name {name:?}: {reason}"))
    })?;
    values
        .get(name)
        .cloned()
        .ok_or_else(|| VariableError::Undefined(format!("no variable for \"{name}\"")))
}

/// Spin's variable-name rules: lowercase ASCII letters, digits and single underscores, starting
/// with a letter and ending with a letter or digit.
pub fn validate_variable_name(name: &str) -> Result<(), String> {
    let Some(first) = name.bytes().next() else {
        return Err("must not be empty".into());
    };
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Err(format!(
            "invalid character {bad:?}; variable names may contain only lowercase letters, digits and underscores"
        ));
    }
    if !first.is_ascii_lowercase() {
        return Err("must start with a lowercase ASCII letter".into());
    }
    if !name
        .bytes()
        .last()
        .is_some_and(|b| b.is_ascii_alphanumeric())
    {
        return Err("must end with a lowercase ASCII letter or digit".into());
    }
    if name.contains("__") {
        return Err("must not contain consecutive underscores".into());
    }
    Ok(())
}

pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    get: fn(&mut T) -> &mut Variables,
) -> wasmtime::Result<()> {
    variables::add_to_linker::<T, wasmtime::component::HasSelf<Variables>>(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_spin_accepts() {
        for name in [
            "a",
            "abc",
            "a1b2c3",
            "a_1",
            "a_1_b_3",
            "dapr_url",
            "jwt_secret",
        ] {
            assert_eq!(validate_variable_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn names_spin_rejects() {
        for name in [
            "", "aX", "1bc", "_x", "x.y", "x_", "a__b", "x-y", "DAPR_URL", "é",
        ] {
            assert!(validate_variable_name(name).is_err(), "{name}");
        }
    }

    #[test]
    fn lookup_distinguishes_invalid_and_undefined() {
        let values = HashMap::from([("dapr_url".to_string(), "http://127.0.0.1:3500".to_string())]);
        assert_eq!(
            lookup(&values, "dapr_url").unwrap(),
            "http://127.0.0.1:3500"
        );
        assert!(matches!(
            lookup(&values, "missing"),
            Err(VariableError::Undefined(_))
        ));
        assert!(matches!(
            lookup(&values, "Dapr-Url"),
            Err(VariableError::InvalidName(_))
        ));
    }
}
