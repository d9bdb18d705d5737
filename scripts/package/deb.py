#!/usr/bin/env python3
"""Builds the Debian / Raspberry Pi packages from the static cross binaries:

  dist/deb/meshchat_<version>_<amd64|arm64|armhf>.deb   (+ dist/deb/SHA256SUMS)

with systemd units for `meshchat serve` (port 8080) and `meshchat sync`, a `meshchat`
system user, data in /var/lib/meshchat and /etc/meshchat/meshchat.conf as a conffile.
Reproducible: dpkg-deb with SOURCE_DATE_EPOCH, root-owned members, fixed mtimes.

Usage: deb.py [ARCH...]   (OpenWrt arch names; default: those with a Debian arch)
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pkglib  # noqa: E402

ROOT = pkglib.ROOT
DEB = os.path.join(ROOT, "debian")

# (source in debian/ or None for the binary, installed path, mode)
LAYOUT = [
    (None, "usr/bin/meshchat", 0o755),
    ("meshchat.conf", "etc/meshchat/meshchat.conf", 0o644),
    ("meshchat.service", "lib/systemd/system/meshchat.service", 0o644),
    ("meshchat-sync.service", "lib/systemd/system/meshchat-sync.service", 0o644),
    ("tmpfiles.conf", "usr/lib/tmpfiles.d/meshchat.conf", 0o644),
    ("copyright", "usr/share/doc/meshchat/copyright", 0o644),
]


def build(arch, out_dir, epoch):
    debarch = pkglib.target(arch)["deb"]
    # The serve build: `meshchat serve` is what a Debian box runs, with the UI inside.
    binary = os.path.join(ROOT, "build", "cross-serve", arch, "meshchat")
    if not os.path.exists(binary):
        raise SystemExit(f"deb: {binary} is missing: run `make cross-serve ARCH={arch}`")
    stage = os.path.join(ROOT, "build", "deb", debarch)
    shutil.rmtree(stage, ignore_errors=True)
    size = 0
    for src, dest, mode in LAYOUT:
        path = os.path.join(stage, dest)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copyfile(binary if src is None else os.path.join(DEB, src), path)
        os.chmod(path, mode)
        size += os.path.getsize(path)
    control_dir = os.path.join(stage, "DEBIAN")
    os.makedirs(control_dir)
    with open(os.path.join(DEB, "control.in")) as f:
        control = (f.read().replace("@VERSION@", pkglib.version()).replace("@ARCH@", debarch)
                   .replace("@INSTALLED_SIZE_KB@", str((size + 1023) // 1024)))
    with open(os.path.join(control_dir, "control"), "w") as f:
        f.write(control)
    shutil.copyfile(os.path.join(DEB, "conffiles"), os.path.join(control_dir, "conffiles"))
    for s in ("postinst", "prerm", "postrm"):
        shutil.copyfile(os.path.join(DEB, s), os.path.join(control_dir, s))
        os.chmod(os.path.join(control_dir, s), 0o755)
    os.chmod(os.path.join(control_dir, "control"), 0o644)
    os.chmod(os.path.join(control_dir, "conffiles"), 0o644)
    for d, dirs, files in os.walk(stage):
        os.chmod(d, 0o755)
        for n in dirs + files:
            os.utime(os.path.join(d, n), (epoch, epoch), follow_symlinks=False)
    os.utime(stage, (epoch, epoch))
    os.makedirs(out_dir, exist_ok=True)
    deb = os.path.join(out_dir, f"meshchat_{pkglib.version()}_{debarch}.deb")
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch))
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", stage, deb],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    print(f"deb: {os.path.relpath(deb, ROOT):42} {os.path.getsize(deb):8d} bytes")


def main():
    archs = sys.argv[1:] or [a for a in pkglib.archs() if pkglib.target(a)["deb"] != "-"]
    archs = [a for a in archs if pkglib.target(a)["deb"] != "-"]
    epoch = pkglib.source_date_epoch()
    out = os.path.join(os.environ.get("MESHCHAT_DIST") or os.path.join(ROOT, "dist"), "deb")
    for arch in archs:
        build(arch, out, epoch)
    pkglib.write_sums(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
