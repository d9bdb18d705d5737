#!/usr/bin/env python3
"""The AREDN mesh-firewall hook of the node packages (make test-package-meta; no
cross-built binary needed): /etc/local/mesh-firewall/30-meshchat-raven opens UDP 4404
(Raven) on the mesh zones while option raven is on in /etc/config/meshchat, and does
nothing otherwise.

The hook runs in a throw-away root (chroot, busybox sh as on a node) the way AREDN 4.26's
firewall runs it: fw4 runs each `config include` script of type script with
`sh -c '<close fd 1000>; <define config() to fail>; . <path>'`, its own environment plus
ACTION=includes; AREDN's include, /usr/local/bin/mesh-firewall, exports MESHFW_NATLAN,
MESHFW_MESHGW and MESHFW_WG_TUNNELS_ENABLED and executes every executable regular file
of /etc/local/mesh-firewall/ in name order. Here that include is a stand-in written for
this test that does the same; `nft` is a stub on PATH that records its arguments, and
every firewall run first records the ruleset load (`nft -f`), as fw4 replaces the whole
table on each start and reload. `uci` is tests/packages/fakeroot/uci over the packaged
configuration file. The init script's `reload` and the package scripts ask for the
firewall reload through /usr/local/bin/restart-firewall (AREDN's), which here runs the
stand-in firewall at once.

Then the real nft (Debian's nftables) takes the hook's rules in a network namespace of
its own, on a table shaped like fw4's: the rules land in the three mesh chains and
nowhere else, and with the bridge off the table stays as it was.

Needs root (chroot); without it, it skips, saying so (CI runs as root). The
real-nft part skips, saying why, when nft or a network namespace is not available.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "package"))
sys.path.insert(0, HERE)
import build  # noqa: E402
import pkglib  # noqa: E402
from checks import check, finish  # noqa: E402
from package_test import FAKE, FakeRoot  # noqa: E402

HOOK = "etc/local/mesh-firewall/30-meshchat-raven"

def raven_port():
    """The bridge's port as the program has it (src/protocol/raven.rs), so that the hook
    and the program cannot drift apart unnoticed."""
    with open(os.path.join(ROOT, "src", "protocol", "raven.rs")) as f:
        m = re.search(r"^pub const PORT: u16 = (\d+);", f.read(), re.M)
    if not m:
        raise SystemExit("firewall_test: no `pub const PORT: u16` in src/protocol/raven.rs")
    return m.group(1)


PORT = raven_port()
# What the hook must insert when the bridge is on: the mesh-facing zones of AREDN's
# firewall (RF, device-to-device links, tunnels); the LAN zone accepts everything already.
OPEN = [f"insert rule inet fw4 input_{z} udp dport {PORT} accept" for z in ("wifi", "dtdlink", "vpn")]
# procd's PATH for services and hotplug: fw4 and its includes inherit it.
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

NFT_STUB = """#!/bin/sh
# Records each call's arguments, one call a line; a ruleset load reads its input away.
echo "$*" >> /tmp/nft.log
[ "$1" != -f ] || cat > /dev/null
"""

# Stand-in for AREDN's /usr/local/bin/mesh-firewall (the firewall's include).
MESH_FIREWALL = """#!/bin/sh
export MESHFW_NATLAN=0 MESHFW_MESHGW=0 MESHFW_WG_TUNNELS_ENABLED=1
for hook in /etc/local/mesh-firewall/*; do
	if [ -f "$hook" ] && [ -x "$hook" ]; then
		echo "mesh-firewall: running $hook"
		$hook
	fi
done
"""

# fw4 start/reload: the ruleset load, then the script includes, each in a shell of its
# own with fd 1000 (fw4's lock) closed and UCI's `config` keyword refused.
FW4 = """#!/bin/sh
echo 'table inet fw4 {}' | nft -f -
ACTION=includes sh -c 'exec 1000>&-; config() { echo "no UCI in firewall includes" >&2; exit 1; }; . /usr/local/bin/mesh-firewall'
"""

# Other packages' hooks before and after ours: they must run whatever ours does.
NEIGHBOUR = """#!/bin/sh
echo "${0##*/} ACTION=$ACTION WG=$MESHFW_WG_TUNNELS_ENABLED" >> /tmp/hooks.log
"""


# fw4's table as far as the hook is concerned: the zone input chains, one of them (lan)
# mesh-facing in no way.
FW4_TABLE = """table inet fw4 {
	chain input { type filter hook input priority filter; policy drop; }
	chain input_lan { }
	chain input_wifi { }
	chain input_dtdlink { }
	chain input_vpn { }
}
"""

# In a new network and mount namespace: a scratch folder over /tmp (the fake uci keeps
# its files there), fw4's table loaded from stdin, the hook run with the firewall's
# environment, then the table listed.
IN_NETNS = """set -e
mount --bind "$0" /tmp
nft -f -
printf "config meshchat 'main'\\n\\toption raven '%s'\\n" "$1" > /tmp/config/meshchat
set +e
env -i PATH=/tmp/bin:/usr/sbin:/usr/bin:/sbin:/bin ACTION=includes MESHFW_NATLAN=0 \\
	MESHFW_MESHGW=0 MESHFW_WG_TUNNELS_ENABLED=1 /tmp/hook
