#!/bin/sh
# Reproducibility check: builds ARCHs in the usual cargo folder (target-cross/) and in a
# second one (target-repro/), then compares the bytes. Usage: repro.sh [ARCH...]
set -eu
cd "$(dirname "$0")/../.."
ARCHS="$*"
[ -n "$ARCHS" ] || ARCHS=$(awk '!/^#/ && NF { print $1 }' scripts/cross/targets)
# shellcheck disable=SC2086
scripts/cross/build.sh $ARCHS
for arch in $ARCHS; do
    cp "build/cross/$arch/meshchat" "build/cross/$arch/meshchat.first"
done
# shellcheck disable=SC2086
CROSS_TARGET_DIR="$PWD/target-repro" scripts/cross/build.sh $ARCHS
status=0
for arch in $ARCHS; do
    if cmp -s "build/cross/$arch/meshchat" "build/cross/$arch/meshchat.first"; then
        echo "repro: $arch identical (sha256 $(sha256sum < "build/cross/$arch/meshchat" | cut -c1-16)...)"
    else
        echo "repro: $arch DIFFERS between target-cross/ and target-repro/" >&2
        status=1
    fi
    mv "build/cross/$arch/meshchat.first" "build/cross/$arch/meshchat"
done
exit $status
