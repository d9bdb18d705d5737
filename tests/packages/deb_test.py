#!/usr/bin/env python3
"""Checks the Debian packages in dist/deb (built by `make deb`): dpkg-deb --info and
--contents, then a real dpkg install into a throw-away root (dpkg --root with
--force-script-chrootless, so the maintainer scripts run against that root): the system
user, the folders and their owners, the conffile; the installed binary runs (under
qemu-user-static for arm64/armhf) and, for amd64, serves the API with the installed
config; systemd-analyze verifies the units; removal keeps the data, purge deletes it."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "package"))
import pkglib  # noqa: E402
from checks import check, finish  # noqa: E402

FILES = ["etc/meshchat/meshchat.conf", "lib/systemd/system/meshchat-sync.service",
         "lib/systemd/system/meshchat.service", "usr/bin/meshchat",
         "usr/lib/tmpfiles.d/meshchat.conf", "usr/share/doc/meshchat/copyright"]


def sh(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def fresh_root(tmp, debarch):
    for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "etc"):
        os.makedirs(os.path.join(tmp, d))
    open(os.path.join(tmp, "var/lib/dpkg/status"), "w").close()
    for name, text in (("passwd", "root:x:0:0:root:/root:/bin/sh\n"), ("group", "root:x:0:\n"),
                       ("shadow", "root:*:19000:0:99999:7:::\n"), ("gshadow", "root:*::\n")):
        with open(os.path.join(tmp, "etc", name), "w") as f:
            f.write(text)
    if debarch != "amd64":
        sh(["dpkg", f"--root={tmp}", "--add-architecture", debarch])


def dpkg(root, *args):
    return sh(["dpkg", f"--root={root}", "--force-script-chrootless", "--log=/dev/null"] + list(args))


def test(arch):
    t = pkglib.target(arch)
    debarch = t["deb"]
    deb = os.path.join(ROOT, "dist", "deb", f"meshchat_{pkglib.version()}_{debarch}.deb")
    name = os.path.basename(deb)
    print(f"{name}:")
    if not check(os.path.exists(deb), f"{name} exists (make deb)"):
        return
    info = sh(["dpkg-deb", "--info", deb])
    fields = dict(re.findall(r"^ (\S+): (.*)$", info.stdout, re.M))
    check(fields.get("Package") == "meshchat" and fields.get("Version") == pkglib.version()
          and fields.get("Architecture") == debarch, f"{name}: control Package/Version/Architecture")
    check("conffiles" in info.stdout and "postinst" in info.stdout, f"{name}: conffiles and postinst present")
    conffiles = sh(["dpkg-deb", "--ctrl-tarfile", deb])
    contents = sh(["dpkg-deb", "--contents", deb]).stdout
    listed = sorted(l.split()[-1][2:] for l in contents.splitlines() if not l.startswith("d"))
    check(listed == FILES, f"{name}: contents {listed}")
    check(re.search(r"^-rwxr-xr-x root/root .* \./usr/bin/meshchat$", contents, re.M) is not None,
          f"{name}: /usr/bin/meshchat 0755 root")
    del conffiles
    with tempfile.TemporaryDirectory(prefix="meshchat-deb-") as root:
        fresh_root(root, debarch)
        r = dpkg(root, "-i", deb)
        check(r.returncode == 0, f"{name}: dpkg --root -i installs ({r.stderr.strip()[-300:]})")
        st = sh(["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W", "-f=${Status} ${Conffiles}", "meshchat"]).stdout
        check(st.startswith("install ok installed") and "/etc/meshchat/meshchat.conf" in st,
              f"{name}: installed, config registered as a conffile")
        with open(os.path.join(root, "etc/passwd")) as f:
            user = [l for l in f.read().splitlines() if l.startswith("meshchat:")]
        check(len(user) == 1 and user[0].split(":")[5] == "/var/lib/meshchat", f"{name}: system user meshchat")
        uid, gid = (int(x) for x in user[0].split(":")[2:4]) if user else (-1, -1)
        data = os.path.join(root, "var/lib/meshchat")
        s = os.stat(data) if os.path.exists(data) else None
        check(s is not None and (s.st_uid, s.st_gid) == (uid, gid) and s.st_mode & 0o777 == 0o750,
              f"{name}: /var/lib/meshchat owned by meshchat, 0750")
        c = os.stat(os.path.join(root, "etc/meshchat/meshchat.conf"))
        check((c.st_uid, c.st_gid, c.st_mode & 0o777) == (0, gid, 0o640), f"{name}: config root:meshchat 0640")
        binary = os.path.join(root, "usr/bin/meshchat")
        run = [] if debarch == "amd64" else [f"/usr/bin/qemu-{t['qemu']}-static"]
        v = sh(run + [binary, "--version"])
        check(v.stdout == f"meshchat {pkglib.version()}\n", f"{name}: installed binary runs ({v.stdout.strip()})")
        units = [os.path.join(root, "lib/systemd/system", u) for u in ("meshchat.service", "meshchat-sync.service")]
        if debarch == "amd64":
            # systemd-analyze loads the units inside the root: give it this machine's
            # own system units (targets they hang off) beside ours.
            host_units = "/lib/systemd/system"
            for u in os.listdir(host_units):
                dest = os.path.join(root, "lib/systemd/system", u)
                if not os.path.lexists(dest) and not os.path.isdir(os.path.join(host_units, u)):
                    shutil.copy(os.path.join(host_units, u), dest, follow_symlinks=False)
            va = sh(["systemd-analyze", "verify", "--man=no", f"--root={root}"] + [u[len(root):] for u in units])
            check(va.returncode == 0, f"{name}: systemd-analyze verify ({(va.stderr or va.stdout).strip()[-300:]})")
            serve(root, binary, name)
        r = dpkg(root, "-r", "meshchat")
        check(r.returncode == 0 and not os.path.exists(binary) and os.path.isdir(data)
              and os.path.exists(os.path.join(root, "etc/meshchat/meshchat.conf")),
              f"{name}: remove keeps data and config")
        r = dpkg(root, "--purge", "meshchat")
        check(r.returncode == 0 and not os.path.exists(data)
              and not os.path.exists(os.path.join(root, "etc/meshchat/meshchat.conf")),
              f"{name}: purge deletes data and config")


def serve(root, binary, name):
    """The installed config, with its folders moved into the throw-away root."""
    conf = os.path.join(root, "etc/meshchat/meshchat.conf")
    args = [binary, "serve", "--listen", "127.0.0.1:0", "--config", conf,
            "-o", f"data_dir={root}/var/lib/meshchat", "-o", f"ram_dir={root}/run/meshchat",
            "-o", f"files_dir={root}/var/lib/meshchat/files", "--node", "PI-test"]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().strip()
        m = re.match(r"listening on (http://127\.0\.0\.1:\d+/)$", line)
        ok = False
        if m:
            with urllib.request.urlopen(m.group(1) + "cgi-bin/meshchat?action=config", timeout=30) as r:
                conf = json.loads(r.read())
            ok = conf.get("node") == "PI-test" and conf.get("platform") == "pi"
        check(ok, f"{name}: serve with the installed config answers (platform pi)")
    finally:
        p.terminate()
        p.wait(timeout=10)


def main():
    archs = sys.argv[1:] or pkglib.archs()
    archs = [a for a in archs if pkglib.target(a)["deb"] != "-"]
    if not shutil.which("dpkg"):
        print("deb_test: dpkg is missing")
        return 1
    for a in archs:
        test(a)
    return finish("deb_test", archs)


if __name__ == "__main__":
    sys.exit(main())
