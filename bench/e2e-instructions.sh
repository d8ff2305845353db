#!/usr/bin/env bash
# Instructions per answered callback (x86, user space, from callgrind) of hookbox serving
# keyword-filter (fresh and reuse) and of the native baseline: the deterministic companion of
# hookbox-bench's requests per second, which drift with this VM. Each count is the difference
# between a run of 2,500 requests and one of 500 against a server started the same way,
# divided by 2,000, so start-up cancels out (a first run fills the compiled cache both then
# load). Kernel work (networking, the pool's page resets) is not counted: the ratio is of the
# user-space work only. Needs valgrind (`apt-get install valgrind`); takes a few minutes.
#
#   bench/e2e-instructions.sh
#   HOOKBOX_LOG=info bench/e2e-instructions.sh   # hookbox at its default log level (default here: warn)
set -euo pipefail
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
cargo build --release -p hookbox -p hookbox-bench 2>/dev/null
(cd plugins && cargo build --release -p keyword-filter --target wasm32-unknown-unknown 2>/dev/null)
root=$PWD
hookbox=$root/target/release/hookbox
bench=$root/target/release/hookbox-bench
plugin=$root/plugins/target/wasm32-unknown-unknown/release/keyword_filter.wasm
command=callbackBeforeSendSingleMsgCommand
# warn: the callback path without the per-callback info span, as the baseline logs nothing.
log=${HOOKBOX_LOG:-warn}
scratch=$(mktemp -d)
# A failed step must not leave a server running under valgrind.
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$scratch"' EXIT

free_port() {
    local port
    for port in $(seq 20000 20999); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    echo "no free port in 20000-20999" >&2
    exit 1
}

# name port requests command... -> total instructions of the server process
instructions() {
    local name=$1 port=$2 requests=$3
    shift 3
    local out=$scratch/$name-$requests.callgrind
    HOOKBOX_LOG=$log valgrind --tool=callgrind --callgrind-out-file="$out" "$@" \
        >"$scratch/$name.log" 2>&1 &
    local server=$!
    local waited
    for waited in $(seq 1 240); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        kill -0 "$server" 2>/dev/null || { cat "$scratch/$name.log" >&2; exit 1; }
        sleep 0.5
    done
    local report
    report=$("$bench" load --url "http://127.0.0.1:$port/openim/$command" \
        --connections 4 --requests "$requests")
    kill -TERM "$server"
    wait "$server" || true
    [[ $report == *"\"ok\":$requests,"* ]] || { echo "$name: not every answer was right: $report" >&2; exit 1; }
    sed -n 's/^totals: *//p' "$out"
}

per_request() { # name port command... -> instructions per request
    local name=$1 port=$2
    shift 2
    instructions "$name" "$port" 1 "$@" >/dev/null # fills the compiled cache
    local few many
    few=$(instructions "$name" "$port" 500 "$@")
    many=$(instructions "$name" "$port" 2500 "$@")
    echo $(((many - few) / 2000))
}

declare -A counts
for instances in fresh reuse; do
    port=$(free_port)
    # Four slots (one per connection): valgrind cannot reserve the address space of more.
    cat >"$scratch/$instances.toml" <<EOF
[server]
listen = "127.0.0.1:$port"
data_dir = "$scratch/data-$instances"
max_instances = 4

[[plugin]]
name = "keyword-filter"
source = "$plugin"
commands = ["$command"]
instances = "$instances"
grants = { config = { banned = "spam,scam" } }
EOF
    counts[$instances]=$(per_request "$instances" "$port" "$hookbox" serve --config "$scratch/$instances.toml")
done
port=$(free_port)
counts[native]=$(per_request native "$port" "$bench" baseline --listen "127.0.0.1:$port")

# "native/this": native's instructions over this server's, what the share of native's
# requests per second would be if only user-space work counted.
echo "hookbox at HOOKBOX_LOG=$log"
printf '%-8s %15s %12s\n' server "instr./request" "native/this"
for name in fresh reuse native; do
    awk -v name="$name" -v n="${counts[$name]}" -v native="${counts[native]}" \
        'BEGIN { printf "%-8s %15d %10.1f %%\n", name, n, 100 * native / n }'
done
