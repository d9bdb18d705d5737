#!/bin/sh
# Runs every fuzz target of fuzz/ for FUZZ_S seconds each (default 600), one after the
# other, starting from the committed seeds (fuzz/corpus/<target>/seed-*) plus what
# earlier runs found (fuzz/work/<target>, not committed). A crash or a hang (one input
# running over 10 s) fails the target; libFuzzer leaves the input in fuzz/artifacts/<target>/.
# Usage: scripts/fuzz.sh [TARGET...]   With FUZZ_RESULTS=FILE, executions per target are
# written there as a Markdown table. A crash or hang in one target does not stop the
# others; the script fails at the end.
set -eu
cd "$(dirname "$0")/.."
FUZZ_S=${FUZZ_S:-600}
scripts/install-deps.sh fuzz
. scripts/cross/pins
NIGHTLY=+$CROSS_TOOLCHAIN
TARGETS=${*:-$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^meshchat-fuzz$')}

# One build for every target (the sanitizer build of the crate takes minutes).
cargo "$NIGHTLY" fuzz build --fuzz-dir fuzz --target-dir fuzz/target >fuzz/build.log 2>&1 ||
    { cat fuzz/build.log >&2; exit 1; }

# The log, services and cgi targets work in temporary directories: on a RAM file
# system they run ten times as many inputs.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    export TMPDIR=/dev/shm
fi
HOST=$(rustc "$NIGHTLY" -vV | sed -n "s/^host: //p")
# Executions depend on what else the machine runs: the results say how loaded it was.
load_start=$(cut -d ' ' -f 1 /proc/loadavg)
table=""
failed=""
for t in $TARGETS; do
    mkdir -p "fuzz/work/$t"
    log="fuzz/work/$t.log"
    # The binaries built above, run directly (cargo fuzz run would check the build
    # again for every target). -timeout: an input running this long is a hang.
    mkdir -p "fuzz/artifacts/$t"
    if ! "fuzz/target/$HOST/release/$t" "fuzz/work/$t" "fuzz/corpus/$t" \
        -artifact_prefix="fuzz/artifacts/$t/" -max_total_time="$FUZZ_S" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "fuzz: $t FAILED (input in fuzz/artifacts/$t/; make it a regression test)" >&2
        failed="$failed $t"
        continue
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' "$log" | tail -n 1)
    corpus=$(find "fuzz/work/$t" -type f | wc -l)
    echo "fuzz: $t: ${runs:-?} executions in ${FUZZ_S} s, coverage ${cov:-?} edges, corpus $corpus inputs, no crash"
    table="$table| $t | ${runs:-?} | ${cov:-?} | $corpus |
"
done

if [ -n "${FUZZ_RESULTS:-}" ]; then
    {
        echo "# Fuzzing results"
        echo
        echo "\`make fuzz\` on $(date -u +%Y-%m-%d), ${FUZZ_S} s per target, $(nproc) CPUs (load average"
        echo "$load_start at the start, $(cut -d ' ' -f 1 /proc/loadavg) at the end), address sanitizer,"
        echo "$(rustc "$NIGHTLY" --version)."
        echo
        echo "| target | executions | coverage (edges) | corpus |"
        echo "| --- | --- | --- | --- |"
        printf '%s' "$table"
    } >"$FUZZ_RESULTS"
    echo "fuzz: results in $FUZZ_RESULTS"
fi

if [ -n "$failed" ]; then
    echo "fuzz: FAILED:$failed" >&2
    exit 1
fi
