#!/bin/sh
# Installs the pinned cross-build tools into the repository's tools/ folder (gitignored):
# the Rust nightly with rust-src (rustup), zig from PyPI in a venv, cargo-zigbuild from
# crates.io. Idempotent: quiet when everything is there. Versions: scripts/cross/pins.
set -eu
cd "$(dirname "$0")/../.."
. scripts/cross/pins

TOOLS=$PWD/tools
mkdir -p "$TOOLS"

sysroot() { rustup run "$CROSS_TOOLCHAIN" rustc --print sysroot 2>/dev/null; }
if ! rustup run "$CROSS_TOOLCHAIN" rustc --version >/dev/null 2>&1 ||
   ! [ -d "$(sysroot)/lib/rustlib/src/rust/library" ] ||
   ! [ -x "$(sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/llvm-objcopy" ]; then
    echo "cross: installing Rust $CROSS_TOOLCHAIN with rust-src and llvm-tools"
    rustup toolchain install "$CROSS_TOOLCHAIN" --profile minimal -c rust-src -c llvm-tools
fi

if ! "$TOOLS/venv/bin/python" -m ziglang version 2>/dev/null | grep -qx "$ZIG_VERSION"; then
    echo "cross: installing ziglang==$ZIG_VERSION into tools/venv"
    rm -rf "$TOOLS/venv"
    python3 -m venv "$TOOLS/venv"
    "$TOOLS/venv/bin/pip" install -q --disable-pip-version-check "ziglang==$ZIG_VERSION"
fi

# zopfli: gzip-compatible, 4% smaller packages (scripts/package/build.py).
if ! "$TOOLS/venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('zopfli') != '$ZOPFLI_VERSION')" 2>/dev/null; then
    echo "cross: installing zopfli==$ZOPFLI_VERSION into tools/venv"
    "$TOOLS/venv/bin/pip" install -q --disable-pip-version-check "zopfli==$ZOPFLI_VERSION"
fi

if ! "$TOOLS/bin/cargo-zigbuild" --version 2>/dev/null | grep -q " $ZIGBUILD_VERSION\$"; then
    echo "cross: installing cargo-zigbuild $ZIGBUILD_VERSION into tools/bin"
    cargo install -q --locked --root "$TOOLS" "cargo-zigbuild@$ZIGBUILD_VERSION"
fi
