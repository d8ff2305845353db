//! Builds every plugin in `plugins/` (examples and fixtures) for `wasm32-wasip2` from source,
//! so the integration tests always run the plugins as they are in the tree, and tells the
//! tests where the components are (`HOOKBOX_PLUGIN_DIR`).

use std::path::{Path, PathBuf};
use std::process::Command;

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
        "plugins/examples",
        "plugins/fixtures",
        "guest-sdk",
        "wit",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args([
            "build",
            "--release",
            "--workspace",
            "--target",
            "wasm32-wasip2",
        ])
        .current_dir(&plugins);
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
            "building the plugins failed ({status}); is the wasm32-wasip2 target installed? \
             (`rustup target add wasm32-wasip2`)"
        );
    }
    let out = plugins.join("target").join("wasm32-wasip2").join("release");
    check_built(&out);
    println!("cargo:rustc-env=HOOKBOX_PLUGIN_DIR={}", out.display());
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
