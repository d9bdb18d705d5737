#!/usr/bin/env python3
"""Checks the node packages in dist/ (built by `make package`):

- every .ipk, opened with GNU tar and gzip: outer format and member order, control fields,
  architecture, conffiles, file list and modes, size budget, the CGI entry answering;
- every .apk, read the way apk-tools reads a v2 package (one tar stream over gzip
  members: control segment, then data with the datahash of .PKGINFO), its fields, the
  per-file checksums, lib/apk/packages/meshchat.list; GNU tar must list it too;
- the x86_64 packages installed into a throw-away root (chroot with busybox) whose
  maintainer scripts run against a fake uci, node-setup, restart-services and procd,
  with and without a Lua MeshChat to replace; then removed.

Usage: package_test.py [ARCH...]   (default: the five)
"""
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse
import zlib

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "package"))
import pkglib  # noqa: E402
from checks import check, finish  # noqa: E402

PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fakeroot")
# Each node package: a node's free flash (docs/PACKAGING.md). Every node package meets
# the 300 KB goal, so it is the enforced budget; the distance to it is printed.
BUDGET = 300 * 1024
GOAL = BUDGET
EXECUTABLES = {"www/cgi-bin/meshchat", "etc/init.d/meshchat", "www/cgi-bin/apps/meshchat/user",
               "etc/local/mesh-firewall/30-meshchat-raven"}


def sh(args, **kw):
    return subprocess.run(args, capture_output=True, check=False, **kw)


def qemu(arch):
    t = pkglib.target(arch)
    cmd = [f"/usr/bin/qemu-{t['qemu']}-static"]
    return cmd + (["-cpu", t["cpu"]] if t["cpu"] != "-" else [])


def expected_data_paths():
    """Files and symlinks of a node package, relative."""
    return sorted(p.lstrip("/") for p in pkglib.installed_paths())


def control_fields(text):
    fields, key = {}, None
    for line in text.splitlines():
        if line.startswith(" ") and key:
            fields[key] += "\n" + line
        elif ":" in line:
            key, _, v = line.partition(":")
            fields[key] = v.strip()
    return fields


def run_cgi(arch, binary, tmp, query):
    cfg = os.path.join(tmp, "cfg")
    with open(cfg, "w") as f:
        f.write(f"config meshchat 'main'\n\toption node 'PKG-test'\n"
                f"\toption data_dir '{tmp}/data'\n\toption ram_dir '{tmp}/ram'\n")
    env = {"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "GET", "QUERY_STRING": query,
           "MESHCHAT_CONFIG": cfg, "PATH": "/usr/bin:/bin"}
    return sh(qemu(arch) + [binary], env=env, timeout=60)


# ---------------------------------------------------------------------------- .ipk

