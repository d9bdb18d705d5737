#!/usr/bin/env python3
"""Checks openwrt-feed/net/meshchat/Makefile as far as this machine allows (no OpenWrt
buildroot here): GNU make loads it in a stand-in buildroot (tests/packages/feed-stub)
with the packages feed's RustBinPackage; its Build/Prepare and Package/meshchat/install
run into a temp folder, which must hold exactly the files `make package` installs, with
the same modes; its version, release, build dependency and scripts must match."""
import os
import stat
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "package"))
import pkglib  # noqa: E402
from checks import check, finish  # noqa: E402

STUB = os.path.join(ROOT, "tests", "packages", "feed-stub")
FEED = os.path.join(ROOT, "openwrt-feed", "net", "meshchat", "Makefile")
EXECUTABLES = {"/www/cgi-bin/meshchat", "/etc/init.d/meshchat", "/www/cgi-bin/apps/meshchat/user",
               "/etc/local/mesh-firewall/30-meshchat-raven"}


def main():
    binary = os.path.join(ROOT, "build", "cross", "x86_64", "meshchat")
    if not os.path.exists(binary):
        print("feed_test: build/cross/x86_64/meshchat missing (make cross ARCH=x86_64)")
        return 1
    with tempfile.TemporaryDirectory(prefix="meshchat-feed-") as tmp:
        dest, out, build = (os.path.join(tmp, d) for d in ("dest", "out", "build"))
        os.makedirs(out)
        r = subprocess.run(["make", "--no-print-directory", "-f", os.path.join(STUB, "driver.mk"),
                            f"FEED_MAKEFILE={FEED}", f"TOPDIR={STUB}", f"BUILD_DIR={build}",
                            f"MESHCHAT_SRC={ROOT}", f"BINARY={binary}", f"DEST={dest}", f"OUT={out}",
                            "check"], capture_output=True, text=True)
        check(r.returncode == 0, f"make loads the feed Makefile and runs its install ({r.stderr.strip()[-400:]})")
        if r.returncode != 0:
            return 1
        found = {}
        for d, dirs, files in os.walk(dest):
            for f in dirs + files:
                p = os.path.join(d, f)
                if os.path.islink(p) or not os.path.isdir(p):
                    found["/" + os.path.relpath(p, dest)] = p
        want = pkglib.installed_paths()
        check(sorted(found) == want,
              f"installs the same files as make package (diff {sorted(set(found) ^ set(want))})")
        modes = []
        for name, p in found.items():
            if os.path.islink(p):
                continue
            m = stat.S_IMODE(os.stat(p).st_mode)
            if m != pkglib.file_mode(name.lstrip("/"), name in EXECUTABLES):
                modes.append(f"{name}={oct(m)}")
        check(not modes, f"same file modes as make package {modes}")
        conf = found.get("/etc/config/meshchat")
        check(conf is not None and stat.S_IMODE(os.stat(conf).st_mode) == 0o600,
              "/etc/config/meshchat installed 0600 (INSTALL_CONF: it may hold admin_token)")
        link = found.get("/usr/bin/meshchat")
        check(link is not None and os.path.islink(link) and os.readlink(link) == "/www/cgi-bin/meshchat",
              "/usr/bin/meshchat -> /www/cgi-bin/meshchat")
        with open(os.path.join(out, "vars")) as f:
            text = f.read().strip()
        rustflags = text.split(" RUSTFLAGS=", 1)[1] if " RUSTFLAGS=" in text else ""
        v = dict(w.split("=", 1) for w in text.split(" RUSTFLAGS=")[0].split() if "=" in w)
        v["RUSTFLAGS"] = rustflags
        check(v.get("PKG_NAME") == "meshchat", "PKG_NAME meshchat")
        check(v.get("PKG_VERSION") == pkglib.version(), f"PKG_VERSION = Cargo.toml's {pkglib.version()}")
        check(v.get("PKG_RELEASE") == str(pkglib.RELEASE), f"PKG_RELEASE = {pkglib.RELEASE}")
        check(v.get("PKG_BUILD_DEPENDS") == "rust/host", "PKG_BUILD_DEPENDS:=rust/host")
        check(v.get("BUILT") == "meshchat" and v.get("RUSTBIN") == "meshchat",
              "BuildPackage and RustBinPackage called for meshchat")
        check(v.get("RUSTFLAGS", "").endswith("+crt-static"), "links statically (+crt-static last)")
        for s in pkglib.SCRIPTS:
            with open(os.path.join(out, s)) as a, open(os.path.join(ROOT, "ipk", s)) as b:
                mine, theirs = a.read(), b.read()
            check(mine.rstrip("\n") == theirs.rstrip("\n"), f"Package/meshchat/{s} is ipk/{s}")
        with open(os.path.join(out, "conffiles")) as f:
            check(f.read().split() == ["/etc/config/meshchat"], "conffiles /etc/config/meshchat")
    # Cross.toml (for `cross` users): the same five targets, std rebuilt for MIPS.
    import tomllib
    with open(os.path.join(ROOT, "Cross.toml"), "rb") as f:
        cross = tomllib.load(f)
    targets = cross.get("target", {})
    check(sorted(targets) == sorted(pkglib.target(a)["rust"] for a in pkglib.archs()),
          "Cross.toml configures the five targets of scripts/cross/targets")
    check(all(targets.get(t, {}).get("build-std") for t in
              ("mips-unknown-linux-musl", "mipsel-unknown-linux-musl")), "Cross.toml: build-std for MIPS")
    return finish("feed_test")


if __name__ == "__main__":
    sys.exit(main())
