#!/usr/bin/env python3
"""make bench: the request budgets of docs/BUDGETS.md, measured on this machine.

For a 500- and a 10,000-message log, each action is run as a real CGI process (the
environment uhttpd gives): median wall time over many runs, peak RSS, and instructions
per request under callgrind. The floor is a trivial static CGI program measured in the
same run. Writes bench/RESULTS.md and prints it. Figures only: nothing here fails a build.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build", "bench")
RUNS = int(os.environ.get("BENCH_RUNS", "300"))


def sh(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def binary():
    """The stripped static x86_64 musl binary (what a node-like host runs)."""
    if os.environ.get("BIN"):
        return os.environ["BIN"]
    cross = os.path.join(ROOT, "build", "cross", "x86_64", "meshchat")
    if os.path.exists(cross):
        return cross
    sh("rustup", "target", "add", "x86_64-unknown-linux-musl", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sh("cargo", "build", "--release", "--target", "x86_64-unknown-linux-musl", cwd=ROOT)
    return os.path.join(ROOT, "target", "x86_64-unknown-linux-musl", "release", "meshchat")


def tools():
    os.makedirs(BUILD, exist_ok=True)
    for name in ("measure", "trivial-cgi"):
        sh("gcc", "-O2", "-static", "-o", os.path.join(BUILD, name), os.path.join(ROOT, "scripts", "bench", name + ".c"))
    return os.path.join(BUILD, "measure"), os.path.join(BUILD, "trivial-cgi")


def legacy_db(n, now):
    """A legacy database file of n realistic messages, oldest first."""
    lines = []
    for i in range(n):
        text = "Net check-in %d: signal report 59, all stations please acknowledge \\\"QSL\\\"" % i
        chan = ["", "ops", "net", "weather"][i % 4]
        lines.append("%08x\t%d\t%s\tK%dABC\tnode-%d\tnode\t%s\n" % (zlib.crc32(b"%d" % i), now - n + i, text, i % 50, i % 7, chan))
    return "".join(lines)


def make_node(tmp, n, now):
    d = os.path.join(tmp, "n%d" % n)
    os.makedirs(d)
    cfg = os.path.join(d, "meshchat.conf")
    with open(cfg, "w") as f:
        f.write("config meshchat 'main'\n\toption node 'bench-node'\n\toption zone 'MeshChat'\n"
                "\toption data_dir '%s/data'\n\toption ram_dir '%s/ram'\n\toption max_messages '%d'\n"
                "\toption platform 'node'\n" % (d, d, n))
    db = os.path.join(d, "legacy.db")
    with open(db, "w") as f:
        f.write(legacy_db(n, now))
    return d, cfg, db


def cgi_env(cfg, query, method="GET", body=b"", extra=None):
    env = {
        "GATEWAY_INTERFACE": "CGI/1.1", "MESHCHAT_CONFIG": cfg, "REQUEST_METHOD": method,
        "QUERY_STRING": query, "SERVER_PORT": "8080", "SERVER_NAME": "10.0.0.1",
        "REMOTE_ADDR": "10.0.0.2", "SCRIPT_NAME": "/cgi-bin/meshchat", "HTTP_HOST": "bench-node:8080",
    }
    if body:
        env["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        env["CONTENT_LENGTH"] = str(len(body))
    env.update(extra or {})
    return env


def measure(measure_bin, cmd, env, stdin_file=None, runs=RUNS):
    args = [measure_bin, "-n", str(runs)]
    if stdin_file:
        args += ["-i", stdin_file]
    out = subprocess.run(args + ["--"] + cmd, env=env, check=True, capture_output=True, text=True).stdout.split()
    return int(out[0]), int(out[1]), int(out[2])


def instructions(cmd, env, stdin_file=None):
    if not shutil.which("valgrind"):
        return None
    with open(stdin_file or os.devnull, "rb") as stdin:
        p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + cmd,
                           env=env, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    m = re.search(r"Collected : (\d+)", p.stderr)
    return int(m.group(1)) if m else None


def main():
    bin_path = binary()
    measure_bin, trivial = tools()
    size = os.path.getsize(bin_path)
    now = int(time.time())
    tmp = tempfile.mkdtemp(prefix="meshchat-bench-")
    rows = []
    floor = measure(measure_bin, [trivial], {"GATEWAY_INTERFACE": "CGI/1.1"}, runs=RUNS)
    try:
        for n in (500, 10000):
            d, cfg, db = make_node(tmp, n, now)
            sh(bin_path, "import", db, "--config", cfg, stderr=subprocess.DEVNULL)
            # Some presence, as a busy node has.
            for u in range(20):
                subprocess.run([bin_path], env=cgi_env(cfg, "action=messages_version_ui&call_sign=W%dXYZ&id=s%d&epoch=%d" % (u, u, now)),
                               check=True, stdout=subprocess.DEVNULL)
            body_file = os.path.join(d, "send.body")
            body = ("action=send_message&message=bench+message+with+some+words&call_sign=K1ABC&channel=ops&epoch=%d" % now).encode()
            with open(body_file, "wb") as f:
                f.write(body)
            actions = [
                ("messages (cold cache)", cgi_env(cfg, "action=messages"), None),
                ("messages", cgi_env(cfg, "action=messages"), None),
                ("messages (gzip)", cgi_env(cfg, "action=messages", extra={"HTTP_ACCEPT_ENCODING": "gzip"}), None),
                ("messages_raw (cold cache)", cgi_env(cfg, "action=messages_raw"), None),
                ("messages_raw", cgi_env(cfg, "action=messages_raw"), None),
                ("messages_version_ui", cgi_env(cfg, "action=messages_version_ui&call_sign=K1ABC&id=bench1&epoch=%d" % now), None),
                ("send_message", cgi_env(cfg, "", "POST", body), body_file),
                ("users", cgi_env(cfg, "action=users"), None),
            ]
            ram = os.path.join(d, "ram")

            def drop_caches():
                for f in os.listdir(ram):
                    if f.startswith("cache."):
                        os.remove(os.path.join(ram, f))

            for name, env, stdin in actions:
                if name.endswith("(cold cache)"):
                    # The first request after each change builds the cached body.
                    samples = []
                    for _ in range(max(10, RUNS // 10)):
                        drop_caches()
                        samples.append(measure(measure_bin, [bin_path], env, stdin, 1))
                    samples.sort()
                    med, best, rss = samples[len(samples) // 2][0], samples[0][0], max(x[2] for x in samples)
                    drop_caches()
                else:
                    # send_message grows the log: fewer runs, so both sizes stay comparable.
                    runs = RUNS if name != "send_message" else max(20, min(RUNS, n // 10))
                    med, best, rss = measure(measure_bin, [bin_path], env, stdin, runs)
                ins = instructions([bin_path], env, stdin)
                rows.append((n, name, med, best, rss, ins))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def row(n, name):
        return next(r for r in rows if r[0] == n and r[1] == name)

    out = []
    out.append("# meshchat benchmark results\n")
    out.append("Machine: %s, %d cores; binary: `%s` (static x86_64 musl, stripped, %s bytes = %.0f KB).\n"
               % (os.uname().machine, os.cpu_count(), os.path.relpath(bin_path, ROOT), f"{size:,}", size / 1024))
    out.append("`messages` and `messages_raw` bodies are cached in RAM per state of the log (every browser and"
               " legacy peer fetches the same body after each change); the *cold cache* rows are the first request"
               " after a change, which builds it.\n")
    out.append("Each action runs as a real CGI process with uhttpd's environment. Wall: median (and best) of"
               " %d runs (send_message: fewer, it grows the log; it includes the fdatasync that makes it durable)."
               " RSS: peak resident set of the CGI process. Instructions: callgrind, one request.\n" % RUNS)
    out.append("Floor: a trivial static CGI program (`scripts/bench/trivial-cgi.c`): median %d µs, best %d µs, peak RSS %d KB.\n"
               % floor)
    out.append("| messages in log | action | wall median (µs) | wall best (µs) | peak RSS (KB) | instructions |")
    out.append("|---:|---|---:|---:|---:|---:|")
    for n, name, med, best, rss, ins in rows:
        out.append("| %d | %s | %d | %d | %d | %s |" % (n, name, med, best, rss, f"{ins:,}" if ins else "n/a"))
    m500 = row(500, "messages")
    s500, s10k = row(500, "send_message"), row(10000, "send_message")
    worst_rss = max(r[4] for r in rows)
    checks = [
        ("`messages` with 500 messages ≤ 2 ms wall", m500[2] <= 2000, "%d µs" % m500[2]),
        ("`messages` with 500 messages ≤ 1.5× the trivial CGI (median; best)", m500[2] <= 1.5 * floor[0] and m500[3] <= 1.5 * floor[1],
         "%.2f×; %.2f×" % (m500[2] / floor[0], m500[3] / floor[1])),
        ("peak RSS ≤ 2 MB (every action, 500 messages, cold caches included)", max(r[4] for r in rows if r[0] == 500) <= 2048,
         "%d KB" % max(r[4] for r in rows if r[0] == 500)),
        ("`send_message` flat in log size (instructions, 10,000 vs 500)",
         bool(s500[5] and s10k[5] and s10k[5] <= 1.2 * s500[5]),
         "%s vs %s" % (f"{s10k[5]:,}" if s10k[5] else "n/a", f"{s500[5]:,}" if s500[5] else "n/a")),
    ]
    out.append("\n## Budgets (docs/BUDGETS.md)\n")
    out.append("| budget | measured | holds |")
    out.append("|---|---|---|")
    for what, ok, fig in checks:
        out.append("| %s | %s | %s |" % (what, fig, "yes" if ok else "**no**"))
    out.append("\nLargest peak RSS over every action and size: %d KB.\n" % worst_rss)

    sync_bench = os.path.join(ROOT, "scripts", "bench-sync.sh")
    if os.path.exists(sync_bench):
        p = subprocess.run([sync_bench, bin_path], capture_output=True, text=True)
        out.append(p.stdout if p.returncode == 0 else "\n## Sync\n\nbench-sync.sh failed:\n\n```\n%s\n```\n" % p.stderr[-2000:])

    load = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "bench-load.py"), bin_path],
                          capture_output=True, text=True)
    out.append(load.stdout if load.returncode == 0 else "\n## Load\n\nbench-load.py failed:\n\n```\n%s\n```\n" % load.stderr[-2000:])

    text = "\n".join(out) + "\n"
    os.makedirs(os.path.join(ROOT, "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "RESULTS.md"), "w") as f:
        f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
