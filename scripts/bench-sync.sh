#!/bin/bash
# Sync costs, legacy pulls and digest-v1 side by side: 3 peers (`meshchat serve` on
# 127.0.0.2-4) holding the same N messages as the node under test, whose `meshchat sync
# --stats` reports every peer round (requests, body bytes, bytes on the wire, CPU time of
# the worker). Measured per round over the 3 peers: nothing new, then 1 and 100 new
# messages on one peer. Also the daemon's peak RSS. Prints markdown (bench.py appends it
# to bench/RESULTS.md).
#
# Usage: scripts/bench-sync.sh [BINARY]   (default: target/release/meshchat)
#        SIZES="500 10000" (messages per node), INTERVAL=2 (seconds between rounds)
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/target/release/meshchat}
SIZES=${SIZES:-"500 10000"}
INTERVAL=${INTERVAL:-2}
WORK=$(mktemp -d /tmp/meshchat-bench-sync.XXXXXX)
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# A legacy database of $1 messages, ids from $2 upward, one a second from epoch $3.
make_db() {
    awk -v n="$1" -v base="$2" -v start="$3" 'BEGIN {
        for (i = 0; i < n; i++)
            printf "%08x\t%d\tNet check-in %d: signal report 59, all stations please acknowledge\tK%dABC\tnode-%d\tnode\t%s\n",
                base + i, start + i, i, i % 50, i % 7, (i % 4 ? "ops" : "")
    }'
}

# Starts `serve` for node $1 on host $2 with $3 messages; sets PORT. (Not run in a
# subshell: the server's pid must reach PIDS.)
start_peer() {
    local dir=$WORK/$1
    mkdir -p "$dir"
    "$BIN" import --data "$dir" -o max_messages="$3" "$WORK/db" 2>/dev/null
    "$BIN" serve --listen "$2:0" --data "$dir" --node "$1" -o max_messages="$3" \
        >"$dir/out" 2>/dev/null &
    PIDS+=($!)
    for _ in $(seq 100); do
        grep -q listening "$dir/out" 2>/dev/null && break
        sleep 0.05
    done
    PORT=$(sed -n 's#^listening on http://[^:]*:\([0-9]*\)/$#\1#p' "$dir/out")
}

