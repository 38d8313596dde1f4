//! Spin application manifest (`spin.toml`, `spin_manifest_version = 2`): the parts this host runs.
//!
//! - `[application]`: `name`, `version`, `description`.
//! - `[variables]`: `name = { default = "…" }` or `{ required = true }`, optionally `secret = true`.
//!   A value comes from `SPIN_VARIABLE_<NAME>` (upper-cased) first, then the default; a required
//!   variable without a value is an error (see [`VariableResolver`]).
//! - `[[trigger.http]]`: `route` (exact `/api/healthz` or wildcard `/api/...`) and `component`.
//!   No two triggers may declare the same route; the most specific route wins (see [`Router`]).
//! - `[component.<id>]`: `source` (a local path), `allowed_outbound_hosts`, `environment`,
//!   `variables` (values are templates over application variables: `"{{ dapr_url }}"`), and
//!   `[component.<id>.build]` `command`/`workdir`/`watch`. Templates are also expanded inside
//!   `allowed_outbound_hosts`.
//!
//! Every error names the offending field (`component.chat-api.source: expected a string`).
//!
//! Used by the host (`spin-host`, which turns a component into its runtime configuration), by
//! `todo-dev` and by the test harness (`tests/`), whose build script reads the manifest with this
//! crate. The [`build`] module runs the components' build commands, for all of them.

pub mod build;

use anyhow::{Context as _, anyhow, bail};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// A parsed `spin.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Directory of the manifest: relative `source`, `workdir` and `watch` paths start here.
    pub dir: PathBuf,
    pub application: Application,
    pub variables: BTreeMap<String, Variable>,
    /// `[[trigger.http]]` entries in file order.
    pub triggers: Vec<HttpTrigger>,
    pub components: BTreeMap<String, Component>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Application {
    pub name: String,
    pub version: Option<String>,
    pub description: Option<String>,
}

/// An application variable (`[variables]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Variable {
    pub default: Option<String>,
    pub required: bool,
    /// Never print the value.
    pub secret: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTrigger {
    pub route: Route,
    /// The component id.
    pub component: String,
}

/// An HTTP route as Spin writes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Route {
    /// `/api/healthz`: that path only (a trailing `/` is ignored).
    Exact(String),
    /// `/api/...`: `/api` and everything below it; the prefix is stored without `/...`
    /// (`""` for the catch-all `/...`).
    Wildcard(String),
}

impl Route {
    /// Parse a `route` value (`/api/...`, `/api/healthz`, `/...`).
    pub fn parse(route: &str) -> anyhow::Result<Self> {
        if !route.starts_with('/') {
            bail!("route {route:?} must start with '/'");
        }
        if route.split('/').any(|s| s.starts_with(':') || s == "*") {
            bail!(
                "route {route:?}: route parameters (':name', '*') are not supported by this host"
            );
        }
        if let Some(prefix) = route.strip_suffix("/...") {
            if prefix.contains("...") {
                bail!("route {route:?}: '...' may only end a route");
            }
            let prefix = match_key(prefix);
            return Ok(Route::Wildcard(if prefix.is_empty() {
                String::new()
            } else {
                format!("/{prefix}")
            }));
        }
        if route.contains("...") {
            bail!("route {route:?}: a wildcard route must end with '/...'");
        }
        Ok(Route::Exact(format!("/{}", match_key(route))))
    }

    /// Whether `path` (no query) is matched by this route.
    pub fn matches(&self, path: &str) -> bool {
        self.path_info(path).is_some()
    }