echo "hook exit $?"
nft list table inet fw4
"""


def chains(listing):
    """chain name -> its rule lines, from `nft list table`."""
    out, name = {}, None
    for line in listing.splitlines():
        line = line.strip()
        m = re.match(r"chain (\S+) \{$", line)
        if m:
            name = m.group(1)
            out[name] = []
        elif line == "}":
            name = None
        elif name and line and not line.startswith("type "):
            out[name].append(line)
    return out


def real_nft(hook):
    """The hook's rules through the real nft, bridge on and off."""
    nft = shutil.which("nft") or ("/usr/sbin/nft" if os.path.exists("/usr/sbin/nft") else None)
    if nft is None:
        print("  skip real nft: nft is not installed (apt-get install nftables; scripts/install-deps.sh does)")
        return
    probe = subprocess.run(["unshare", "--net", "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        print(f"  skip real nft: no network namespace here ({probe.stderr.decode().strip()[:200]})")
        return
    for value, want in (("1", [f"udp dport {PORT} accept"]), ("0", [])):
        with tempfile.TemporaryDirectory(prefix="meshchat-nft-") as scratch:
            os.makedirs(os.path.join(scratch, "bin"))
            os.makedirs(os.path.join(scratch, "config"))
            with open(os.path.join(scratch, "hook"), "wb") as f:
                f.write(hook.data)
            os.chmod(os.path.join(scratch, "hook"), hook.mode)
            shutil.copy(os.path.join(FAKE, "uci"), os.path.join(scratch, "bin", "uci"))
            os.chmod(os.path.join(scratch, "bin", "uci"), 0o755)
            with open(os.path.join(scratch, "bin", "uci"), "r+") as f:
                text = f.read().replace("dir=/etc/config", "dir=/tmp/config", 1)
                f.seek(0)
                f.write(text)
                f.truncate()
            r = subprocess.run(["unshare", "--net", "--mount", "--propagation", "private",
                                "sh", "-c", IN_NETNS, scratch, value],
                               input=FW4_TABLE.encode(), capture_output=True, timeout=60)
        out = r.stdout.decode()
        got = chains(out)
        check(r.returncode == 0 and "hook exit 0" in out and not r.stderr,
              f"real nft, raven={value}: the hook exits 0, nft complains of nothing {r.stderr[-300:]!r}")
        check(got.get("input_wifi") == want and got.get("input_dtdlink") == want
              and got.get("input_vpn") == want,
              f"real nft, raven={value}: input_wifi, input_dtdlink, input_vpn hold {want} ({got})")
        check(got.get("input_lan") == [] and got.get("input") == [],
              f"real nft, raven={value}: input and input_lan untouched")


def setup(tmp):
    """A fake node: busybox, fake uci and rc.common, the packaged configuration, init
    script and hook (with the modes the packages give them), the stand-in firewall."""
    root = FakeRoot(tmp)
    entries = {e.path: e for e in build.other_files(os.path.join(ROOT, "www", "icon.svg"))}
    for rel in (HOOK, "etc/config/meshchat", "etc/init.d/meshchat"):
        root.write(rel, entries[rel].data.decode(), entries[rel].mode)
    root.write("usr/sbin/nft", NFT_STUB, 0o755)
    root.write("usr/local/bin/mesh-firewall", MESH_FIREWALL, 0o755)
    root.write("sbin/fw4", FW4, 0o755)
    root.write("etc/local/mesh-firewall/20-neighbour", NEIGHBOUR, 0o755)
    root.write("etc/local/mesh-firewall/90-neighbour", NEIGHBOUR, 0o755)
    # AREDN's restart-firewall reloads fw4 10 s later in the background; here at once.
    root.write("usr/local/bin/restart-firewall", "#!/bin/sh\necho restart-firewall >> /tmp/fake-calls.log\n"
               "exec /sbin/fw4 reload\n", 0o755)
    return root


def reset(root):
    for log in ("tmp/nft.log", "tmp/hooks.log", "tmp/fake-calls.log"):
        if os.path.exists(root.path(log)):
            os.remove(root.path(log))


def nft_calls(root):
    return root.read("tmp/nft.log").splitlines() if os.path.exists(root.path("tmp/nft.log")) else []


def rules_now(root):
    """The rules added since the last ruleset load: what the live firewall holds."""
    calls = nft_calls(root)
    loads = [i for i, c in enumerate(calls) if c.startswith("-f ")]
    return calls[loads[-1] + 1:] if loads else calls


def firewall(root):
    """One firewall start as fw4 does it, with procd's environment."""
    reset(root)
    return root.run(["/sbin/fw4", "start"], {"PATH": PATH}, live=False)


def neighbours_ran(root):
    hooks = root.read("tmp/hooks.log").splitlines() if os.path.exists(root.path("tmp/hooks.log")) else []
    return hooks == ["20-neighbour ACTION=includes WG=1", "90-neighbour ACTION=includes WG=1"]


def set_raven(root, value):
    r = root.run(["/sbin/uci", "set", f"meshchat.main.raven={value}"], {"PATH": PATH}, live=False)
    return r.returncode == 0 and f"option raven '{value}'" in root.read("etc/config/meshchat")


def main():
    entries = {e.path: e for e in build.other_files(os.path.join(ROOT, "www", "icon.svg"))}
    hook = entries.get(HOOK)
    check(hook is not None and hook.mode == 0o755, f"make package: {HOOK} is 0755 (mesh-firewall runs executables only)")
    check("/" + HOOK in pkglib.installed_paths(), f"/{HOOK} is in the packages' file list (and the apk's meshchat.list)")
    with open(os.path.join(ROOT, "openwrt-feed", "net", "meshchat", "Makefile")) as f:
        feed = [l.strip() for l in f.read().splitlines() if l.rstrip().endswith("$(1)/" + HOOK)]
    check(len(feed) == 1 and feed[0].startswith("$(INSTALL_BIN) "), f"openwrt-feed: /{HOOK} installed with $(INSTALL_BIN)")
    if hook is None:
        return finish("firewall_test")
    if os.geteuid() != 0:
        # CI runs as root; elsewhere the runs are skipped, saying why, not failed.
        print("firewall_test: SKIPPED the hook runs: they need root (chroot into a throw-away root)")
        return finish("firewall_test")
    with tempfile.TemporaryDirectory(prefix="meshchat-fw-") as tmp:
        root = setup(tmp)
        conf = root.read("etc/config/meshchat")
        check(not re.search(r"^\s*option\s+raven\s", conf, re.M), "the packaged configuration leaves the bridge off")

        # The bridge off (as shipped, then 0 and off): the hook inserts nothing.
        for value in (None, "0", "off"):
            if value is not None:
                check(set_raven(root, value), f"uci set meshchat.main.raven={value}")
            r = firewall(root)
            what = "as shipped" if value is None else f"raven={value}"
            check(r.returncode == 0 and b"mesh-firewall: running /" + HOOK.encode() in r.stdout,
                  f"{what}: the firewall runs the hook, exit 0 {r.stderr[-200:]!r}")
            check(rules_now(root) == [] and len(nft_calls(root)) == 1,
                  f"{what}: no nft call but the firewall's own load ({nft_calls(root)})")
            check(neighbours_ran(root), f"{what}: the hooks before and after ours run, in AREDN's environment")

        # The bridge on, in each spelling meshchat itself takes for a true flag.
        for value in ("1", "on", "yes", "true", "enabled"):
            check(set_raven(root, value), f"uci set meshchat.main.raven={value}")
            r = firewall(root)
            check(r.returncode == 0 and rules_now(root) == OPEN,
                  f"raven={value}: UDP {PORT} accepted on wifi, dtdlink and vpn, nothing else ({rules_now(root)})")
            check(neighbours_ran(root), f"raven={value}: the hooks after ours still run")
            check(not r.stderr, f"raven={value}: nothing on stderr ({r.stderr[-200:]!r})")

        # Sourced instead of executed (as fw4 treats its own includes): the hook must not
        # end the shell that sources it.
        set_raven(root, "0")
        reset(root)
        r = root.run(["/bin/sh", "-c", f". /{HOOK}; echo after"], {"PATH": PATH}, live=False)
        check(r.stdout == b"after\n" and nft_calls(root) == [], "sourced with the bridge off: returns, inserts nothing")

        # Toggling: `/etc/init.d/meshchat reload` (also what procd runs when the
        # configuration changes) restarts the daemon and reloads the firewall.
        for value, want in (("1", OPEN), ("0", []), ("1", OPEN)):
            set_raven(root, value)
            reset(root)
            r = root.run(["/etc/init.d/meshchat", "reload"], {"PATH": PATH}, live=False)
            calls = root.read("tmp/fake-calls.log").splitlines()
            check(r.returncode == 0 and "meshchat start" in calls and "restart-firewall" in calls
                  and calls.index("meshchat start") < calls.index("restart-firewall"),
                  f"raven={value}: init reload restarts the daemon, then reloads the firewall ({calls})")
            check(rules_now(root) == want, f"raven={value}: after the reload the firewall holds {want or 'no rule of ours'}")

        # AREDN before 4.26 (no restart-firewall): reload still works, and says nothing.
        os.remove(root.path("usr/local/bin/restart-firewall"))
        reset(root)
        r = root.run(["/etc/init.d/meshchat", "reload"], {"PATH": PATH}, live=False)
        check(r.returncode == 0 and not r.stderr and nft_calls(root) == [],
              f"without restart-firewall: reload exits 0, quietly, touches no firewall {r.stderr[-200:]!r}")
    real_nft(hook)
    return finish("firewall_test")


if __name__ == "__main__":
    sys.exit(main())