# Reads 3 stats lines (one round over the 3 peers) from fd 3; prints
# "requests body_bytes wire_bytes cpu_us" summed.
read_round() {
    local req=0 body=0 wire=0 cpu=0 line
    for _ in 1 2 3; do
        IFS= read -r -t 60 line <&3 || { echo "bench-sync: no round from the daemon" >&2; exit 1; }
        case $line in *ok=1*) ;; *) echo "bench-sync: failed round: $line" >&2; exit 1 ;; esac
        for kv in $line; do
            case $kv in
                requests=*) req=$((req + ${kv#*=})) ;;
                body_bytes=*) body=$((body + ${kv#*=})) ;;
                wire_bytes=*) wire=$((wire + ${kv#*=})) ;;
                cpu_us=*) cpu=$((cpu + ${kv#*=})) ;;
            esac
        done
    done
    echo "$req $body $wire $cpu"
}

# Measures one mode ($1: 1 = digest-v1, 0 = legacy) with $2 messages per node.
# Sets R_IDLE, R_ONE, R_HUNDRED, RSS.
measure() {
    local digest=$1 n=$2 tag=m$1-$2
    rm -rf "${WORK:?}"/p* "$WORK/me" "$WORK/fifo"
    make_db "$n" 1048576 $(($(date +%s) - n)) >"$WORK/db"
    local p1 p2 p3
    start_peer p1 127.0.0.2 "$n"
    p1=$PORT
    start_peer p2 127.0.0.3 "$n"
    p2=$PORT
    start_peer p3 127.0.0.4 "$n"
    p3=$PORT
    mkdir -p "$WORK/me/services"
    printf '##127.0.0.2##\nhttp://127.0.0.2:%s/meshchat|tcp|MeshChat [chat]\n##127.0.0.3##\nhttp://127.0.0.3:%s/meshchat|tcp|MeshChat [chat]\n##127.0.0.4##\nhttp://127.0.0.4:%s/meshchat|tcp|MeshChat [chat]\n' \
        "$p1" "$p2" "$p3" >"$WORK/me/services/0"
    mkfifo "$WORK/fifo"
    "$BIN" sync --stats --data "$WORK/me" --node bench-node -o max_messages="$n" \
        -o poll_interval="$INTERVAL" -o digest_sync="$digest" \
        -o services_dir="$WORK/me/services" -o services_olsr="$WORK/none" \
        >"$WORK/fifo" 2>"$WORK/sync-$tag.log" &
    local daemon=$!
    PIDS+=($daemon)
    exec 3<"$WORK/fifo"
    # We start empty: the first round pulls everything (from all 3 peers at once).
    R_FIRST=$(read_round)
    RSS_FIRST=$(awk '/VmHWM/ {print $2}' "/proc/$daemon/status")
    echo 5 >"/proc/$daemon/clear_refs" 2>/dev/null || true   # restart the peak count
    read_round >/dev/null          # settles
    R_IDLE=$(read_round)
    make_db 1 2097152 $(($(date +%s) + 10)) >"$WORK/new1"
    "$BIN" import --data "$WORK/p1" -o max_messages="$n" "$WORK/new1" 2>/dev/null
    R_ONE=$(read_round)
    read_round >/dev/null
    make_db 100 3145728 $(($(date +%s) + 20)) >"$WORK/new100"
    "$BIN" import --data "$WORK/p1" -o max_messages="$n" "$WORK/new100" 2>/dev/null
    R_HUNDRED=$(read_round)
    RSS=$(awk '/VmHWM/ {print $2}' "/proc/$daemon/status")
    exec 3<&-
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    PIDS=()
}

field() { echo "$1" | cut -d' ' -f"$2"; }
ms() { awk -v us="$1" 'BEGIN { printf "%.2f ms", us / 1000 }'; }

echo
echo "## Sync: legacy pulls and digest-v1, 3 peers"
echo
echo "One round = one pass over the 3 peers by \`meshchat sync\`, counted by the client:"
echo "requests, bytes of request and response bodies, bytes on the wire (HTTP headers"
echo "included, both ways) and CPU time of the worker threads (\`/proc/thread-self/schedstat\`)."
echo "New messages are added on one peer only. Peak RSS is the daemon's VmHWM (reset after the"
echo "first sync through /proc/PID/clear_refs where the kernel allows it)."
for n in $SIZES; do
    measure 0 "$n"
    L_FIRST=$R_FIRST L_IDLE=$R_IDLE L_ONE=$R_ONE L_HUNDRED=$R_HUNDRED L_RSS=$RSS L_RSS_FIRST=$RSS_FIRST
    measure 1 "$n"
    echo
    echo "### $n messages per node"
    echo
    echo "| round over 3 peers | legacy: requests | body bytes | wire bytes | CPU | digest-v1: requests | body bytes | wire bytes | CPU |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for row in "first sync of an empty node:FIRST" "nothing new:IDLE" "1 new message:ONE" "100 new messages:HUNDRED"; do
        label=${row%%:*} key=${row#*:}
        l=L_$key d=R_$key
        echo "| $label | $(field "${!l}" 1) | $(field "${!l}" 2) | $(field "${!l}" 3) | $(ms "$(field "${!l}" 4)") | $(field "${!d}" 1) | $(field "${!d}" 2) | $(field "${!d}" 3) | $(ms "$(field "${!d}" 4)") |"
    done
    echo "| daemon peak RSS, first sync | | | | $L_RSS_FIRST kB | | | | $RSS_FIRST kB |"
    echo "| daemon peak RSS, the rounds after | | | | $L_RSS kB | | | | $RSS kB |"
done