    /// When this route matches `path` (no query): what Spin passes as `spin-path-info`, the part
    /// of the path a trailing wildcard captured (`/api/...` on `/api/tasks/1` → `/tasks/1`, on
    /// `/api/tasks/` → `/tasks/`, on `/api` → `""`); always `""` for an exact route.
    ///
    /// Spin matches with `routefinder`, which ignores every leading and trailing `/` of the path
    /// and then compares it with the route's text: `//api/tasks` and `/api/tasks//` are matched
    /// by `/api/...` like `/api/tasks` (while an inner `//` is kept: `/api//healthz` is not the
    /// exact route `/api/healthz`). A trailing `/` of the path shows in the path info.
    pub fn path_info(&self, path: &str) -> Option<String> {
        let key = match_key(path);
        match self {
            Route::Exact(exact) => (key == match_key(exact)).then(String::new),
            Route::Wildcard(prefix) => {
                let prefix = match_key(prefix);
                let captured = if prefix.is_empty() || key == prefix {
                    &key[prefix.len()..]
                } else {
                    key.strip_prefix(prefix)?.strip_prefix('/')?
                };
                Some(match (captured.is_empty(), path.ends_with('/')) {
                    (true, false) => String::new(),
                    (true, true) => "/".to_owned(),
                    (false, false) => format!("/{captured}"),
                    (false, true) => format!("/{captured}/"),
                })
            }
        }
    }

    /// Spin's text form (`/api/...`, `/api/healthz`).
    pub fn as_spin_route(&self) -> String {
        match self {
            Route::Exact(exact) => exact.clone(),
            Route::Wildcard(prefix) => format!("{prefix}/..."),
        }
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_spin_route())
    }
}

/// What Spin's router (`routefinder`) compares: the path without its leading and trailing `/`s.
fn match_key(path: &str) -> &str {
    path.trim_matches('/')
}

/// `[component.<id>]` as written (templates not yet expanded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Component {
    pub id: String,
    pub description: Option<String>,
    /// Path of the `.wasm`, relative to [`Manifest::dir`] unless absolute.
    pub source: String,
    pub allowed_outbound_hosts: Vec<String>,
    pub environment: BTreeMap<String, String>,
    /// Component variable name → template over application variables.
    pub variables: BTreeMap<String, String>,
    pub build: Option<Build>,
}

/// `[component.<id>.build]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Build {
    pub command: String,
    /// Relative to [`Manifest::dir`]; `None` = the manifest's directory.
    pub workdir: Option<String>,
    /// Glob patterns (relative to the workdir) of the build's inputs.
    pub watch: Vec<String>,
}

/// The route that matched a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    /// As written in spin.toml (`/api/...`).
    pub route: String,
    pub component: &'a str,
}

/// Maps request paths to components, as Spin's HTTP trigger does: an exact route beats every
/// wildcard, and among wildcards the longest prefix wins.
#[derive(Debug, Clone, Default)]
pub struct Router {
    /// Exact routes by their match key (no leading or trailing `/`), see [`Route::path_info`].
    exact: HashMap<String, String>,
    /// (prefix, component), longest prefix first.
    wildcards: Vec<(String, String)>,
}

impl Router {
    /// A router over `triggers`; the same route twice is an error.
    pub fn new<'a>(triggers: impl IntoIterator<Item = &'a HttpTrigger>) -> anyhow::Result<Self> {
        let mut router = Router::default();
        let mut seen: HashMap<Route, String> = HashMap::new();
        for trigger in triggers {
            if let Some(other) = seen.insert(trigger.route.clone(), trigger.component.clone()) {
                bail!(
                    "duplicate route {}: declared for component {other:?} and for component {:?}",
                    trigger.route,
                    trigger.component
                );
            }
            match &trigger.route {
                Route::Exact(path) => {
                    router
                        .exact
                        .insert(match_key(path).to_owned(), trigger.component.clone());
                }
                Route::Wildcard(prefix) => router
                    .wildcards
                    .push((prefix.clone(), trigger.component.clone())),
            }
        }
        router
            .wildcards
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Ok(router)
    }

    /// The most specific route matching `path` (the query string, if any, is ignored), matched
    /// as Spin matches (see [`Route::path_info`]); `None` is Spin's empty-bodied `404`.
    pub fn route(&self, path: &str) -> Option<RouteMatch<'_>> {
        let path = path.split('?').next().unwrap_or(path);
        let key = match_key(path);
        if let Some(component) = self.exact.get(key) {
            return Some(RouteMatch {
                route: format!("/{key}"),
                component,
            });
        }
        self.wildcards
            .iter()
            .find(|(prefix, _)| Route::Wildcard(prefix.clone()).matches(path))
            .map(|(prefix, component)| RouteMatch {
                route: format!("{prefix}/..."),
                component,
            })
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcards.is_empty()
    }
}

