#!/bin/sh
# Builds fully static musl binaries for the radios with the pinned tools (installed into
# tools/ on first use). Usage: scripts/cross/build.sh [ARCH...]
#   ARCH: OpenWrt package arch from scripts/cross/targets (default: all five).
# Output: build/cross/<ARCH>/meshchat (stripped): the node build, without `serve` and the
# embedded web UI (uhttpd runs the CGI and serves /www/meshchat/). With CROSS_SERVE=1: build/cross-serve/<ARCH>/meshchat,
# the `serve` build with the UI inside (the .deb packages). Cargo's work folder: target-cross/.
set -eu
cd "$(dirname "$0")/../.."
ROOT=$PWD
. scripts/cross/pins
scripts/cross/tools.sh

export PATH="$ROOT/tools/bin:$ROOT/tools/venv/bin:$PATH"
# Keep zig's caches inside the repository (nothing in ~/.cache).
export XDG_CACHE_HOME="$ROOT/build/cache"
export ZIG_GLOBAL_CACHE_DIR="$ROOT/build/cache/zig"
export ZIG_LOCAL_CACHE_DIR="$ROOT/build/cache/zig-local"
export CARGO_TARGET_DIR="${CROSS_TARGET_DIR:-$ROOT/target-cross}"
if [ -n "${CROSS_SERVE:-}" ]; then
    OUT="${CROSS_OUT:-$ROOT/build/cross-serve}"
    FEATURES=""
else
    OUT="${CROSS_OUT:-$ROOT/build/cross}"
    FEATURES="--no-default-features --features node"
fi
# 64-bit time_t on the 32-bit targets (musl >= 1.2 symbols): epochs outlive 2038.
export RUST_LIBC_UNSTABLE_MUSL_V1_2_3=1
# Reproducible: no host paths in the binary, no build-time timestamps.
SOURCE_DATE_EPOCH=$(scripts/package/source-date-epoch.sh)
export SOURCE_DATE_EPOCH

# Size: the cross profile aborts without unwinding or formatting panic messages (see
# docs/PACKAGING.md; every error already travels as a Result), and std is rebuilt with
# opt-level z, its optimize_for_size variants and without backtrace symbolisation.
PROFILE_FLAGS="${CROSS_PROFILE_FLAGS-"-Zpanic-immediate-abort --config profile.release.panic=\"immediate-abort\""}"

OBJCOPY="$(rustup run "$CROSS_TOOLCHAIN" rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/llvm-objcopy"

# Nightly-only code-size flags, given here rather than in .cargo/config.toml so that a
# stable musl build still works: Debug formatting compiled out (`{:?}` prints nothing; the
# program uses it in tests only) and no source locations kept for panics (they abort
# silently anyway).
NIGHTLY_RUSTFLAGS="${CROSS_NIGHTLY_RUSTFLAGS-\"-Zfmt-debug=none\", \"-Zlocation-detail=none\"}"

# zig builds its C library with unwind tables (.eh_frame, 10 KB on mips_24kc) unless the
# link says otherwise; nothing in the program unwinds (panics abort, musl does not unwind).
LINK_RUSTFLAGS="${CROSS_LINK_RUSTFLAGS-, \"-Clink-arg=-fno-unwind-tables\", \"-Clink-arg=-fno-asynchronous-unwind-tables\"}"

# MIPS: tail calls (a call in tail position becomes a jump), off by default in LLVM's
# MIPS back end; 5 KB smaller. Delay slots filled from the branch's likelier successor
# block too, not only from before the branch (also off by default): 8.5 KB of `nop`s
# fewer. Only MIPS's LLVM knows the options.
MIPS_RUSTFLAGS="${CROSS_MIPS_RUSTFLAGS-, \"-Cllvm-args=-mips-tail-calls=1\", \"-Cllvm-args=-disable-mips-df-succbb-search=false\"}"

ARCHS="$*"
[ -n "$ARCHS" ] || ARCHS=$(awk '!/^#/ && NF { print $1 }' scripts/cross/targets)

for arch in $ARCHS; do
    target=$(awk -v a="$arch" '$1 == a { print $2 }' scripts/cross/targets)
    if [ -z "$target" ]; then
        echo "cross: unknown ARCH '$arch'; one of: $(awk '!/^#/ && NF { printf "%s ", $1 }' scripts/cross/targets)" >&2
        exit 2
    fi
    echo "cross: $arch ($target)"
    case $target in
        mips*) target_flags="$MIPS_RUSTFLAGS" ;;
        *) target_flags="" ;;
    esac
    # shellcheck disable=SC2086
    cargo "+$CROSS_TOOLCHAIN" zigbuild --release --locked --target "$target" $FEATURES \
        -Zbuild-std=std,panic_abort -Zbuild-std-features="${CROSS_STD_FEATURES-optimize_for_size}" \
        -Ztrim-paths --config 'profile.release.trim-paths="all"' \
        --config "target.$target.rustflags=[$NIGHTLY_RUSTFLAGS$LINK_RUSTFLAGS$target_flags]" \
        $PROFILE_FLAGS ${CROSS_EXTRA_FLAGS:-}
    mkdir -p "$OUT/$arch"
    # The linker's strip leaves sections that are never loaded, such as MIPS's .pdr
    # (90 KB of procedure descriptors) and .comment: drop them.
    if [ -n "${CROSS_NO_OBJCOPY:-}" ]; then
        cp "$CARGO_TARGET_DIR/$target/release/meshchat" "$OUT/$arch/meshchat.tmp"
    else
        "$OBJCOPY" --strip-all "$CARGO_TARGET_DIR/$target/release/meshchat" "$OUT/$arch/meshchat.tmp"
    fi
    mv "$OUT/$arch/meshchat.tmp" "$OUT/$arch/meshchat"
    printf 'cross: %-26s %8d bytes%s\n' "$arch" "$(wc -c < "$OUT/$arch/meshchat")" "${CROSS_SERVE:+ (serve build, web UI inside)}"
done
