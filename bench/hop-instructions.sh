#!/usr/bin/env bash
# Instructions per wasm hop (x86, user space, from callgrind), for each case and mode of the hop
# bench: deterministic where the VM's timings drift. Each count is the difference between a
# run of 1,200 and one of 200 measured calls, divided by 1,000, so the bench's start-up
# (compiling the plugin, creating the engine) cancels out. Kernel work (the pool's page
# resets) is not counted. Needs valgrind (`apt-get install valgrind`); takes a few minutes.
#
#   bench/hop-instructions.sh                  # keyword-filter as the hop bench loads it
#   HOP_PLUGIN=other.wasm bench/hop-instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
bench=$(cargo bench -p hookbox-tests --bench hop --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[[ -x $bench ]] || { echo "could not build the hop bench" >&2; exit 1; }

instructions() { # case/mode calls -> total instructions of one run
    HOP_ONLY=$1 HOP_CALLS=$2 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bench" 2>&1 |
        sed -n 's/.*I *refs: *\([0-9,]*\).*/\1/p' | tr -d ,
}

printf '%-8s %-6s %14s\n' case mode "instr./call"
for case in allow reject modify; do
    for mode in fresh reuse; do
        few=$(instructions "$case/$mode" 200)
        many=$(instructions "$case/$mode" 1200)
        printf '%-8s %-6s %14d\n' "$case" "$mode" $(((many - few) / 1000))
    done
done