impl Manifest {
    /// Read and parse the manifest at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the manifest {}", path.display()))?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        Self::parse(&text, &dir).with_context(|| format!("invalid manifest {}", path.display()))
    }

    /// Parse manifest text; relative paths are taken from `dir`.
    pub fn parse(text: &str, dir: &Path) -> anyhow::Result<Self> {
        let root: Table = text
            .parse()
            .map_err(|e: toml::de::Error| anyhow!("{}", e.to_string().trim_end()))?;
        let mut root = Fields::new(root, "");

        match root.take("spin_manifest_version") {
            Some(Value::Integer(2)) => {}
            Some(other) => bail!(
                "spin_manifest_version: expected 2, found {}",
                describe(&other)
            ),
            None => bail!("spin_manifest_version: missing (this host reads manifest version 2)"),
        }

        // Spin keeps other settings in [application] (authors, trigger defaults): not used here.
        let mut app = root.table("application")?.context("application: missing")?;
        let application = Application {
            name: app.string("name")?.context("application.name: missing")?,
            version: app.string("version")?,
            description: app.string("description")?,
        };

        let mut variables = BTreeMap::new();
        if let Some(mut vars) = root.table("variables")? {
            for (name, value) in vars.drain() {
                let field = format!("variables.{name}");
                validate_variable_name(&name)
                    .map_err(|e| anyhow!("{field}: invalid variable name: {e}"))?;
                let Value::Table(table) = value else {
                    bail!(
                        "{field}: expected a table like {{ default = \"...\" }}, found {}",
                        describe(&value)
                    );
                };
                let mut t = Fields::new(table, &field);
                let var = Variable {
                    default: t.string("default")?,
                    required: t.bool("required")?.unwrap_or(false),
                    secret: t.bool("secret")?.unwrap_or(false),
                };
                t.deny_unknown()?;
                if var.required && var.default.is_some() {
                    bail!("{field}: a variable cannot be both required and have a default");
                }
                if !var.required && var.default.is_none() {
                    bail!("{field}: a variable needs a default or `required = true`");
                }
                variables.insert(name, var);
            }
        }

        let mut components = BTreeMap::new();
        if let Some(mut comps) = root.table("component")? {
            for (id, value) in comps.drain() {
                let field = format!("component.{id}");
                validate_component_id(&id).map_err(|e| anyhow!("{field}: {e}"))?;
                let Value::Table(table) = value else {
                    bail!("{field}: expected a table, found {}", describe(&value));
                };
                components.insert(id.clone(), parse_component(&id, table)?);
            }
        }

        let mut triggers = Vec::new();
        if let Some(mut trigger) = root.table("trigger")? {
            for (kind, value) in trigger.drain() {
                if kind != "http" {
                    bail!("trigger.{kind}: only HTTP triggers are supported by this host");
                }
                let Value::Array(entries) = value else {
                    bail!(
                        "trigger.http: expected an array of tables ([[trigger.http]]), found {}",
                        describe(&value)
                    );
                };
                for (i, entry) in entries.into_iter().enumerate() {
                    let field = format!("trigger.http[{i}]");
                    let Value::Table(table) = entry else {
                        bail!("{field}: expected a table, found {}", describe(&entry));
                    };
                    let mut t = Fields::new(table, &field);
                    let route = t.string("route")?.with_context(|| {
                        format!("{field}.route: missing (e.g. route = \"/api/...\")")
                    })?;
                    let route = Route::parse(&route).map_err(|e| anyhow!("{field}.route: {e}"))?;
                    let component = match t.take("component") {
                        Some(Value::String(id)) => id,
                        Some(other) => bail!(
                            "{field}.component: expected a component id (string), found {}",
                            describe(&other)
                        ),
                        None => bail!("{field}.component: missing"),
                    };
                    if !components.contains_key(&component) {
                        bail!("{field}.component: no [component.{component}] in the manifest");
                    }
                    // `executor` (Spin's wagi/spin executor) is accepted and ignored.
                    let _ = t.take("executor");
                    t.deny_unknown()?;
                    triggers.push(HttpTrigger { route, component });
                }
            }
        }
        // Duplicate routes are a manifest error whichever components are run.
        Router::new(&triggers).map_err(|e| anyhow!("trigger.http: {e}"))?;

        root.deny_unknown()?;
        Ok(Manifest {
            dir: dir.to_path_buf(),
            application,
            variables,
            triggers,
            components,
        })
    }

    /// The component ids, in id order.
    pub fn component_ids(&self) -> Vec<String> {
        self.components.keys().cloned().collect()
    }

    /// Check that every id names a component; empty `ids` = every component.
    pub fn select_components(&self, ids: &[String]) -> anyhow::Result<Vec<String>> {
        if ids.is_empty() {
            return Ok(self.component_ids());
        }
        let mut selected = Vec::new();
        for id in ids {
            if !self.components.contains_key(id) {
                bail!(
                    "no component {id:?} in the manifest (components: {})",
                    self.component_ids().join(", ")
                );
            }
            if !selected.contains(id) {
                selected.push(id.clone());
            }
        }
        Ok(selected)
    }

    /// A router over the triggers of `components` only (e.g. the selected ones, or one app-id).
    pub fn router(&self, components: &[String]) -> Router {
        Router::new(
            self.triggers
                .iter()
                .filter(|t| components.contains(&t.component)),
        )
        .expect("duplicate routes are rejected by Manifest::parse")
    }

    /// Absolute path of a component's `source`.
    pub fn source_path(&self, component: &Component) -> PathBuf {
        self.dir.join(&component.source)
    }
}

