#!/usr/bin/env python3
"""Load: wrk against `meshchat serve` and against the CGI under lighttpd (Debian's), with
mixed reads and writes from 16 connections. Prints a Markdown section (bench.py adds it
to bench/RESULTS.md) and fails when a request failed, an acknowledged message is missing,
a message is stored twice, or a log record is damaged or holds a message the load did not
send, or a peak RSS passes its bound. Throughput and latency are figures only, never a
pass/fail test.

Usage: bench-load.py BINARY [SECONDS [SERVE_BINARY]]   (default 60; `make test` runs a
short one). SERVE_BINARY runs `serve` (default: BINARY); a node build, which has no
`serve`, is given with the serve build beside it.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib

CONNECTIONS = 16
THREADS = 2
# Each wrk thread stops writing after this many messages, so the log never reaches
# max_messages and every acknowledged message must still be there at the end.
WRITES_PER_THREAD = 4000
MAX_MESSAGES = 10000
# Bounded RSS. The bounds are the worst case of this load, not its usual figure: every
# `serve` worker (16) rendering a `messages` reply of the full log at once after a write
# measured 97 MB with 10,000 messages, and one CGI rendering them uncompressed 6.6 MB
# (the glibc host build; the node's static musl build needs about 1.3 MB less). A leak,
# an unbounded queue or a reply held twice passes them.
SERVE_RSS_LIMIT_KB = 128 * 1024
CGI_RSS_LIMIT_KB = 8 * 1024

WRK_SCRIPT = r"""
local threads = {}
local next_tid = 1
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end
function init(args)
  n = 0; sent = 0; ok = 0; bad = 0; reads = 0
