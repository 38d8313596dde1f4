//! The application manifest (`spin.toml`): read by the `spin-manifest` crate, re-exported here so
//! `spin_host::manifest::X` paths keep working. What is the host's own: turning one
//! `[component.<id>]` into the [`ComponentConfig`] [`Host::load`](crate::Host::load) runs, with
//! its templates expanded and its `allowed_outbound_hosts` checked.

pub use spin_manifest::{
    Application, Build, Component, HttpTrigger, Manifest, Route, RouteMatch, Router, Variable,
    VariableResolver,
};

use crate::{AllowedHosts, ComponentConfig};
use anyhow::Context as _;
use std::collections::HashMap;

impl ComponentConfig {
    /// The configuration of component `id` of `manifest`: variables and `allowed_outbound_hosts`
    /// with their templates expanded by `resolver`, the hosts checked; every error names the
    /// field (`component.chat-api.variables.jwt_secret: ...`).
    pub fn from_manifest(
        manifest: &Manifest,
        id: &str,
        resolver: &VariableResolver<'_>,
    ) -> anyhow::Result<ComponentConfig> {
        let component = manifest
            .components
            .get(id)
            .with_context(|| format!("no component {id:?} in the manifest"))?;
        let field = format!("component.{id}");
        let mut variables = HashMap::new();
        for (name, template) in &component.variables {
            let value = resolver
                .expand(template)
                .with_context(|| format!("{field}.variables.{name}"))?;
            variables.insert(name.clone(), value);
        }
        let allowed_outbound_hosts = component
            .allowed_outbound_hosts
            .iter()
            .enumerate()
            .map(|(i, host)| {
                resolver
                    .expand(host)
                    .with_context(|| format!("{field}.allowed_outbound_hosts[{i}]"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        AllowedHosts::parse(&allowed_outbound_hosts)
            .with_context(|| format!("{field}.allowed_outbound_hosts"))?;
        Ok(ComponentConfig {
            id: id.to_string(),
            wasm_path: manifest.source_path(component),
            allowed_outbound_hosts,
            variables,
            environment: component
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests;
