#!/usr/bin/env python3
"""Runs every cross-built binary under qemu-user-static (Debian's qemu-user-static):
--version, CGI requests (config; send_message then messages) in a temp dir, and the
binary's own HTTP client against a peer over loopback: the node build's `sync --once`
pulls from the node build itself run as a CGI behind a small web server here (as uhttpd
runs it); `send` and `tail` of the serve build go through its `serve`. The node build
leaves out `serve`, `send`, `tail` and `export --url` and says so. Also checks the ELF is
static and, for MIPS, soft-float.

Usage: cross_test.py [ARCH...]   (default: every build/cross/<ARCH>/meshchat)
"""
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "package"))
import pkglib  # noqa: E402
from checks import check, finish  # noqa: E402

# Stripped node binary, bytes (KB = 1024): a node's flash (docs/PACKAGING.md, "Size").
BUDGETS = {"mips_24kc": 500 * 1024}


def runner(arch):
    t = pkglib.target(arch)
    cmd = [f"/usr/bin/qemu-{t['qemu']}-static"]
    if t["cpu"] != "-":
        cmd += ["-cpu", t["cpu"]]
    return cmd


def cgi(cmd, binary, cfg, query, method="GET", body=b"", ctype=None, headers=()):
    env = {
        "PATH": "/usr/bin:/bin",
        "GATEWAY_INTERFACE": "CGI/1.1",
        "REQUEST_METHOD": method,
        "QUERY_STRING": query,
        "SERVER_PORT": "8080",
        "SERVER_NAME": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "SCRIPT_NAME": "/cgi-bin/meshchat",
        "MESHCHAT_CONFIG": cfg,
    }
    if method == "POST":
        env["CONTENT_LENGTH"] = str(len(body))
        env["CONTENT_TYPE"] = ctype or "application/x-www-form-urlencoded"
    # Request headers as HTTP_* variables, as uhttpd passes them.
    for name, value in headers:
        env["HTTP_" + name.upper().replace("-", "_")] = value
    p = subprocess.run(cmd + [binary], input=body, env=env, capture_output=True, timeout=60)
    head, _, payload = p.stdout.partition(b"\r\n\r\n")
    return p.returncode, head.decode("latin-1"), payload, p.stderr.decode("utf-8", "replace")


def test_arch(arch):
    binary = os.path.join(ROOT, "build", "cross", arch, "meshchat")
    print(f"{arch}: {binary}")
    if not os.path.exists(binary):
        check(False, f"{arch}: binary exists (run `make cross ARCH={arch}`)")
        return
    cmd = runner(arch)

    # The ELF: static, no interpreter; MIPS soft-float (qemu's 24Kc has no FPU).
    phdrs = subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True).stdout
    check("INTERP" not in phdrs and "DYNAMIC" not in phdrs, f"{arch}: statically linked (no INTERP/DYNAMIC)")
    if arch.startswith("mips"):
        attrs = subprocess.run(["readelf", "-A", binary], capture_output=True, text=True).stdout
        check("Soft float" in attrs, f"{arch}: MIPS soft-float ABI")
    size = os.path.getsize(binary)
    print(f"  size {size} bytes")
    if arch in BUDGETS:
        budget = BUDGETS[arch]
        check(size <= budget, f"{arch}: stripped binary {size} bytes <= budget {budget} ("
              + (f"{budget - size} bytes to spare)" if size <= budget else f"{size - budget} bytes over)"))

    v = subprocess.run(cmd + [binary, "--version"], capture_output=True, text=True, timeout=60)
    check(v.returncode == 0 and v.stdout == f"meshchat {pkglib.version()}\n",
          f"{arch}: --version prints 'meshchat {pkglib.version()}' (got {v.stdout!r})")

    with tempfile.TemporaryDirectory(prefix=f"meshchat-cross-{arch}-") as tmp:
        cfg = os.path.join(tmp, "meshchat.uci")
        with open(cfg, "w") as f:
            f.write("config meshchat 'main'\n"
                    f"\toption node 'TEST-{arch.replace('_', '-')}'\n"
                    "\toption zone 'MeshChat'\n"
                    f"\toption data_dir '{tmp}/data'\n"
                    f"\toption ram_dir '{tmp}/ram'\n")
        rc, head, body, err = cgi(cmd, binary, cfg, "action=config")
        ok = rc == 0 and "content-type: application/json" in head.lower()
        try:
            conf = json.loads(body)
        except ValueError:
            conf = {}
        check(ok and conf.get("node") == f"TEST-{arch.replace('_', '-')}",
              f"{arch}: CGI action=config names the node (rc={rc} {err.strip()[:200]})")

        text = f"hello from {arch} \u00e9\u00e8 <b>"
        form = urllib.parse.urlencode({"action": "send_message", "message": text,
                                       "call_sign": "N0CALL", "channel": "",
                                       "epoch": str(int(time.time()))}).encode()
        rc, head, body, err = cgi(cmd, binary, cfg, "", method="POST", body=form)
        check(rc == 0 and b'"status":200' in body.replace(b" ", b""),
              f"{arch}: CGI send_message answers status 200 (got {body[:120]!r} {err.strip()[:200]})")
        rc, head, body, err = cgi(cmd, binary, cfg, "action=messages")
        try:
            msgs = json.loads(body)
        except ValueError:
            msgs = []
        check(rc == 0 and any(m.get("message") == text and m.get("call_sign") == "N0CALL" for m in msgs),
              f"{arch}: CGI messages returns the sent message")

        # The node build over HTTP: as a CGI behind a web server, the peer of its own
        # `sync --once`. The serve build (build/cross-serve) runs `serve` itself.
        node_check(arch, cmd, binary, tmp)
        serve_build = os.path.join(ROOT, "build", "cross-serve", arch, "meshchat")
        if os.path.exists(serve_build):
            serve_check(arch + " (serve build)", cmd, serve_build, tmp)
        else:
            print(f"  --   {arch}: no serve build (make cross-serve ARCH={arch}): serve, send and tail are not checked here")


