//! Builds every plugin in `plugins/` (examples and fixtures) from source, so the integration
//! tests always run the plugins as they are in the tree, and tells the tests where the
//! components are (`HOOKBOX_PLUGIN_DIR`).
//!
//! Most plugins build for `wasm32-wasip2`; the lean ones (no WASI imports, docs/adr/018) for
//! `wasm32-unknown-unknown`. Both land in cargo's per-target directories, so the components
//! the tests use are gathered into one directory, `plugins/target/components`, where every
//! plugin is `<crate_name>.wasm` whatever its target.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Plugins built for `wasm32-unknown-unknown`: the examples that need only the SDK
/// (`group-stats` reads the clock, so it stays on wasip2), and `fixture-spin`, so the timeout
/// tests cover a plugin only the epoch deadline can stop (no host-side timer, see the
/// runtime's `invoke.rs`). Keep in step with their `build` commands and READMEs.
const LEAN: &[&str] = &[
    "keyword-filter",
    "message-logger",
    "message-archive",
    "fixture-spin",
];

fn main() {
    let manifest_dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let root = manifest_dir
        .parent()
        .expect("tests/ lives in the repository root")
        .to_owned();
    let plugins = root.join("plugins");
    for watched in [
        "plugins/Cargo.toml",
        "plugins/Cargo.lock",
        "plugins/.cargo/config.toml",
        "plugins/examples",
        "plugins/fixtures",
        "guest-sdk",
        "wit",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let mut wasip2 = vec!["--workspace"];
    for lean in LEAN {
        wasip2.extend(["--exclude", lean]);
    }
    cargo_build(&plugins, "wasm32-wasip2", &wasip2);
    let lean: Vec<&str> = LEAN.iter().flat_map(|name| ["-p", name]).collect();
    cargo_build(&plugins, "wasm32-unknown-unknown", &lean);

    let built = plugins.join("target");
    let components = built.join("components");
    std::fs::create_dir_all(&components).expect("create plugins/target/components");
    let wasip2 = built.join("wasm32-wasip2").join("release");
    for entry in std::fs::read_dir(&wasip2).expect("the wasm32-wasip2 build wrote its output") {
        let path = entry.expect("list the wasm32-wasip2 output").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        // A lean plugin's old wasip2 build may still be there; its lean build wins below.
        if name.ends_with(".wasm") && !LEAN.iter().any(|lean| file_name(lean) == name) {
            gather(&path, &components.join(name));
        }
    }
    let unknown = built.join("wasm32-unknown-unknown").join("release");
    for lean in LEAN {
        let name = file_name(lean);
        gather(&unknown.join(&name), &components.join(&name));
    }
    check_built(&components);
    println!(
        "cargo:rustc-env=HOOKBOX_PLUGIN_DIR={}",
        components.display()
    );
}

fn cargo_build(plugins: &Path, target: &str, packages: &[&str]) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--release", "--target", target])
        .args(packages)
        .current_dir(plugins);
    // The outer build's settings (target dir, flags, clippy's wrapper) are not the plugins'.
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        build.env_remove(var);
    }
    let status = build
        .status()
        .expect("cannot run cargo to build the plugins");
    if !status.success() {
        panic!(
            "building the plugins for {target} failed ({status}); is the target installed? \
             (`rustup target add {target}`)"
        );
    }
}

/// `keyword-filter` → `keyword_filter.wasm`, as cargo names a cdylib.
fn file_name(crate_name: &str) -> String {
    format!("{}.wasm", crate_name.replace('-', "_"))
}

/// Copy a built component into the components directory unless it is already there as it
/// is (most builds change nothing).
fn gather(from: &Path, to: &Path) {
    let bytes = std::fs::read(from)
        .unwrap_or_else(|e| panic!("read the built component {}: {e}", from.display()));
    if std::fs::read(to).is_ok_and(|old| old == bytes) {
        return;
    }
    // Written beside and renamed over: a reader sees the old file or the new one, never half.
    let partial = to.with_extension("wasm.partial");
    std::fs::write(&partial, &bytes).unwrap_or_else(|e| panic!("write {}: {e}", partial.display()));
    std::fs::rename(&partial, to).unwrap_or_else(|e| panic!("replace {}: {e}", to.display()));
}

fn check_built(dir: &Path) {
    let found = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "wasm"))
                .count()
        })
        .unwrap_or(0);
    assert!(found > 0, "no .wasm files in {}", dir.display());
}