def check_ipk(arch, path):
    name = os.path.basename(path)
    size = os.path.getsize(path)
    check(size <= BUDGET, f"{name}: {size} bytes <= {BUDGET}")
    print(f"  goal {name}: {size} bytes against {GOAL}: "
          + (f"{GOAL - size} to spare" if size <= GOAL else f"{size - GOAL} over"))
    with open(path, "rb") as f:
        check(f.read(2) == b"\x1f\x8b", f"{name}: outer file is gzip")
    check(sh(["gzip", "-t", path]).returncode == 0, f"{name}: gzip -t passes")
    listing = sh(["tar", "-tzf", path], text=True).stdout.split()
    check(listing == ["./debian-binary", "./control.tar.gz", "./data.tar.gz"],
          f"{name}: members debian-binary, control.tar.gz, data.tar.gz in order (got {listing})")
    with tempfile.TemporaryDirectory() as tmp:
        sh(["tar", "-xzf", path, "-C", tmp])
        with open(os.path.join(tmp, "debian-binary"), "rb") as f:
            check(f.read() == b"2.0\n", f"{name}: debian-binary is 2.0")
        os.mkdir(os.path.join(tmp, "c"))
        os.mkdir(os.path.join(tmp, "d"))
        check(sh(["tar", "-xzf", os.path.join(tmp, "control.tar.gz"), "-C", os.path.join(tmp, "c")]).returncode == 0,
              f"{name}: control.tar.gz extracts")
        check(sh(["tar", "-xzf", os.path.join(tmp, "data.tar.gz"), "-C", os.path.join(tmp, "d")]).returncode == 0,
              f"{name}: data.tar.gz extracts")
        with open(os.path.join(tmp, "c", "control")) as f:
            fields = control_fields(f.read())
        data_members = members(os.path.join(tmp, "data.tar.gz"))
        files = {m.name[2:]: m for m in data_members if m.name not in ("./",)}
        total = sum(m.size for m in data_members if m.isfile())
        check(fields.get("Package") == "meshchat", f"{name}: Package: meshchat")
        check(fields.get("Version") == pkglib.version(), f"{name}: Version: {pkglib.version()}")
        check(fields.get("Architecture") == arch, f"{name}: Architecture: {arch}")
        check(fields.get("Section") == "net", f"{name}: Section: net")
        check(bool(fields.get("Maintainer")), f"{name}: Maintainer set")
        check(bool(fields.get("Description")), f"{name}: Description set")
        check(fields.get("Installed-Size") == str(total), f"{name}: Installed-Size = {total}")
        check(not fields.get("Depends"), f"{name}: no Depends (static binary)")
        with open(os.path.join(tmp, "c", "conffiles")) as f:
            check(f.read().split() == ["/etc/config/meshchat"], f"{name}: conffiles lists /etc/config/meshchat")
        ctl = {m.name: m for m in members(os.path.join(tmp, "control.tar.gz"))}
        for s in pkglib.SCRIPTS:
            m = ctl.get("./" + s)
            check(m is not None and m.mode == 0o755, f"{name}: control script {s} is 0755")
            if m is not None:
                same = filecmp(os.path.join(tmp, "c", s), os.path.join(ROOT, "ipk", s))
                check(same, f"{name}: {s} is ipk/{s}")
        check_data_tree(name, files)
        binary = os.path.join(tmp, "d", "www", "cgi-bin", "meshchat")
        r = run_cgi(arch, binary, tmp, "action=config")
        body = r.stdout.partition(b"\r\n\r\n")[2]
        check(r.returncode == 0 and json_field(body, "node") == "PKG-test",
              f"{name}: the CGI entry /www/cgi-bin/meshchat answers action=config")
        out = sh(["sh", os.path.join(tmp, "d", "www", "cgi-bin", "apps", "meshchat", "user")]).stdout
        check(out.startswith(b"Status: 307") and b"\r\nLocation: /meshchat/\r\n" in out,
              f"{name}: app launcher redirects to /meshchat/")


def members(path):
    with tarfile.open(path, "r:gz") as t:
        return t.getmembers()