/// Reads an environment variable (`SPIN_VARIABLE_<NAME>`).
type EnvLookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// Resolves application variables: `SPIN_VARIABLE_<NAME>` from the environment, then host
/// overrides, then the manifest default, then host fallbacks (e.g. a generated development
/// secret); a required variable with none of these is an error.
pub struct VariableResolver<'a> {
    variables: &'a BTreeMap<String, Variable>,
    env: EnvLookup<'a>,
    overrides: HashMap<String, String>,
    fallbacks: HashMap<String, String>,
}

impl<'a> VariableResolver<'a> {
    /// A resolver reading `SPIN_VARIABLE_*` from the process environment.
    pub fn new(manifest: &'a Manifest) -> Self {
        Self::with_env(manifest, |key| std::env::var(key).ok())
    }

    /// A resolver with its own environment lookup (tests).
    pub fn with_env(manifest: &'a Manifest, env: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self {
            variables: &manifest.variables,
            env: Box::new(env),
            overrides: HashMap::new(),
            fallbacks: HashMap::new(),
        }
    }

    /// A value that wins over the default (but not over `SPIN_VARIABLE_<NAME>`).
    pub fn set_override(&mut self, name: &str, value: impl Into<String>) {
        self.overrides.insert(name.to_string(), value.into());
    }

    /// A value used only when nothing else gives one (e.g. a generated dev secret).
    pub fn set_fallback(&mut self, name: &str, value: impl Into<String>) {
        self.fallbacks.insert(name.to_string(), value.into());
    }

    /// The environment variable that sets application variable `name`.
    pub fn env_key(name: &str) -> String {
        format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase())
    }

    /// The value of application variable `name`.
    pub fn get(&self, name: &str) -> anyhow::Result<String> {
        self.lookup(name)?.ok_or_else(|| {
            anyhow!(
                "variables.{name}: required variable has no value; set {} (or pass it to the host)",
                Self::env_key(name)
            )
        })
    }

    /// Whether application variable `name` would get a value from the environment, an override
    /// or its default (not from a fallback).
    pub fn has_value_without_fallback(&self, name: &str) -> bool {
        self.variables.contains_key(name)
            && ((self.env)(&Self::env_key(name)).is_some()
                || self.overrides.contains_key(name)
                || self.variables[name].default.is_some())
    }

    fn lookup(&self, name: &str) -> anyhow::Result<Option<String>> {
        let Some(var) = self.variables.get(name) else {
            bail!("no application variable {name:?} in [variables]");
        };
        if let Some(value) = (self.env)(&Self::env_key(name)) {
            return Ok(Some(value));
        }
        if let Some(value) = self.overrides.get(name) {
            return Ok(Some(value.clone()));
        }
        if let Some(value) = &var.default {
            return Ok(Some(value.clone()));
        }
        Ok(self.fallbacks.get(name).cloned())
    }

    /// Expand `{{ name }}` templates over application variables.
    pub fn expand(&self, template: &str) -> anyhow::Result<String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .with_context(|| format!("unterminated '{{{{' in {template:?}"))?;
            let name = after[..end].trim();
            validate_variable_name(name).map_err(|e| {
                anyhow!("invalid variable reference {{{{ {name} }}}} in {template:?}: {e}")
            })?;
            out.push_str(&self.get(name)?);
            rest = &after[end + 2..];
        }
        if rest.contains("}}") {
            bail!("unmatched '}}}}' in {template:?}");
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn parse_component(id: &str, table: Table) -> anyhow::Result<Component> {
    let field = format!("component.{id}");
    let mut t = Fields::new(table, &field);
    let source = match t.take("source") {
        Some(Value::String(path)) if !path.trim().is_empty() => path,
        Some(Value::String(_)) => bail!("{field}.source: must not be empty"),
        Some(Value::Table(_)) => bail!(
            "{field}.source: remote sources ({{ url, digest }}) are not supported by this host; use a local path"
        ),
        Some(other) => bail!(
            "{field}.source: expected a path to a .wasm file, found {}",
            describe(&other)
        ),
        None => bail!("{field}.source: missing"),
    };
    let description = t.string("description")?;
    let allowed_outbound_hosts = t.string_list("allowed_outbound_hosts")?.unwrap_or_default();
    if t.has("allowed_http_hosts") {
        bail!(
            "{field}.allowed_http_hosts: not supported in manifest version 2; use allowed_outbound_hosts"
        );
    }
    let environment = t.string_map("environment")?.unwrap_or_default();
    let variables = t.string_map("variables")?.unwrap_or_default();
    for name in variables.keys() {
        validate_variable_name(name)
            .map_err(|e| anyhow!("{field}.variables.{name}: invalid variable name: {e}"))?;
    }
    let build = match t.table("build")? {
        Some(mut b) => {
            let build = Build {
                command: b
                    .string("command")?
                    .with_context(|| format!("{field}.build.command: missing"))?,
                workdir: b.string("workdir")?,
                watch: b.string_list("watch")?.unwrap_or_default(),
            };
            b.deny_unknown()?;
            Some(build)
        }
        None => None,
    };
    for unsupported in [
        "files",
        "key_value_stores",
        "sqlite_databases",
        "ai_models",
        "dependencies",
    ] {
        if let Some(value) = t.take(unsupported) {
            let empty = match &value {
                Value::Array(a) => a.is_empty(),
                Value::Table(t) => t.is_empty(),
                _ => false,
            };
            if !empty {
                bail!("{field}.{unsupported}: not supported by this host");
            }
        }
    }
    // Accepted, no effect here.
    for ignored in [
        "exclude_files",
        "tool",
        "targets",
        "dependencies_inherit_configuration",
    ] {
        let _ = t.take(ignored);
    }
    t.deny_unknown()?;
    Ok(Component {
        id: id.to_string(),
        description,
        source,
        allowed_outbound_hosts,
        environment,
        variables,
        build,
    })
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

/// Spin's component ids: lowercase letters, digits and `-`/`_`, starting with a letter.
fn validate_component_id(id: &str) -> Result<(), String> {
    let Some(first) = id.chars().next() else {
        return Err("a component id must not be empty".into());
    };
    if !first.is_ascii_lowercase() {
        return Err(format!(
            "component id {id:?} must start with a lowercase letter"
        ));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "component id {id:?}: invalid character {bad:?} (use lowercase letters, digits, '-' and '_')"
        ));
    }
    Ok(())
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("string {s:?}"),
        Value::Integer(i) => format!("integer {i}"),
        Value::Float(f) => format!("float {f}"),
        Value::Boolean(b) => format!("boolean {b}"),
        Value::Datetime(d) => format!("datetime {d}"),
        Value::Array(_) => "an array".into(),
        Value::Table(_) => "a table".into(),
    }
}

