#!/bin/sh
# Prints SOURCE_DATE_EPOCH for reproducible builds: the environment's value if set, else
# the time of the last git commit, else 0 (a source tree without git history).
set -eu
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
    echo "$SOURCE_DATE_EPOCH"
elif t=$(git -C "$(dirname "$0")" log -1 --format=%ct 2>/dev/null) && [ -n "$t" ]; then
    echo "$t"
else
    echo 0
fi