def big_endian_mips(arch):
    return arch == "mips_24kc"


def serve_check(arch, cmd, binary, tmp):
    """`serve` of a serve build: the API, the embedded UI, and send and tail through it."""
    data = os.path.join(tmp, "serve-ui")
    p = subprocess.Popen(cmd + [binary, "serve", "--listen", "127.0.0.1:0", "--data", data, "--node", "SERVE-node"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        m = re.match(r"listening on (http://127\.0\.0\.1:\d+/)$", line.strip())
        check(m is not None, f"{arch}: serve prints its address (got {line!r})")
        if not m:
            return
        base = m.group(1)
        with urllib.request.urlopen(base + "cgi-bin/meshchat?action=config", timeout=30) as r:
            conf = json.loads(r.read())
        check(r.status == 200 and conf.get("node") == "SERVE-node",
              f"{arch}: serve answers action=config over loopback")
        with urllib.request.urlopen(base + "meshchat/", timeout=30) as r:
            page = r.read()
        check(r.status == 200 and b"<html" in page.lower(), f"{arch}: serve returns the web UI")
        said = f"via the {arch} client"
        s = subprocess.run(cmd + [binary, "send", "--url", base, "--call-sign", "N0CALL", said],
                           capture_output=True, text=True, timeout=60)
        check(s.returncode == 0, f"{arch}: send posts through serve (rc={s.returncode} {s.stderr.strip()[:200]})")
        t = subprocess.run(cmd + [binary, "tail", "--url", base, "-n", "5"],
                           capture_output=True, text=True, timeout=60)
        check(t.returncode == 0 and said in t.stdout and "N0CALL" in t.stdout,
              f"{arch}: tail reads it back (rc={t.returncode} {t.stdout.strip()[:200]!r} {t.stderr.strip()[:200]})")
    finally:
        stop(p)


def stop(p):
    p.terminate()
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def cgi_server(cmd, binary, cfg):
    """A web server on a free loopback port that runs the binary as its CGI for
    /cgi-bin/meshchat, with the environment uhttpd gives (the configuration's path in
    MESHCHAT_CONFIG stands for /etc/config/meshchat). Returns the server; its base URL is
    http://127.0.0.1:<port>/."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args):
            pass

        def answer(self, method):
            path, _, query = self.path.partition("?")
            if path != "/cgi-bin/meshchat":
                self.send_error(404)
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else b""
            headers = [(k, v) for k, v in self.headers.items()
                       if k.lower() not in ("content-length", "content-type")]
            _, head, payload, _ = cgi(cmd, binary, cfg, query, method, body,
                                      self.headers.get("Content-Type"), headers)
            status, fields = 200, []
            for line in head.split("\r\n"):
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.split()[0])
                elif name:
                    fields.append((name, value.strip()))
            self.send_response(status)
            for name, value in fields:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self):
            self.answer("GET")

        def do_POST(self):
            self.answer("POST")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def node_check(arch, cmd, binary, tmp):
    """The node build: no `serve`, `send`, `tail` or `export --url`, each refused with
    what to use instead; its peer client pulls from itself run as a CGI."""
    r = subprocess.run(cmd + [binary, "serve", "--listen", "127.0.0.1:0", "--data", os.path.join(tmp, "serve")],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and "not in node packages" in r.stderr and "uhttpd" in r.stderr
          and "/cgi-bin/meshchat" in r.stderr,
          f"{arch}: the node build's `serve` says the node's uhttpd runs the CGI (rc={r.returncode} {r.stderr.strip()[:200]!r})")
    cfg = os.path.join(tmp, "peer.uci")
    with open(cfg, "w") as f:
        f.write("config meshchat 'main'\n"
                "\toption node 'PEER-node'\n"
                f"\toption data_dir '{tmp}/peer/data'\n"
                f"\toption ram_dir '{tmp}/peer/ram'\n")
    server = cgi_server(cmd, binary, cfg)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        with urllib.request.urlopen(base + "cgi-bin/meshchat?action=config", timeout=60) as r:
            conf = json.loads(r.read())
        check(r.status == 200 and conf.get("node") == "PEER-node",
              f"{arch}: the node build answers action=config as a CGI behind a web server")
        said = f"via the {arch} client"
        # A node build leaves out send, tail and export --url (cargo feature `client`) and
        # says what to use instead.
        for args in (["send", "--url", base, "--call-sign", "N0CALL", said],
                     ["tail", "--url", base], ["export", "--url", base]):
            r = subprocess.run(cmd + [binary] + args, capture_output=True, text=True, timeout=60)
            check(r.returncode == 1 and "not in node packages" in r.stderr and "LAN computer" in r.stderr,
                  f"{arch}: the node build's `{args[0]}{' --url' if args[0] == 'export' else ''}` "
                  f"says it is left out (rc={r.returncode} {r.stderr.strip()[:200]!r})")
        # The peer client (sync's, on std::net) on this CPU: a message posted to the peer
        # comes over in one `sync --once` round with it as the static peer.
        if big_endian_mips(arch):
            print(f"  --   {arch}: sync --once not run: under qemu-user (Debian 12's 7.2) a big-endian "
                  "MIPS guest spins after reading the interface list over netlink (getifaddrs), "
                  "before any request. A C program that only calls musl's getifaddrs, built with the same zig, "
                  "never returns under qemu-mips either and runs under qemu-mipsel: qemu's netlink for "
                  "big-endian guests. mipsel_24kc runs the same meshchat code")
            return
        form = urllib.parse.urlencode({"action": "send_message", "message": said, "call_sign": "N0CALL",
                                       "channel": "", "epoch": str(int(time.time()))}).encode()
        with urllib.request.urlopen(base + "cgi-bin/meshchat", data=form, timeout=60) as r:
            check(r.status == 200, f"{arch}: the peer CGI takes send_message")
        puller = os.path.join(tmp, "puller.uci")
        with open(puller, "w") as f:
            f.write("config meshchat 'main'\n"
                    "\toption node 'PULLER-node'\n"
                    f"\toption data_dir '{tmp}/puller/data'\n"
                    f"\toption ram_dir '{tmp}/puller/ram'\n"
                    f"\tlist peer '127.0.0.1:{server.server_address[1]}'\n")
        y = subprocess.run(cmd + [binary, "sync", "--once", "--config", puller],
                           capture_output=True, text=True, timeout=300)
        rc, _, body, err = cgi(cmd, binary, puller, "action=messages")
        try:
            msgs = json.loads(body)
        except ValueError:
            msgs = []
        check(y.returncode == 0 and any(m.get("message") == said for m in msgs),
              f"{arch}: sync --once pulls the peer's message (rc={y.returncode} {y.stderr.strip()[:200]!r})")
    finally:
        server.shutdown()
        server.server_close()


def main():
    archs = sys.argv[1:] or [a for a in pkglib.archs()
                             if os.path.exists(os.path.join(ROOT, "build", "cross", a, "meshchat"))]
    if not archs:
        print("cross_test: no binaries under build/cross (run `make cross`)")
        return 1
    for arch in archs:
        test_arch(arch)
    return finish("cross_test", archs)


if __name__ == "__main__":
    sys.exit(main())
