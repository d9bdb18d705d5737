"""Shared facts for the packaging scripts and tests: targets, version, file modes."""
import os
import re
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _targets():
    rows = []
    with open(os.path.join(ROOT, "scripts", "cross", "targets")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            arch, rust, qemu, cpu, deb = line.split()
            rows.append({"arch": arch, "rust": rust, "qemu": qemu, "cpu": cpu, "deb": deb})
    return rows


def archs():
    return [t["arch"] for t in _targets()]


def target(arch):
    for t in _targets():
        if t["arch"] == arch:
            return t
    raise SystemExit(f"unknown ARCH {arch!r}; one of: {' '.join(archs())}")


def version():
    """The package version: [package] version in Cargo.toml."""
    with open(os.path.join(ROOT, "Cargo.toml")) as f:
        text = f.read()
    m = re.search(r'^\[package\][^\[]*?^version\s*=\s*"([^"]+)"', text, re.M | re.S)
    if not m:
        raise SystemExit("Cargo.toml: no [package] version")
    return m.group(1)


def source_date_epoch():
    out = subprocess.run([os.path.join(ROOT, "scripts", "package", "source-date-epoch.sh")],
                         capture_output=True, text=True, check=True).stdout.strip()
    return int(out)


# Files whose mode is not the default (0755 for executables, 0644 for the rest), by path
# in the package: the configuration may hold admin_token, so only root reads it (the
# .deb's /etc/meshchat/meshchat.conf is restricted the same way, 0640 root:meshchat).
MODES = {"etc/config/meshchat": 0o600}


def file_mode(rel, executable):
    """The mode a node package installs `rel` (no leading /) with."""
    return MODES.get(rel, 0o755 if executable else 0o644)


# Package facts shared by build.py, the tests and openwrt-feed's check.
RELEASE = 1
DESCRIPTION = ("MeshChat for AREDN mesh networks: chat API, message log, sync daemon "
               "and web UI in one static binary")
URL = "https://www.arednmesh.org/"
# opkg maintainer scripts, in ipk/.
SCRIPTS = ["preinst", "postinst", "prerm", "postrm"]
# apk's scripts and the ipk/ script each one runs (apk runs pre/post-upgrade, not
# pre/post-install, when it replaces an installed meshchat, e.g. the Lua one).
APK_SCRIPTS = [(".pre-install", "preinst"), (".post-install", "postinst"),
               (".pre-upgrade", "preinst"), (".post-upgrade", "postinst"),
               (".pre-deinstall", "prerm"), (".post-deinstall", "postrm")]


def _walk(top):
    out = []
    for d, dirs, files in os.walk(top):
        dirs[:] = sorted(x for x in dirs if not x.startswith("."))
        for f in sorted(files):
            if not f.startswith("."):
                out.append(os.path.relpath(os.path.join(d, f), top))
    return sorted(out)


def ipk_files():
    """Files under ipk/files/, relative (they install at the same path)."""
    return _walk(os.path.join(ROOT, "ipk", "files"))


def www_files():
    """The web UI: every file of www/ (installed under /www/meshchat/)."""
    return _walk(os.path.join(ROOT, "www"))


def ipk_name(arch):
    return f"meshchat_{version()}_{arch}.ipk"


def apk_name():
    return f"meshchat-{version()}-r{RELEASE}.apk"


def installed_paths():
    """Every file and symlink a node package installs (absolute), as `make package`
    lays them out; openwrt-feed's Makefile must install the same."""
    paths = ["/www/cgi-bin/meshchat", "/usr/bin/meshchat", "/www/apps/meshchat/icon.svg"]
    paths += ["/" + p for p in ipk_files()]
    paths += ["/www/meshchat/" + p for p in www_files()]
    return sorted(paths)


def write_sums(dist, skip=("deb",)):
    """dist/SHA256SUMS over every file below dist, except the folders in skip (the .deb
    files have their own list in dist/deb)."""
    import hashlib
    lines = []
    for d, dirs, files in os.walk(dist):
        if d == dist:
            dirs[:] = [x for x in dirs if x not in skip]
        dirs.sort()
        for f in sorted(files):
            if f == "SHA256SUMS" or f.endswith(".tmp"):
                continue
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                lines.append(f"{hashlib.sha256(fh.read()).hexdigest()}  {os.path.relpath(p, dist)}\n")
    with open(os.path.join(dist, "SHA256SUMS"), "w") as fh:
        fh.writelines(sorted(lines, key=lambda l: l.split("  ", 1)[1]))
