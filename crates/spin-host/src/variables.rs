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

/// Spin's variable-name rules (the manifest checks names with the same function).
pub use spin_manifest::validate_variable_name;

pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    get: fn(&mut T) -> &mut Variables,
) -> wasmtime::Result<()> {
    variables::add_to_linker::<T, wasmtime::component::HasSelf<Variables>>(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The name rules themselves are tested in spin-manifest (`variable_names_spin_*`).

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
