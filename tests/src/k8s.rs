//! Kubernetes manifests, offline: the repository's CRD schemas, YAML files as JSON values and
//! `kubectl kustomize`. The validation itself (unknown fields refused, as strict field validation
//! refuses them) is `dapr_sidecar::testing::crd`, which the sidecar's own tests use for `dapr/`.
use anyhow::{Context as _, anyhow, bail};
use dapr_sidecar::testing::crd::yaml_documents;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `schemas/crds`: the upstream CRDs the manifests are checked against (see SOURCES.md there).
pub fn crd_dir() -> PathBuf {
    repo_root().join("schemas/crds")
}

/// The documents of a YAML file.
pub fn read_yaml(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    yaml_documents(&text).map_err(|e| anyhow!("{} is not YAML: {e}", path.display()))
}

/// `kubectl kustomize <dir>`, parsed.
pub fn kustomize(kubectl: &Path, dir: &Path) -> anyhow::Result<Vec<Value>> {
    let output = Command::new(kubectl)
        .arg("kustomize")
        .arg(dir)
        .output()
        .context("kubectl runs")?;
    if !output.status.success() {
        bail!(
            "kubectl kustomize {} failed:\n{}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    yaml_documents(&String::from_utf8(output.stdout)?)
        .map_err(|e| anyhow!("kubectl kustomize {}: {e}", dir.display()))
}