def filecmp(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def json_field(body, key):
    try:
        return json.loads(body).get(key)
    except ValueError:
        return None


def check_data_tree(name, files):
    """files: relative name -> TarInfo (dirs end with '/')."""
    paths = sorted(n for n, m in files.items() if not m.isdir())
    check(paths == expected_data_paths(),
          f"{name}: installs exactly the expected files (diff: "
          f"{sorted(set(paths) ^ set(expected_data_paths()))})")
    for n, m in files.items():
        if m.uid != 0 or m.gid != 0:
            check(False, f"{name}: {n} owned by 0:0")
    bad = []
    for n, m in files.items():
        if m.isdir():
            ok = m.mode == 0o755
        elif m.issym():
            ok = True
        else:
            ok = m.mode == pkglib.file_mode(n, n in EXECUTABLES)
        if not ok:
            bad.append(f"{n}={oct(m.mode)}")
    check(not bad, f"{name}: modes 0755 for executables and dirs, 0600 for the configuration, "
          f"0644 for the rest {bad}")
    conf = files.get("etc/config/meshchat")
    check(conf is not None and conf.mode == 0o600, f"{name}: /etc/config/meshchat is 0600 (admin_token)")
    link = files.get("usr/bin/meshchat")
    check(link is not None and link.issym() and link.linkname == "/www/cgi-bin/meshchat",
          f"{name}: /usr/bin/meshchat -> /www/cgi-bin/meshchat")
    check("www/meshchat/index.html" in files and "www/apps/meshchat/icon.svg" in files,
          f"{name}: web UI and app-launcher icon present")


# ---------------------------------------------------------------------------- .apk

def gzip_members(data):
    """Splits concatenated gzip streams (apk-tools hashes each one on its own)."""
    out, pos = [], 0
    while pos < len(data):
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        plain = d.decompress(data[pos:])
        used = len(data) - pos - len(d.unused_data)
        out.append((data[pos:pos + used], plain))
        pos += used
    return out


def parse_tar(blob, allow_unterminated):
    """(name, TarInfo) of a raw tar byte string via tarfile; a control segment has no
    end-of-archive blocks, so pad it for the reader."""
    data = blob + (b"\0" * 1024 if allow_unterminated else b"")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as t:
        return [(m, t.extractfile(m).read() if m.isfile() else b"") for m in t.getmembers()]


def check_apk(arch, path):
    name = f"{arch}/{os.path.basename(path)}"
    size = os.path.getsize(path)
    check(size <= BUDGET, f"{name}: {size} bytes <= {BUDGET}")
    print(f"  goal {name}: {size} bytes against {GOAL}: "
          + (f"{GOAL - size} to spare" if size <= GOAL else f"{size - GOAL} over"))
    with open(path, "rb") as f:
        raw = f.read()
    parts = gzip_members(raw)
    check(len(parts) == 2, f"{name}: two gzip streams, control then data (unsigned v2), got {len(parts)}")
    if len(parts) != 2:
        return
    (ctl_gz, ctl_tar), (data_gz, data_tar) = parts
    check(ctl_tar[-1024:] != b"\0" * 1024 and len(ctl_tar) % 512 == 0,
          f"{name}: control is a tar segment without end-of-archive blocks")
    ctl = parse_tar(ctl_tar, True)
    names = [m.name for m, _ in ctl]
    check(names[0] == ".PKGINFO", f"{name}: .PKGINFO comes first")
    check(sorted(names[1:]) == sorted(s for s, _ in pkglib.APK_SCRIPTS),
          f"{name}: scripts {names[1:]}")
    for m, body in ctl:
        if m.name in dict(pkglib.APK_SCRIPTS):
            src = os.path.join(ROOT, "ipk", dict(pkglib.APK_SCRIPTS)[m.name])
            check(m.mode == 0o755 and body == open(src, "rb").read(),
                  f"{name}: {m.name} is ipk/{dict(pkglib.APK_SCRIPTS)[m.name]}, 0755")
    info = {}
    for line in dict((m.name, b) for m, b in ctl)[".PKGINFO"].decode().splitlines():
        if " = " in line and not line.startswith("#"):
            k, v = line.split(" = ", 1)
            info.setdefault(k, v)
    check(info.get("pkgname") == "meshchat", f"{name}: pkgname = meshchat")
    check(info.get("pkgver") == f"{pkglib.version()}-r{pkglib.RELEASE}",
          f"{name}: pkgver = {pkglib.version()}-r{pkglib.RELEASE}")
    check(info.get("arch") == arch, f"{name}: arch = {arch}")
    check(info.get("license") == "GPL-3.0-only", f"{name}: license")
    check(bool(info.get("pkgdesc")) and bool(info.get("maintainer")), f"{name}: pkgdesc, maintainer")
    check("depend" not in info, f"{name}: no depend (static binary)")
    check(info.get("datahash") == hashlib.sha256(data_gz).hexdigest(),
          f"{name}: datahash is the SHA-256 of the data gzip stream")
    check(data_tar.endswith(b"\0" * 1024), f"{name}: data is a complete tarball")
    data = parse_tar(data_tar, False)
    files = {m.name.rstrip("/") + ("/" if m.isdir() else ""): m for m, _ in data}
    total = sum(m.size for m, _ in data if m.isfile())
    check(info.get("size") == str(total), f"{name}: size = {total}")
    bad = []
    for m, body in data:
        want = None
        if m.isfile():
            want = hashlib.sha1(body).hexdigest()
        elif m.issym():
            want = hashlib.sha1(m.linkname.encode()).hexdigest()
        if want and m.pax_headers.get("APK-TOOLS.checksum.SHA1") != want:
            bad.append(m.name)
    check(not bad, f"{name}: every file carries a matching APK-TOOLS.checksum.SHA1 {bad}")
    meta = {"lib/apk/packages/meshchat.list", "lib/apk/packages/meshchat.conffiles",
            "lib/apk/packages/meshchat.conffiles_static"}
    node_files = {n: m for n, m in files.items() if n not in meta and not n.startswith("lib")}
    check_data_tree(name, {n.rstrip("/"): m for n, m in node_files.items()})
    bodies = {m.name: b for m, b in data}
    listed = bodies.get("lib/apk/packages/meshchat.list", b"").decode().split("\n")
    check(listed[:-1] == ["/" + p for p in expected_data_paths()] and listed[-1] == "",
          f"{name}: lib/apk/packages/meshchat.list lists every installed file")
    check(bodies.get("lib/apk/packages/meshchat.conffiles") == b"/etc/config/meshchat\n",
          f"{name}: lib/apk/packages/meshchat.conffiles")
    conf = bodies.get("etc/config/meshchat", b"")
    check(bodies.get("lib/apk/packages/meshchat.conffiles_static") ==
          f"/etc/config/meshchat {hashlib.sha256(conf).hexdigest()}\n".encode(),
          f"{name}: conffiles_static holds the config's SHA-256")
    # GNU tar reads the whole file as one archive, as apk does.
    lst = sh(["tar", "-tzf", path], text=True)
    check(lst.returncode == 0 and lst.stdout.split("\n")[0] == ".PKGINFO"
          and "www/cgi-bin/meshchat" in lst.stdout.split("\n"),
          f"{name}: GNU tar lists it as one archive")


# ------------------------------------------------------------- install into a fake root

class FakeRoot:
    """A throw-away root with busybox, a fake uci/procd/node-setup, entered by chroot."""

    def __init__(self, tmp, restart="restart-services"):
        self.dir = tmp
        for d in ["bin", "sbin", "usr/bin", "usr/local/bin", "etc/config", "etc/config.mesh",
                  "etc/local/uci", "etc/init.d", "etc/rc.d", "tmp", "www/cgi-bin", "dev", "sys"]:
            os.makedirs(self.path(d), exist_ok=True)
        bb = shutil.which("busybox")
        shutil.copy(bb, self.path("bin/busybox"))
        for line in sh(["ldd", bb], text=True).stdout.splitlines():
            lib = [w for w in line.split() if w.startswith("/")]
            if lib:
                os.makedirs(self.path(os.path.dirname(lib[0])), exist_ok=True)
                shutil.copy(lib[0], self.path(lib[0]))
        for applet in sh([bb, "--list"], text=True).stdout.split():
            if not os.path.exists(self.path("bin/" + applet)):
                os.symlink("busybox", self.path("bin/" + applet))
        shutil.copy(os.path.join(FAKE, "uci"), self.path("sbin/uci"))
        shutil.copy(os.path.join(FAKE, "rc.common"), self.path("etc/rc.common"))
        shutil.copy(os.path.join(FAKE, "logcall"), self.path("usr/local/bin/node-setup"))
        shutil.copy(os.path.join(FAKE, "logcall"), self.path("usr/local/bin/" + restart))
        # AREDN 4.26's delayed firewall reload, which runs /etc/local/mesh-firewall/*.
        shutil.copy(os.path.join(FAKE, "logcall"), self.path("usr/local/bin/restart-firewall"))
        self.write("etc/local/uci/hsmmmesh", "config settings 'settings'\n\toption node 'KN6PLV-hap'\n")
        self.write("etc/config.mesh/setup",
                   "config services 'services'\n"
                   "\tlist service 'Bookmark [link]|1|http|KN6PLV-hap|80|a/b'\n")
        for dev, num in (("null", 3), ("urandom", 9)):
            try:
                os.mknod(self.path("dev/" + dev), 0o666 | stat.S_IFCHR, os.makedev(1, num))
            except OSError:  # no mknod here: a plain file does for both
                with open(self.path("dev/" + dev), "wb") as f:
                    f.write(os.urandom(65536) if dev == "urandom" else b"")
        self.installed = []

    def path(self, rel):
        return os.path.join(self.dir, rel.lstrip("/"))

    def write(self, rel, text, mode=0o644):
        os.makedirs(os.path.dirname(self.path(rel)), exist_ok=True)
        with open(self.path(rel), "w") as f:
            f.write(text)
        os.chmod(self.path(rel), mode)

    def read(self, rel):
        with open(self.path(rel)) as f:
            return f.read()

    def calls(self):
        return self.read("tmp/fake-calls.log").splitlines() if os.path.exists(self.path("tmp/fake-calls.log")) else []

    def clear_calls(self):
        if os.path.exists(self.path("tmp/fake-calls.log")):
            os.remove(self.path("tmp/fake-calls.log"))

    def run(self, argv, env, stdin=b"", live=True, cwd="/"):
        """Runs argv in the root under `env -i` with exactly `env`, from `cwd`. Live: as on
        a booted node, with sysfs mounted (in a mount namespace of its own, gone when the
        command ends); otherwise as in a firmware image root entered by chroot."""
        inner = (["chroot", self.dir, "/bin/sh", "-c", 'cd "$0" && exec "$@"', cwd, "/bin/env", "-i"]
                 + [f"{k}={v}" for k, v in env.items()] + argv)
        if live:
            cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                   'mount -t sysfs sysfs "$0/sys" && exec "$@"', self.dir] + inner
        else:
            cmd = inner
        return subprocess.run(cmd, input=stdin, capture_output=True, timeout=120)

    def script(self, body, *args, env, live=True, cwd="/"):
        self.write("tmp/script", body.decode(), 0o755)
        r = self.run(["/bin/sh", "/tmp/script"] + list(args), env, live=live, cwd=cwd)
        os.remove(self.path("tmp/script"))
        return r

    def unpack(self, tar_bytes, gz=True):
        """Extracts a data tarball like opkg/apk: dirs merged, files replaced."""
        mode = "r:gz" if gz else "r:"
        with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode=mode) as t:
            for m in t.getmembers():
                name = m.name[2:] if m.name.startswith("./") else m.name
                if not name:
                    continue
                dest = self.path(name)
                if m.isdir():
                    os.makedirs(dest, exist_ok=True)
                    continue
                if os.path.lexists(dest):
                    os.remove(dest)
                if m.issym():
                    os.symlink(m.linkname, dest)
                else:
                    with open(dest, "wb") as f:
                        f.write(t.extractfile(m).read())
                    os.chmod(dest, m.mode)
                self.installed.append(name)

    def remove_files(self):
        for name in self.installed:
            if os.path.lexists(self.path(name)):
                os.remove(self.path(name))
        self.installed = []

    def entries(self):
        return [l.split("'", 2)[1] for l in self.read("etc/config.mesh/setup").splitlines()
                if l.strip().startswith("list service")]

    def cgi(self, query, method="GET", body=b""):
        env = {"PATH": PATH, "GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": method, "QUERY_STRING": query}
        if method == "POST":
            env.update(CONTENT_TYPE="application/x-www-form-urlencoded", CONTENT_LENGTH=str(len(body)))
        r = self.run(["/www/cgi-bin/meshchat"], env, stdin=body)
        return r.stdout.partition(b"\r\n\r\n")[2]


