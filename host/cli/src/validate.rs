//! `hookbox validate`: the check the host runs when it loads a plugin, for authors and CI.
//!
//! It compiles and links the component exactly as `serve` would (same engine settings, same
//! linker), then reports what a plugin author needs to know before deploying: the world
//! version, every import, which grant each import needs, size and compile time.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use hookbox_runtime::{Runtime, RuntimeConfig};

#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {
    /// The plugin component (`.wasm`).
    plugin: PathBuf,
}

/// The smallest world of the contract this host serves that covers `imports`.
fn world_of(imports: &[String]) -> &'static str {
    let uses = |prefix: &str| imports.iter().any(|i| i.starts_with(prefix));
    match (uses("wasi:keyvalue/"), uses("wasi:http/")) {
        (true, true) => "hookbox:plugin/plugin-with-kv-and-http@0.1.0",
        (true, false) => "hookbox:plugin/plugin-with-kv@0.1.0",
        (false, true) => "hookbox:plugin/plugin-with-http@0.1.0",
        (false, false) => "hookbox:plugin/plugin@0.1.0",
    }
}

pub(crate) fn validate(args: ValidateArgs) -> Result<()> {
    let bytes = std::fs::read(&args.plugin)
        .with_context(|| format!("cannot read {}", args.plugin.display()))?;
    let runtime = Runtime::new(RuntimeConfig {
        max_concurrent_calls: 1,
        ..RuntimeConfig::default()
    })?;
    println!(
        "file      {} ({} KiB)",
        args.plugin.display(),
        bytes.len().div_ceil(1024)
    );
    let plugin = match runtime.load("validate", &bytes) {
        Ok(plugin) => plugin,
        Err(error) => {
            println!("result    REFUSED: {error}");
            bail!(
                "{} would be refused at load: {error}",
                args.plugin.display()
            );
        }
    };
    println!(
        "world     {} (served by this host)",
        world_of(plugin.imports())
    );
    println!("compile   {} ms", plugin.compile_time().as_millis());
    println!("imports");
    for import in plugin.imports() {
        println!("  {import:<48} {}", grant_for(import));
    }
    println!("result    OK: hookbox would load this plugin (with the grants above)");
    Ok(())
}

/// What a manifest must grant for an import; imports outside every grant would not link.
fn grant_for(import: &str) -> &'static str {
    let interface = import.split('@').next().unwrap_or(import);
    match interface {
        "wasi:logging/logging" => "no grant needed (logging is always on, budgeted per call)",
        "wasi:config/store" => "grants.config / grants.secrets (reads only its own values)",
        i if i.starts_with("wasi:keyvalue/") => {
            "grants.kv (its own bucket, plus the shared buckets the grant names)"
        }
        i if i.starts_with("wasi:http/") => {
            "grants.outbound_hosts (only those hosts, public addresses unless grants.allow_private)"
        }
        i if i.starts_with("hookbox:plugin/") => "no grant needed (the contract's types)",
        i if i.starts_with("wasi:io/")
            || i.starts_with("wasi:cli/")
            || i.starts_with("wasi:clocks/")
            || i.starts_with("wasi:random/") =>
        {
            "no grant needed (linked for every plugin)"
        }
        i if i.starts_with("wasi:filesystem/") => {
            "no grant: linked, but no directory is ever opened"
        }
        i if i.starts_with("wasi:sockets/") => "no grant: linked, but every socket use is denied",
        _ => "not provided by this host",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_are_named_per_interface() {
        assert_eq!(
            grant_for("wasi:config/store@0.2.0-rc.1"),
            "grants.config / grants.secrets (reads only its own values)"
        );
        assert!(grant_for("wasi:logging/logging@0.1.0-draft").starts_with("no grant needed"));
        assert!(grant_for("wasi:cli/stdout@0.2.6").starts_with("no grant needed"));
        assert!(grant_for("wasi:keyvalue/atomics@0.2.0-draft2").starts_with("grants.kv"));
        assert!(
            grant_for("wasi:http/outgoing-handler@0.2.12").starts_with("grants.outbound_hosts")
        );
        assert!(grant_for("wasi:http/types@0.2.0").starts_with("grants.outbound_hosts"));
        assert_eq!(
            grant_for("wasi:nn/inference@0.2.0"),
            "not provided by this host"
        );
    }

    #[test]
    fn the_world_is_the_smallest_that_covers_the_imports() {
        let imports = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            world_of(&imports(&["wasi:logging/logging@0.1.0-draft"])),
            "hookbox:plugin/plugin@0.1.0"
        );
        assert_eq!(
            world_of(&imports(&["wasi:http/outgoing-handler@0.2.12"])),
            "hookbox:plugin/plugin-with-http@0.1.0"
        );
        assert_eq!(
            world_of(&imports(&[
                "wasi:keyvalue/store@0.2.0-draft2",
                "wasi:http/types@0.2.12"
            ])),
            "hookbox:plugin/plugin-with-kv-and-http@0.1.0"
        );
    }
}
