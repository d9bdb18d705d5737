#!/usr/bin/env python3
"""Builds the node packages from build/cross/<ARCH>/meshchat, www/ and ipk/:

  dist/<ARCH>/meshchat_<version>_<ARCH>.ipk   opkg (AREDN <= 4.26.1)
  dist/<ARCH>/meshchat-<version>-r<rel>.apk   apk-tools v2 format (AREDN >= 4.26.7)
  dist/SHA256SUMS

Reproducible: every member is owned by 0:0, dated SOURCE_DATE_EPOCH (the last commit),
sorted by name; the file trees are compressed with zopfli (gzip format), the rest with
gzip -9, without a name or time stamp.

Usage: build.py [ARCH...]   (default: the five of scripts/cross/targets)
"""
import gzip
import hashlib
import io
import os
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pkglib  # noqa: E402

ROOT = pkglib.ROOT
IPK = os.path.join(ROOT, "ipk")
BUDGET = 300 * 1024  # bytes per package file (docs/BUDGETS.md)


class Entry:
    """One member of a package's file tree."""

    def __init__(self, path, kind, mode=0o644, data=b"", target=""):
        self.path, self.kind, self.mode, self.data, self.target = path, kind, mode, data, target


def read(path):
    with open(path, "rb") as f:
        return f.read()


def tree(arch):
    """The files a node package installs (same for .ipk and .apk), as Entries."""
    binary = os.path.join(ROOT, "build", "cross", arch, "meshchat")
    if not os.path.exists(binary):
        raise SystemExit(f"package: {binary} is missing: run `make cross ARCH={arch}`")
    icon = os.path.join(ROOT, "www", "icon.svg")
    if not os.path.exists(icon):
        raise SystemExit("package: www/icon.svg is missing (the app-launcher icon)")
    files = [
        # The binary lives in the web root so that uhttpd runs it as a regular file
        # whatever its symlink policy; /usr/bin/meshchat points to it.
        Entry("www/cgi-bin/meshchat", "file", 0o755, read(binary)),
        Entry("usr/bin/meshchat", "symlink", target="/www/cgi-bin/meshchat"),
    ]
    return with_dirs(files + other_files(icon))


def other_files(icon):
    """Everything but the binary: ipk/files (init script, configuration, ...), the
    app-launcher icon and the web UI."""
    files = []
    for rel in pkglib.ipk_files():
        src = os.path.join(IPK, "files", rel)
        files.append(Entry(rel, "file", pkglib.file_mode(rel, os.access(src, os.X_OK)), read(src)))
    files.append(Entry("www/apps/meshchat/icon.svg", "file", 0o644, read(icon)))
    for rel in pkglib.www_files():
        files.append(Entry("www/meshchat/" + rel, "file", 0o644, read(os.path.join(ROOT, "www", rel))))
    return files


def with_dirs(files):
    dirs = set()
    for e in files:
        parts = e.path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    out = [Entry(d, "dir", 0o755) for d in dirs] + files
    out.sort(key=lambda e: e.path)
    return out


def tarinfo(name, e, mtime):
    ti = tarfile.TarInfo(name)
    ti.mtime = mtime
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    ti.mode = e.mode
    if e.kind == "dir":
        ti.type = tarfile.DIRTYPE
    elif e.kind == "symlink":
        ti.type = tarfile.SYMTYPE
        ti.linkname = e.target
        ti.mode = 0o777
    else:
        ti.size = len(e.data)
    return ti


