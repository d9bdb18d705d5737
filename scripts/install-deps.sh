#!/bin/sh
# Installs what building and testing meshchat needs on a fresh Debian machine.
# Usage: install-deps.sh rust|fuzz|all. Installs only what is missing; quiet when all is there.
set -eu

need_apt=""
want() { command -v "$1" >/dev/null 2>&1 || need_apt="$need_apt $2"; }

if ! command -v cargo >/dev/null 2>&1; then
    echo "install-deps: cargo not found; install Rust (https://rustup.rs) first" >&2
    exit 1
fi
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy
fi

# cargo fuzz (scripts/fuzz.sh): the pinned nightly of the cross builds and cargo-fuzz.
if [ "${1:-all}" = fuzz ] || [ "${1:-all}" = all ]; then
    . "$(dirname "$0")/cross/pins"
    if ! rustup run "$CROSS_TOOLCHAIN" rustc --version >/dev/null 2>&1; then
        rustup toolchain install "$CROSS_TOOLCHAIN" --profile minimal
    fi
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "install-deps: cargo install cargo-fuzz"
        cargo install -q --locked cargo-fuzz@0.13.2
    fi
fi

if [ "${1:-all}" = all ]; then
    want gzip gzip
    want valgrind valgrind
    want hyperfine hyperfine
    want chromium chromium
    want qemu-mips-static qemu-user-static
    want busybox busybox
    # make bench: CGI requests side by side under a real web server.
    [ -x /usr/sbin/lighttpd ] || command -v lighttpd >/dev/null 2>&1 || need_apt="$need_apt lighttpd"
    want file file
    # examples/ (run by tests/examples.rs): the webhook hook posts with curl or wget.
    want curl curl
    want wget wget
    # Packaging suites (mk/cross.mk, mk/package.mk): ELF checks, the deb's system user,
    # its systemd units.
    want readelf binutils
    want useradd passwd
    want systemd-analyze systemd
    # Load (scripts/bench-load.py): wrk against serve and the CGI under lighttpd.
    want wrk wrk
    want lighttpd lighttpd
    # The namespace test (mk/netns.mk): ip netns, TAP devices.
    want ip iproute2
    # The mesh-firewall hook's rules through the real nft (tests/packages/firewall_test.py).
    [ -x /usr/sbin/nft ] || command -v nft >/dev/null 2>&1 || need_apt="$need_apt nftables"
    # The API-description check (scripts/openapi-check.sh) makes a venv.
    python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt="$need_apt python3-venv"
fi

if [ -n "$need_apt" ]; then
    echo "install-deps: apt-get install$need_apt"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $need_apt >/dev/null
fi
