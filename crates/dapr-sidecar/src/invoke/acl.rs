//! Access control for service invocation, as daprd `pkg/acl/acl.go` and
//! `pkg/config/trie.go` apply a callee's `spec.accessControl`.
//!
//! The caller's identity is what mTLS would prove on Kubernetes: SPIFFE id
//! `spiffe://<trustDomain>/ns/<namespace>/<appId>`; locally every app is in namespace `default`
//! of trust domain `public` (the defaults of a `dapr init` sentry), and the app id is the one the
//! host gave the caller. Evaluation, as daprd does it:
//!
//! 1. No policy for the caller (matched by app id *and* namespace), or its `trustDomain` or
//!    `namespace` differ: the global `defaultAction` (when absent: `deny` if policies are listed,
//!    else `allow`).
//! 2. Otherwise the app policy's `defaultAction` (if set) replaces it; then the first operation
//!    whose `name` matches the (normalised, lower-cased) method path decides by verb: the exact
//!    verb's action, else `*`'s action, else the app default.
//!
//! Operation names match segment by segment: `*` is exactly one segment, `**` any rest
//! (daprd's trie: `/api/internal/*` allows `/api/internal/x` but not `/api/internal/x/y`).
//! Unlike daprd, which refuses a policy without `trustDomain` or `namespace`, those default to
//! `public` and `default` here.
//!
//! The policies are [`AccessControl`] as the resources loader reads them from a Configuration.

use crate::resources::AccessControl;

pub(crate) const LOCAL_NAMESPACE: &str = "default";
pub(crate) const DEFAULT_TRUST_DOMAIN: &str = "public";

fn allowed(action: &str) -> bool {
    action.eq_ignore_ascii_case("allow")
}

/// Removes empty and `.` segments, resolves `..` (purell's "usually safe greedy" + duplicate
/// slashes), keeps a leading `/`.
pub(crate) fn normalize_operation(operation: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in operation.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    format!("/{}", segments.join("/"))
}

/// A segment pattern with `*` standing for any run of characters.
fn segment_matches(pattern: &str, segment: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == segment;
    }
    let mut rest = segment;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(pos) = rest.find(part) {
            rest = &rest[pos + part.len()..];
        } else {
            return false;
        }
    }
    true
}

fn operation_matches(pattern: &str, operation: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let operation: Vec<&str> = operation.split('/').filter(|s| !s.is_empty()).collect();
    for (i, p) in pattern.iter().enumerate() {
        if *p == "**" {
            return operation.len() > i;
        }
        match operation.get(i) {
            Some(segment) if segment_matches(p, segment) => {}
            _ => return false,
        }
    }
    pattern.len() == operation.len()
}

impl AccessControl {
    /// Whether `caller` (in the local namespace and trust domain) may call `operation` (the
    /// method path) with `verb`.
    pub(crate) fn allows(&self, caller: &str, operation: &str, verb: &str) -> bool {
        let mut action = match &self.default_action {
            Some(action) if !action.is_empty() => action.clone(),
            _ if self.policies.is_empty() => "allow".to_owned(),
            _ => "deny".to_owned(),
        };
        if caller.is_empty() {
            return allowed(&action);
        }
        let Some(policy) = self.policies.iter().find(|p| {
            p.app_id == caller
                && p.namespace
                    .as_deref()
                    .filter(|n| !n.is_empty())
                    .unwrap_or(LOCAL_NAMESPACE)
                    == LOCAL_NAMESPACE
        }) else {
            return allowed(&action);
        };
        let trust_domain = policy
            .trust_domain
            .as_deref()
            .filter(|t| !t.is_empty())
            .unwrap_or(DEFAULT_TRUST_DOMAIN);
        if trust_domain != DEFAULT_TRUST_DOMAIN {
            return allowed(&action);
        }
        if let Some(app_default) = policy.default_action.as_deref().filter(|a| !a.is_empty()) {
            action = app_default.to_owned();
        }
        let operation = normalize_operation(operation).to_lowercase();
        let matched = policy.operations.iter().find(|op| {
            let name = if op.name.starts_with('/') {
                op.name.to_lowercase()
            } else {
                format!("/{}", op.name.to_lowercase())
            };
            operation_matches(&name, &operation)
        });
        if let Some(op) = matched
            && op.http_verb.iter().any(|v| v == verb || v == "*")
        {
            action = op.action.clone();
        }
        allowed(&action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat_api_acl() -> AccessControl {
        serde_yaml_ng::from_str(
            r#"
defaultAction: deny
trustDomain: public
policies:
  - appId: recurring-task-service
    defaultAction: deny
    namespace: default
    operations:
      - name: /api/internal/*
        httpVerb: ["POST"]
        action: allow
"#,
        )
        .expect("yaml")
    }

    #[test]
    fn the_repos_policy_allows_only_post_to_internal_routes_from_recurring() {
        let acl = chat_api_acl();
        assert!(acl.allows("recurring-task-service", "api/internal/occurrences", "POST"));
        assert!(acl.allows("recurring-task-service", "/API/Internal/x", "POST"));
        assert!(!acl.allows("recurring-task-service", "api/internal/occurrences", "GET"));
        assert!(!acl.allows("recurring-task-service", "api/internal/a/b", "POST"));
        assert!(!acl.allows("recurring-task-service", "api/tasks", "POST"));
        assert!(!acl.allows("audit-service", "api/internal/occurrences", "POST"));
        assert!(!acl.allows(
            "recurring-task-service",
            "api/x/../internal/../../y",
            "POST"
        ));
        assert!(acl.allows("recurring-task-service", "api/x/../internal/y", "POST"));
    }

    #[test]
    fn double_star_matches_any_rest_and_an_empty_acl_allows() {
        assert!(operation_matches("/api/**", "/api/a/b"));
        assert!(!operation_matches("/api/**", "/api"));
        assert!(operation_matches("/api/v*/x", "/api/v2/x"));
        let empty = AccessControl {
            default_action: None,
            trust_domain: None,
            policies: Vec::new(),
        };
        assert!(empty.allows("anyone", "/x", "GET"));
    }
}