def ipk_parts(path):
    with tarfile.open(path, "r:gz") as outer:
        ctl = outer.extractfile("./control.tar.gz").read()
        data = outer.extractfile("./data.tar.gz").read()
    with tarfile.open(fileobj=io.BytesIO(ctl), mode="r:gz") as t:
        scripts = {m.name[2:]: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
    return scripts, data


def apk_parts(path):
    with open(path, "rb") as f:
        (_, ctl_tar), (_, data_tar) = gzip_members(f.read())
    scripts = {m.name: b for m, b in parse_tar(ctl_tar, True)}
    return scripts, data_tar


LEGACY_DB = [
    "a1b2c3d4\t1700000000\tFirst message from the Lua days\tKN6PLV\tKN6PLV-hap\tnode\t",
    "0badf00d\t1700000100\tSecond, with a \\\"quote\\\"\tK7FPV\tK7FPV-node\tnode\temcomm",
    "deadbeef\t1700000200\tThird\tKN6PLV\tKN6PLV-hap\tnode\temcomm",
]


def install_tests(kind, path):
    print(f"{kind} install: {os.path.basename(path)} into fake roots")
    if kind == "ipk":
        scripts, data = ipk_parts(path)
        s = {"pre": scripts["preinst"], "post": scripts["postinst"],
             "up_pre": scripts["preinst"], "up_post": scripts["postinst"],
             "prerm": scripts["prerm"], "postrm": scripts["postrm"]}
        unpack = lambda root: root.unpack(data, gz=True)  # noqa: E731
    else:
        scripts, data = apk_parts(path)
        s = {"pre": scripts[".pre-install"], "post": scripts[".post-install"],
             "up_pre": scripts[".pre-upgrade"], "up_post": scripts[".post-upgrade"],
             "prerm": scripts[".pre-deinstall"], "postrm": scripts[".post-deinstall"]}
        unpack = lambda root: root.unpack(data, gz=False)  # noqa: E731
    version = f"{pkglib.version()}-r1"

    def hook(root, key, old=None, live=True, extra_env=None, cwd="/"):
        """Runs one maintainer script with exactly what its package manager gives it:
        opkg (libopkg/pkg.c) passes its caller's environment (here only PATH) plus
        PKG_ROOT and PKG_UPGRADE, and `install`/`upgrade OLD`/`configure`/`remove`;
        apk-tools 3 (src/database.c, src/context.c) passes only PATH, APK_SCRIPT and
        APK_PACKAGE, and the new version (then the old one, on upgrade)."""
        if kind == "ipk":
            env = {"PATH": PATH, "PKG_ROOT": "/", "PKG_UPGRADE": "1" if old else "0"}
            args = {"pre": ["install"], "up_pre": ["upgrade", old or ""], "post": ["configure"],
                    "up_post": ["configure"], "prerm": ["remove"], "postrm": ["remove"]}[key]
        else:
            env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                   "APK_SCRIPT": {"pre": "pre-install", "up_pre": "pre-upgrade",
                                  "post": "post-install", "up_post": "post-upgrade",
                                  "prerm": "pre-deinstall", "postrm": "post-deinstall"}[key],
                   "APK_PACKAGE": "meshchat"}
            args = [version] + ([old] if old else [])
        env.update(extra_env or {})
        return root.script(s[key], *args, env=env, live=live, cwd=cwd)

    # 1. Fresh install on AREDN 4.x, reinstall, use, removal.
    with tempfile.TemporaryDirectory(prefix="meshchat-root-") as tmp:
        root = FakeRoot(tmp)
        r1 = hook(root, "pre")
        unpack(root)
        r2 = hook(root, "post")
        check(r1.returncode == 0 and r2.returncode == 0, f"{kind}: fresh install scripts exit 0 {r2.stderr[-300:]!r}")
        ours = "MeshChat [chat]|1|http|KN6PLV-hap|8080|meshchat"
        check(root.entries() == ["Bookmark [link]|1|http|KN6PLV-hap|80|a/b", ours],
              f"{kind}: service entry added ({root.entries()})")
        check(root.read("etc/meshchat.added-service").strip() == ours, f"{kind}: added entry remembered")
        calls = root.calls()
        ns = [i for i, c in enumerate(calls) if c.startswith("node-setup")]
        rs = [i for i, c in enumerate(calls) if c.startswith("restart-services")]
        check(len(ns) == 1 and len(rs) == 1 and ns[0] < rs[0], f"{kind}: node-setup then restart-services")
        check(os.path.islink(root.path("etc/rc.d/S99meshchat")), f"{kind}: init script enabled (rc.d/S99meshchat)")
        check(any(c == "procd meshchat instance command=[/usr/bin/meshchat sync] respawn=[3600 5 0] "
                       "file=[/etc/config/meshchat]" for c in calls),
              f"{kind}: procd runs /usr/bin/meshchat sync with respawn")
        st = [i for i, c in enumerate(calls) if c == "meshchat start"]
        fw = [i for i, c in enumerate(calls) if c.startswith("restart-firewall")]
        check(len(st) == 1 and len(fw) == 1 and st[0] < fw[0],
              f"{kind}: the daemon started, then the firewall reloaded (runs the Raven port hook)")
        # Reinstall (upgrade to the same version): no second entry, no node-setup.
        root.clear_calls()
        hook(root, "up_pre", old=version)
        unpack(root)
        hook(root, "up_post", old=version)
        check(root.entries().count(ours) == 1, f"{kind}: reinstall adds no second entry")
        check(not any(c.startswith("node-setup") for c in root.calls()), f"{kind}: reinstall runs no node-setup")
        # The installed program answers as a CGI inside the root with the packaged config.
        form = urllib.parse.urlencode({"action": "send_message", "message": "kept after removal",
                                       "call_sign": "N0CALL", "epoch": str(int(time.time()))}).encode()
        out = root.cgi("", "POST", form)
        check(b'"status":200' in out.replace(b" ", b""), f"{kind}: installed CGI stores a message ({out[:100]!r})")
        cfg = root.cgi("action=config")
        check(json_field(cfg, "node") == "KN6PLV-hap", f"{kind}: installed CGI reads the node name from hsmmmesh")
        # The image-build guard: nothing runs in a firmware image root, whether opkg
        # (OpenWrt's rootfs.mk: IPKG_INSTROOT set) or apk 3 (chroot into the root, no
        # variable, no sysfs) runs the scripts.
        root.clear_calls()
        before = root.read("etc/config.mesh/setup")
        for key in ("pre", "post", "prerm", "postrm"):
            if kind == "ipk":
                hook(root, key, extra_env={"IPKG_INSTROOT": "/build/root"})
            else:
                hook(root, key, live=False)
                # apk --force-no-chroot: run on the build host, from the image root.
                hook(root, key, cwd="/tmp")
        if kind == "apk":
            # OpenWrt's image build with apk (include/rootfs.mk, CONFIG_USE_APK) adds the
            # packages with --no-scripts, then runs each .post-install itself on the build
            # host, from the image root, with IPKG_INSTROOT set and no APK_SCRIPT: here
            # with sysfs and from /, so only IPKG_INSTROOT can stop it.
            root.script(s["post"], env={"PATH": PATH, "IPKG_INSTROOT": "/build/root"})
        check(root.calls() == [] and root.read("etc/config.mesh/setup") == before
              and os.path.islink(root.path("etc/rc.d/S99meshchat")),
              f"{kind}: in an image root the scripts do nothing")
        # Removal.
        root.clear_calls()
        r3 = hook(root, "prerm")
        root.remove_files()
        r4 = hook(root, "postrm")
        check(r3.returncode == 0 and r4.returncode == 0, f"{kind}: removal scripts exit 0")
        calls = root.calls()
        check("meshchat stop" in calls and "meshchat disable" in calls, f"{kind}: removal stops and disables")
        check(not os.path.lexists(root.path("etc/rc.d/S99meshchat")), f"{kind}: rc.d link gone")
        check(root.entries() == ["Bookmark [link]|1|http|KN6PLV-hap|80|a/b"],
              f"{kind}: removal takes away only the entry it added")
        check(not os.path.exists(root.path("etc/meshchat.added-service")), f"{kind}: marker removed")
        check(any(c.startswith("node-setup") for c in calls), f"{kind}: removal applies the change")
        check([c.strip() for c in calls].count("restart-firewall") == 1 and calls[-1].strip() == "restart-firewall",
              f"{kind}: removal reloads the firewall last (closes the Raven port the hook opened)")
        log = root.path("usr/local/meshchat/messages.log")
        check(os.path.exists(log) and b"kept after removal" in open(log, "rb").read(),
              f"{kind}: message log kept after removal")
        # Remove and delete the messages: `meshchat purge`, then the removal.
        with tempfile.TemporaryDirectory(prefix="meshchat-root-") as tmp2:
            fresh = FakeRoot(tmp2)
            hook(fresh, "pre")
            unpack(fresh)
            hook(fresh, "post")
            fresh.cgi("", "POST", form)
            flog = fresh.path("usr/local/meshchat/messages.log")
            check(os.path.exists(flog), f"{kind}: a message stored before the purge")
            r = fresh.run(["/usr/bin/meshchat", "purge"], {"PATH": PATH})
            hook(fresh, "prerm")
            fresh.remove_files()
            hook(fresh, "postrm")
            check(r.returncode == 0 and not os.path.exists(flog)
                  and not os.path.exists(fresh.path("tmp/meshchat")),
                  f"{kind}: meshchat purge deletes the log and the RAM files {r.stderr[-200:]!r}")

    # 2. Over the Lua MeshChat on AREDN 3.x (restart-services.sh): its entry, zone,
    #    default_channel and RAM database are kept.
    with tempfile.TemporaryDirectory(prefix="meshchat-root-") as tmp:
        root = FakeRoot(tmp, restart="restart-services.sh")
        lua = "MeshChat-4321 [chat]|1|http|KN6PLV-hap|8080|meshchat"
        root.write("etc/config.mesh/setup", "config services 'services'\n"
                   f"\tlist service '{lua}'\n\tlist service 'Bookmark [link]|1|http|KN6PLV-hap|80|a/b'\n")
        root.write("www/cgi-bin/meshchatconfig.lua", 'meshchat_path = "/tmp/meshchat"\n'
                   'default_channel            = "emcomm"\n')
        root.write("www/cgi-bin/meshchat", "#!/usr/bin/lua\n-- the Lua MeshChat\n", 0o755)
        shutil.copy(os.path.join(FAKE, "logcall"), root.path("etc/init.d/meshchatsync"))
        root.write("tmp/meshchat/messages.MeshChat-4321", "\n".join(LEGACY_DB) + "\n")
        hook(root, "up_pre", old="2.12")
        unpack(root)
        r = hook(root, "up_post", old="2.12")
        check(r.returncode == 0, f"{kind}: upgrade over Lua MeshChat exits 0 {r.stderr[-300:]!r}")
        calls = root.calls()
        check("meshchatsync stop" in calls and "meshchatsync disable" in calls,
              f"{kind}: the Lua meshchatsync is stopped and disabled")
        check([e for e in root.entries() if e.endswith("|8080|meshchat")] == [lua],
              f"{kind}: the Lua service entry is kept, none added")
        check(not os.path.exists(root.path("etc/meshchat.added-service")), f"{kind}: nothing marked as added")
        check(not any(c.startswith("node-setup") or c.startswith("restart-services") for c in calls),
              f"{kind}: no node-setup when nothing changed")
        msgs = root.cgi("action=messages")
        try:
            ids = {m["id"] for m in json.loads(msgs)}
        except (ValueError, KeyError, TypeError):
            ids = set()
        check({"a1b2c3d4", "0badf00d", "deadbeef"} <= ids, f"{kind}: Lua database imported ({sorted(ids)})")
        cfg = root.cgi("action=config")
        check(json_field(cfg, "zone") == "MeshChat-4321", f"{kind}: zone kept (MeshChat-4321)")
        check(json_field(cfg, "default_channel") == "emcomm", f"{kind}: default_channel kept (emcomm)")
        check(os.path.exists(root.path("tmp/meshchat/messages.MeshChat-4321")), f"{kind}: the Lua database is left in place")
    with tempfile.TemporaryDirectory(prefix="meshchat-root-") as tmp:
        root = FakeRoot(tmp, restart="restart-services.sh")
        hook(root, "pre")
        unpack(root)
        hook(root, "post")
        calls = root.calls()
        check(any(c.startswith("restart-services.sh") for c in calls),
              f"{kind}: AREDN 3.x: restart-services.sh is run when restart-services is absent")


def main():
    archs = sys.argv[1:] or pkglib.archs()
    dist = os.path.join(ROOT, "dist")
    for arch in archs:
        print(f"{arch}:")
        ipk = os.path.join(dist, arch, pkglib.ipk_name(arch))
        apk = os.path.join(dist, arch, pkglib.apk_name())
        if check(os.path.exists(ipk), f"{arch}: {os.path.relpath(ipk, ROOT)} exists"):
            check_ipk(arch, ipk)
        if check(os.path.exists(apk), f"{arch}: {os.path.relpath(apk, ROOT)} exists"):
            check_apk(arch, apk)
    if "x86_64" in archs:
        install_tests("ipk", os.path.join(dist, "x86_64", pkglib.ipk_name("x86_64")))
        install_tests("apk", os.path.join(dist, "x86_64", pkglib.apk_name()))
    else:
        print("install tests: skipped (they need the x86_64 packages)")
    return finish("package_test", archs)


if __name__ == "__main__":
    sys.exit(main())