def make_tar(entries, mtime, prefix="./", root_dir=True, fmt=tarfile.GNU_FORMAT,
             pax=None, end=True):
    """A tar of entries in the given order. pax(e) -> dict adds PAX headers per member.
    end=False leaves out the end-of-archive blocks (an apk 'segment')."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        if root_dir:
            t.addfile(tarinfo(prefix, Entry("", "dir", 0o755), mtime))
        for e in entries:
            name = prefix + e.path + ("/" if e.kind == "dir" else "")
            ti = tarinfo(name, e, mtime)
            if pax:
                ti.pax_headers = pax(e)
            t.addfile(ti, io.BytesIO(e.data) if e.kind == "file" else None)
        size = t.offset
    data = buf.getvalue()
    return data if end else data[:size]


def zgz(data):
    """gzip with zopfli (tools/venv, pinned in scripts/cross/pins): the same format any
    gunzip reads, about 4% smaller than gzip -9, and deterministic."""
    try:
        import zopfli.gzip
    except ImportError:
        raise SystemExit("package: zopfli is missing: run scripts/cross/tools.sh and use "
                         "tools/venv/bin/python (make package does)")
    return zopfli.gzip.compress(data, numiterations=15)


def gz(data):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as g:
        g.write(data)
    return buf.getvalue()


def installed_size(entries):
    return sum(len(e.data) for e in entries if e.kind == "file")


def ipk(arch, entries, mtime):
    control = read(os.path.join(IPK, "control.in")).decode()
    control = (control.replace("@VERSION@", pkglib.version())
               .replace("@ARCH@", arch)
               .replace("@SOURCE_DATE_EPOCH@", str(mtime))
               .replace("@INSTALLED_SIZE@", str(installed_size(entries))))
    ctl = [Entry("control", "file", 0o644, control.encode()),
           Entry("conffiles", "file", 0o644, read(os.path.join(IPK, "conffiles")))]
    for s in pkglib.SCRIPTS:
        ctl.append(Entry(s, "file", 0o755, read(os.path.join(IPK, s))))
    ctl.sort(key=lambda e: e.path)
    members = [
        Entry("debian-binary", "file", 0o644, b"2.0\n"),
        Entry("control.tar.gz", "file", 0o644, gz(make_tar(ctl, mtime))),
        Entry("data.tar.gz", "file", 0o644, zgz(make_tar(entries, mtime))),
    ]
    # The outer archive keeps this order (debian-binary, control, data), as dpkg's does.
    return gz(make_tar(members, mtime, root_dir=False))


def apk(arch, entries, mtime):
    """apk-tools v2 package: gzip(control segment) + gzip(data tarball); .PKGINFO's
    datahash is the SHA-256 of the compressed data stream. apk-tools 3 (OpenWrt 25.12)
    still reads this format; unsigned, it installs with --allow-untrusted."""
    files = [e for e in entries if e.kind != "dir"]
    listed = sorted("/" + e.path for e in files)
    conf = read(os.path.join(IPK, "conffiles")).decode().split()
    by_path = {"/" + e.path: e for e in files}
    static = "".join(f"{c} {hashlib.sha256(by_path[c].data).hexdigest()}\n" for c in conf)
    meta = [
        Entry("lib/apk/packages/meshchat.list", "file", 0o644, ("\n".join(listed) + "\n").encode()),
        Entry("lib/apk/packages/meshchat.conffiles", "file", 0o644, ("\n".join(conf) + "\n").encode()),
        Entry("lib/apk/packages/meshchat.conffiles_static", "file", 0o644, static.encode()),
    ]
    data_entries = with_dirs(files + meta)

    def checksum(e):
        # As abuild-tar --hash: the SHA-1 of a file's bytes or of a symlink's target.
        if e.kind == "file":
            return {"APK-TOOLS.checksum.SHA1": hashlib.sha1(e.data).hexdigest()}
        if e.kind == "symlink":
            return {"APK-TOOLS.checksum.SHA1": hashlib.sha1(e.target.encode()).hexdigest()}
        return {}

    data = zgz(make_tar(data_entries, mtime, prefix="", root_dir=False,
                       fmt=tarfile.PAX_FORMAT, pax=checksum))
    pkginfo = "\n".join([
        "# Generated by meshchat scripts/package/build.py",
        "pkgname = meshchat",
        f"pkgver = {pkglib.version()}-r{pkglib.RELEASE}",
        "pkgdesc = " + pkglib.DESCRIPTION,
        "url = " + pkglib.URL,
        f"builddate = {mtime}",
        "packager = MeshChat developers",
        f"size = {installed_size(data_entries)}",
        f"arch = {arch}",
        "origin = meshchat",
        "maintainer = MeshChat developers",
        "license = GPL-3.0-only",
        f"datahash = {hashlib.sha256(data).hexdigest()}",
    ]) + "\n"
    ctl = [Entry(".PKGINFO", "file", 0o644, pkginfo.encode())]
    for script, source in pkglib.APK_SCRIPTS:
        ctl.append(Entry(script, "file", 0o755, read(os.path.join(IPK, source))))
    control = gz(make_tar(ctl, mtime, prefix="", root_dir=False, fmt=tarfile.PAX_FORMAT, end=False))
    return control + data


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def main():
    archs = sys.argv[1:] or pkglib.archs()
    mtime = pkglib.source_date_epoch()
    dist = os.environ.get("MESHCHAT_DIST") or os.path.join(ROOT, "dist")
    over = []
    for arch in archs:
        pkglib.target(arch)
        entries = tree(arch)
        for name, data in ((pkglib.ipk_name(arch), ipk(arch, entries, mtime)),
                           (pkglib.apk_name(), apk(arch, entries, mtime))):
            write(os.path.join(dist, arch, name), data)
            flag = "" if len(data) <= BUDGET else "  OVER BUDGET"
            print(f"package: {arch}/{name:36} {len(data):8d} bytes{flag}")
            if flag:
                over.append(name)
    pkglib.write_sums(dist)
    if over:
        print(f"package: over the {BUDGET} byte budget: {' '.join(over)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
