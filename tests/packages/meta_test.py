#!/usr/bin/env python3
"""Package metadata checks that need no cross-built binary (make test-package-meta):
the modes the node packages and the OpenWrt feed give their files, /etc/config/meshchat
0600 in particular (it may hold admin_token)."""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "package"))
import build  # noqa: E402
import pkglib  # noqa: E402
from checks import check, finish  # noqa: E402


def main():
    entries = {e.path: e for e in build.other_files(os.path.join(ROOT, "www", "icon.svg"))}
    conf = entries.get("etc/config/meshchat")
    check(conf is not None and conf.mode == 0o600, "make package: etc/config/meshchat is 0600")
    init = entries.get("etc/init.d/meshchat")
    check(init is not None and init.mode == 0o755, "make package: etc/init.d/meshchat is 0755")
    others = [p for p, e in entries.items() if e.kind == "file" and p not in pkglib.MODES
              and e.mode not in (0o644, 0o755)]
    check(not others, f"make package: every other file 0644 or 0755 {others}")
    with open(os.path.join(ROOT, "openwrt-feed", "net", "meshchat", "Makefile")) as f:
        feed = f.read()
    line = [l for l in feed.splitlines() if l.rstrip().endswith("$(1)/etc/config/meshchat")]
    check(len(line) == 1 and line[0].strip().startswith("$(INSTALL_CONF) "),
          "openwrt-feed: /etc/config/meshchat installed with $(INSTALL_CONF) (0600)")
    with open(os.path.join(ROOT, "tests", "packages", "feed-stub", "rules.mk")) as f:
        check(re.search(r"^INSTALL_CONF:=install -m0600$", f.read(), re.M) is not None,
              "feed stub: INSTALL_CONF is OpenWrt's install -m0600")
    with open(os.path.join(ROOT, "ipk", "postinst")) as f:
        check("chmod 0600 /etc/config/meshchat" in f.read(),
              "ipk/postinst: an upgraded node's kept configuration becomes 0600 too")
    return finish("meta_test")


if __name__ == "__main__":
    sys.exit(main())