/// A TOML table whose fields are taken one by one; what is left over is an unknown field.
struct Fields {
    table: Table,
    path: String,
}

impl Fields {
    fn new(table: Table, path: &str) -> Self {
        Self {
            table,
            path: path.to_string(),
        }
    }

    fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn has(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        self.table.remove(key)
    }

    fn drain(&mut self) -> Vec<(String, Value)> {
        std::mem::take(&mut self.table).into_iter().collect()
    }

    fn string(&mut self, key: &str) -> anyhow::Result<Option<String>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => bail!(
                "{}: expected a string, found {}",
                self.field(key),
                describe(&other)
            ),
        }
    }

    fn bool(&mut self, key: &str) -> anyhow::Result<Option<bool>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(b)),
            Some(other) => bail!(
                "{}: expected true or false, found {}",
                self.field(key),
                describe(&other)
            ),
        }
    }

    fn string_list(&mut self, key: &str) -> anyhow::Result<Option<Vec<String>>> {
        let field = self.field(key);
        match self.take(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(s),
                    other => bail!(
                        "{field}[{i}]: expected a string, found {}",
                        describe(&other)
                    ),
                })
                .collect::<anyhow::Result<Vec<_>>>()
                .map(Some),
            Some(other) => bail!(
                "{field}: expected an array of strings, found {}",
                describe(&other)
            ),
        }
    }

    fn string_map(&mut self, key: &str) -> anyhow::Result<Option<BTreeMap<String, String>>> {
        let field = self.field(key);
        match self.take(key) {
            None => Ok(None),
            Some(Value::Table(table)) => table
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k, s)),
                    other => bail!("{field}.{k}: expected a string, found {}", describe(&other)),
                })
                .collect::<anyhow::Result<BTreeMap<_, _>>>()
                .map(Some),
            Some(other) => bail!("{field}: expected a table, found {}", describe(&other)),
        }
    }

    fn table(&mut self, key: &str) -> anyhow::Result<Option<Fields>> {
        let field = self.field(key);
        match self.take(key) {
            None => Ok(None),
            Some(Value::Table(table)) => Ok(Some(Fields::new(table, &field))),
            Some(other) => bail!("{field}: expected a table, found {}", describe(&other)),
        }
    }

    fn deny_unknown(self) -> anyhow::Result<()> {
        match self.table.keys().next() {
            None => Ok(()),
            Some(key) => bail!("{}: unknown field", self.field(key)),
        }
    }
}

#[cfg(test)]
mod tests;
