#!/bin/sh
# Runs every fuzz target of fuzz/ for FUZZ_S seconds each (default 600), one after the
# other, starting from the committed seeds (fuzz/corpus/<target>/seed-*) plus what
# earlier runs found (fuzz/work/<target>, not committed). A crash or a hang (one input
# running over 10 s) stops the run; libFuzzer leaves the input in fuzz/artifacts/<target>/.
# Usage: scripts/fuzz.sh [TARGET...]   With FUZZ_RESULTS=FILE, executions per target are
# written there as a Markdown table.
set -eu
cd "$(dirname "$0")/.."
FUZZ_S=${FUZZ_S:-600}
scripts/install-deps.sh fuzz
TARGETS=${*:-$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^meshchat-fuzz$')}

# One build for every target (the sanitizer build of the crate takes minutes).
cargo +nightly fuzz build --fuzz-dir fuzz --target-dir fuzz/target >/dev/null 2>fuzz/build.log ||
    { cat fuzz/build.log >&2; exit 1; }

table=""
for t in $TARGETS; do
    mkdir -p "fuzz/work/$t"
    log="fuzz/work/$t.log"
    # -timeout: an input running this long is a hang, reported like a crash.
    if ! cargo +nightly fuzz run --fuzz-dir fuzz --target-dir fuzz/target "$t" \
        "fuzz/work/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$FUZZ_S" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "fuzz: $t FAILED (input in fuzz/artifacts/$t/; make it a regression test)" >&2
        exit 1
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
        echo "\`make fuzz\` on $(date -u +%Y-%m-%d), ${FUZZ_S} s per target, $(nproc) CPUs shared,"
        echo "address sanitizer, $(cargo +nightly --version | cut -d' ' -f2-)."
        echo
        echo "| target | executions | coverage (edges) | corpus |"
        echo "| --- | --- | --- | --- |"
        printf '%s' "$table"
    } >"$FUZZ_RESULTS"
    echo "fuzz: results in $FUZZ_RESULTS"
fi
