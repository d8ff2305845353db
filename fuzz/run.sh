#!/usr/bin/env bash
# Runs every fuzz target for a bounded time, one after the other, one libFuzzer process each:
#
#   fuzz/run.sh [seconds-per-target]        (default 300)
#
# Not part of CI. Installs cargo-fuzz (pinned below) if it is missing. Runs on the pinned stable
# toolchain: with `--sanitizer none`, cargo-fuzz passes rustc no `-Z` flag, so no nightly and no
# RUSTC_BOOTSTRAP. Each run starts from the committed seeds (corpus/<target>/*.txt) plus what
# earlier runs kept (corpus/<target>/generated, git-ignored); a crash stops that target, is
# written to artifacts/<target>/, and makes the script exit non-zero after the other targets ran.
# Inputs under regressions/<target>/ (crashes found earlier) are replayed first; one that still
# fails counts as a crash.
set -euo pipefail
cd "$(dirname "$0")"

seconds=${1:-300}
cargo_fuzz=0.13.2

if [[ $(cargo fuzz --version 2>/dev/null) != "cargo-fuzz $cargo_fuzz" ]]; then
    cargo install --locked cargo-fuzz --version "$cargo_fuzz"
fi
cargo fuzz build --sanitizer none

failed=()
for target in $(cargo fuzz list); do
    generated=corpus/$target/generated
    log=target/$target.log
    mkdir -p "$generated"
    # libFuzzer writes new inputs to its first corpus directory; seeding that one (rather than
    # also passing corpus/<target>, which it would read recursively) loads every input once.
    cp corpus/"$target"/*.txt "$generated"/
    for input in regressions/"$target"/*; do
        [[ -f $input ]] || continue
        if ! cargo fuzz run --sanitizer none "$target" "$input" >"$log" 2>&1; then
            failed+=("$input")
            echo "== $target: $input still fails:"
            grep -m1 -A1 'panicked at' "$log" || tail -n 20 "$log"
        fi
    done
    echo "== $target: ${seconds}s"
    if ! cargo fuzz run --sanitizer none "$target" "$generated" -- -dict=dict/"$target".dict \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        failed+=("$target")
        grep -m1 -A2 'panicked at' "$log" || tail -n 20 "$log"
    fi
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    corpus=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -n 1)
    files=$(find "$generated" -type f | wc -l)
    bytes=$(du -s --apparent-size --block-size=K "$generated" | cut -f1)
    echo "   executions: ${executions:-?}, corpus: ${corpus#corp: } kept by libFuzzer" \
        "($files files, ${bytes}b on disk), log: fuzz/$log"
done

if ((${#failed[@]})); then
    echo "failed: ${failed[*]} (new crashes are in fuzz/artifacts/)" >&2
    exit 1
fi
