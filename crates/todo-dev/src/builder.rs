//! `todo-dev build`, and the build step of `todo-dev up`: runs `[component.<id>.build] command`
//! when a component's `source` is missing or older than any file its `watch` globs match. The
//! work is done by [`spin_manifest::build`], shared with the test crate's build script.

use crate::BuildArgs;
use spin_host::Manifest;

pub fn build_command(args: &BuildArgs) -> anyhow::Result<()> {
    let manifest = Manifest::load(&args.common.manifest)?;
    let selected = manifest.select_components(&args.component_ids)?;
    build_stale(&manifest, &selected)
}

/// Build every selected component whose source is stale; error if a source is still missing.
pub fn build_stale(manifest: &Manifest, selected: &[String]) -> anyhow::Result<()> {
    spin_manifest::build::build_stale(manifest, selected, "todo-dev")?;
    Ok(())
}