end
local reads_q = {
  "/cgi-bin/meshchat?action=messages_version_ui",
  "/cgi-bin/meshchat?action=messages&call_sign=K1LOAD&id=0123456789abcdef",
  "/cgi-bin/meshchat?action=users",
}
function request()
  n = n + 1
  if n %% 4 == 0 and sent < %(writes)d then
    sent = sent + 1
    local id = string.format("%%02x%%06x", tid, sent)
    local body = "action=send_message&id=" .. id .. "&message=load+test+" .. id ..
      "&call_sign=K1LOAD&channel=load"
    return wrk.format("POST", "/cgi-bin/meshchat",
      {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
  end
  return wrk.format("GET", reads_q[(n %% 3) + 1], {["Accept-Encoding"] = "gzip"})
end
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1; return end
  if string.find(body, '"response":"OK"', 1, true) then ok = ok + 1
  elseif string.find(body, '"status":', 1, true) then bad = bad + 1
  else reads = reads + 1 end
end
function done(summary, latency, requests)
  local s, o, b, r, per = 0, 0, 0, 0, {}
  for _, t in ipairs(threads) do
    s = s + t:get("sent"); o = o + t:get("ok"); b = b + t:get("bad"); r = r + t:get("reads")
    per[t:get("tid")] = t:get("sent")
  end
  io.write(string.format("LOAD sent=%%d ok=%%d bad=%%d reads=%%d\n", s, o, b, r))
  for tid, n in pairs(per) do io.write(string.format("LOAD thread=%%d sent=%%d\n", tid, n)) end
end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_node(tmp):
    cfg = os.path.join(tmp, "meshchat.conf")
    with open(cfg, "w") as f:
        f.write("config meshchat 'main'\n\toption node 'load-node'\n\toption zone 'MeshChat'\n"
                f"\toption data_dir '{tmp}/data'\n\toption ram_dir '{tmp}/ram'\n"
                f"\toption max_messages '{MAX_MESSAGES}'\n\toption platform 'node'\n"
                f"\toption services_dir '{tmp}/services'\n\toption services_olsr '{tmp}/olsr'\n"
                f"\toption shadow_file '{tmp}/shadow'\n")
    return cfg


def rss_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class CgiRssSampler(threading.Thread):
    """Samples the peak RSS (VmHWM) of every running process of `binary`: CGI processes
    live for milliseconds, so this is a lower bound of the true peak."""

    def __init__(self, binary):
        super().__init__(daemon=True)
        self.real = os.path.realpath(binary)
        self.peak = 0
        self.seen = 0
        self.stop = False

    def run(self):
        while not self.stop:
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    if os.readlink(f"/proc/{pid}/exe") != self.real:
                        continue
                except OSError:
                    continue
                self.seen += 1
                self.peak = max(self.peak, rss_kb(pid, "VmHWM"))
            time.sleep(0.005)


def check_log(tmp, ok, sent, per_thread):
    """Every record whole and one the load sent (its id and text: thread and number within
    what that thread sent), no id twice, and between `ok` and `sent` load messages: as
    ids are never reused, a lost acknowledged message would leave fewer than `ok`."""
    path = os.path.join(tmp, "data", "messages.log")
    ids = []
    damaged = 0
    foreign = []
    with open(path, "rb") as f:
        for rec in f:
            crc, _, line = rec.rstrip(b"\n").partition(b"\t")
            if int(crc, 16) != zlib.crc32(line):
                damaged += 1
                continue
            fields = line.split(b"\t")
            mid = fields[0].decode("ascii", "replace")
            tid, seq = int(mid[:2], 16), int(mid[2:], 16)
            if (len(fields) < 3 or fields[2] != b"load test " + fields[0]
                    or not 1 <= seq <= per_thread.get(tid, 0)):
                foreign.append(mid)
            ids.append(mid)
    problems = []
    if damaged:
        problems.append(f"{damaged} damaged records")
    if foreign:
        problems.append(f"{len(foreign)} records the load did not send: {foreign[:5]}")
    if len(set(ids)) != len(ids):
        problems.append(f"{len(ids) - len(set(ids))} messages stored twice")
    if not ok <= len(ids) <= sent:
        problems.append(f"{len(ids)} messages stored; {ok} were acknowledged, {sent} sent")
    return len(ids), problems


def wrk(url, seconds, tmp):
    script = os.path.join(tmp, "load.lua")
    with open(script, "w") as f:
        f.write(WRK_SCRIPT % {"writes": WRITES_PER_THREAD})
    p = subprocess.run(["wrk", "-t", str(THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds}s",
                        "--timeout", "30s", "--latency", "-s", script, url],
                       capture_output=True, text=True, timeout=seconds + 120)
    out = p.stdout
    m = re.search(r"LOAD sent=(\d+) ok=(\d+) bad=(\d+) reads=(\d+)", out)
    sent, ok, bad, reads = (int(x) for x in m.groups()) if m else (0, 0, -1, 0)
    per_thread = {int(t): int(n) for t, n in re.findall(r"LOAD thread=(\d+) sent=(\d+)", out)}
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    sock_errors = sum(int(x) for x in errors.groups()) if errors else 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    lat = {k: v for k, v in re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M)}
    return {
        "sent": sent, "ok": ok, "bad": bad, "reads": reads, "sock_errors": sock_errors,
        "per_thread": per_thread,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50": lat.get("50", "?"), "p99": lat.get("99", "?"), "raw": out + p.stderr,
    }


def run_serve(binary, seconds):
    with tempfile.TemporaryDirectory(prefix="meshchat-load-") as tmp:
        cfg = make_node(tmp)
        srv = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--config", cfg],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            addr = srv.stdout.readline().strip().removeprefix("listening on ").rstrip("/")
            r = wrk(addr, seconds, tmp)
            r["rss"] = rss_kb(srv.pid, "VmHWM")
        finally:
            srv.terminate()
            srv.wait(timeout=10)
        r["stored"], r["problems"] = check_log(tmp, r["ok"], r["sent"], r["per_thread"])
        if r["rss"] > SERVE_RSS_LIMIT_KB:
            r["problems"].append(f"peak RSS {r['rss']} KB over its bound {SERVE_RSS_LIMIT_KB} KB")
        return r


def run_lighttpd(binary, seconds):
    with tempfile.TemporaryDirectory(prefix="meshchat-load-") as tmp:
        cfg = make_node(tmp)
        os.makedirs(os.path.join(tmp, "www", "cgi-bin"))
        cgi = os.path.join(tmp, "www", "cgi-bin", "meshchat")
        shutil.copy(binary, cgi)
        os.chmod(cgi, 0o755)
        port = free_port()
        conf = os.path.join(tmp, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write(f"""server.document-root = "{tmp}/www"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{tmp}/lighttpd.err"
server.max-connections = 256
server.modules = ("mod_cgi", "mod_setenv")
setenv.add-environment = ("MESHCHAT_CONFIG" => "{cfg}")
$HTTP["url"] =~ "^/cgi-bin/" {{ cgi.assign = ("" => "") }}
""")
        httpd = subprocess.Popen(["lighttpd", "-D", "-f", conf],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sampler = CgiRssSampler(cgi)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            sampler.start()
            r = wrk(f"http://127.0.0.1:{port}", seconds, tmp)
        finally:
            sampler.stop = True
            httpd.terminate()
            httpd.wait(timeout=10)
        r["rss"] = sampler.peak
        r["stored"], r["problems"] = check_log(tmp, r["ok"], r["sent"], r["per_thread"])
        if sampler.seen == 0:
            r["problems"].append("no CGI process was seen: its RSS is unmeasured")
        if r["rss"] > CGI_RSS_LIMIT_KB:
            r["problems"].append(f"peak RSS {r['rss']} KB over its bound {CGI_RSS_LIMIT_KB} KB")
        return r


def main():
    binary = os.path.abspath(sys.argv[1])
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    for tool in ("wrk", "lighttpd"):
        if not shutil.which(tool):
            sys.exit(f"bench-load: {tool} is needed (scripts/install-deps.sh all installs it)")
    serve_binary = os.path.abspath(sys.argv[3]) if len(sys.argv) > 3 else binary
    results = [("`meshchat serve`", run_serve(serve_binary, seconds)),
               ("CGI under lighttpd", run_lighttpd(binary, seconds))]
    print("\n## Load (wrk)\n")
    print(f"wrk, {THREADS} threads, {CONNECTIONS} connections, {seconds} s; every 4th request a "
          f"`send_message` with a fresh id (at most {THREADS * WRITES_PER_THREAD}), the others "
          "`messages_version_ui`, `messages` and `users` in turn (gzip accepted). "
          f"`max_messages` {MAX_MESSAGES}, so every acknowledged message must be in the log. "
          "Peak RSS: `serve`'s VmHWM; for the CGI, the largest VmHWM sampled every 5 ms over "
          f"its short-lived processes; bounds {SERVE_RSS_LIMIT_KB // 1024} MB and "
          f"{CGI_RSS_LIMIT_KB // 1024} MB (the worst case of this load at {MAX_MESSAGES} "
          "messages).\n")
    print("| target | requests/s | p50 | p99 | writes acked / sent | stored | errors | peak RSS |")
    print("|---|---|---|---|---|---|---|---|")
    failed = []
    for name, r in results:
        errors = r["bad"] + r["sock_errors"] + r["non2xx"]
        print(f"| {name} | {r['rps']:.0f} | {r['p50']} | {r['p99']} | {r['ok']} / {r['sent']} | "
              f"{r['stored']} | {errors} | {r['rss']} KB |")
        if errors or r["problems"] or r["sent"] == 0:
            failed.append(f"{name}: {errors} errors; {'; '.join(r['problems'])}\n{r['raw'][-1500:]}")
    print()
    if failed:
        sys.stderr.write("bench-load: FAILED\n" + "\n".join(failed) + "\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
