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


def serve_binary():
    """The x86_64 musl build with `serve` (node builds leave it out): the peers of the
    sync bench and the server of the load test."""
    if os.environ.get("SERVE_BIN"):
        return os.environ["SERVE_BIN"]
    cross = os.path.join(ROOT, "build", "cross-serve", "x86_64", "meshchat")
    return cross if os.path.exists(cross) else os.path.join(ROOT, "target", "release", "meshchat")


def tools():
    os.makedirs(BUILD, exist_ok=True)
    for name in ("measure", "trivial-cgi", "http-bench"):
        sh("gcc", "-O2", "-static", "-o", os.path.join(BUILD, name), os.path.join(ROOT, "scripts", "bench", name + ".c"))
    # The same trivial CGI on musl (zig's, as the cross builds link it), when the cross
    # tools are installed: the cheapest start a static binary can have.
    zig = os.path.join(ROOT, "tools", "venv", "bin", "python")
    if os.path.exists(zig):
        p = subprocess.run([zig, "-m", "ziglang", "cc", "-target", "x86_64-linux-musl", "-O2", "-static", "-s",
                            "-o", os.path.join(BUILD, "trivial-cgi-musl"),
                            os.path.join(ROOT, "scripts", "bench", "trivial-cgi.c")],
                           capture_output=True, env=dict(os.environ, ZIG_GLOBAL_CACHE_DIR=os.path.join(ROOT, "build", "cache", "zig"),
                                                         ZIG_LOCAL_CACHE_DIR=os.path.join(ROOT, "build", "cache", "zig-local")))
        if p.returncode != 0:
            sys.stderr.write("bench: zig cc failed, no musl trivial CGI:\n" + p.stderr.decode(errors="replace"))
    return os.path.join(BUILD, "measure"), os.path.join(BUILD, "trivial-cgi")


# The side-by-side run under lighttpd: every request kind alternates with the others on its
# own kept-alive connection (scripts/bench/http-bench.c), so load from elsewhere on the
# machine slows all of them alike.
LIGHTTPD_ROUNDS = int(os.environ.get("BENCH_HTTP_ROUNDS", "1000"))
# The goal: each of these within 1.15x of the trivial CGI, median.
LIGHTTPD_GOAL = 1.15
LIGHTTPD_CHECKED = ("messages", "messages_version_ui", "send_message", "users")
SEND_ON_DISK = "send_message (log on disk)"


def http_request(path, method="GET", body=b"", headers=()):
    head = ["%s %s HTTP/1.1" % (method, path), "Host: bench-node:8080", "Connection: keep-alive",
            "User-Agent: meshchat-bench"]
    head += list(headers)
    if body:
        head += ["Content-Type: application/x-www-form-urlencoded", "Content-Length: %d" % len(body)]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def lighttpd(bin_path, trivial, cfg, now):
    """Starts lighttpd (Debian's, mod_cgi) on a socket bound to port 0 here and handed over
    by socket activation; returns [(name, median_us, best_us, status, body bytes)] with the
    trivial CGI first, or a reason string when lighttpd is not installed."""
    exe = shutil.which("lighttpd") or ("/usr/sbin/lighttpd" if os.path.exists("/usr/sbin/lighttpd") else None)
    if not exe:
        return "lighttpd is not installed (scripts/install-deps.sh installs it)"
    import socket
    tmp = tempfile.mkdtemp(prefix="meshchat-lighttpd-")
    try:
        cgi_dir = os.path.join(tmp, "www", "cgi-bin")
        os.makedirs(cgi_dir)
        shutil.copy(bin_path, os.path.join(cgi_dir, "meshchat"))
        shutil.copy(trivial, os.path.join(cgi_dir, "trivial"))
        musl = os.path.join(BUILD, "trivial-cgi-musl")
        if os.path.exists(musl):
            shutil.copy(musl, os.path.join(cgi_dir, "trivial-musl"))
        for d in ("send", "send-ram"):
            os.makedirs(os.path.join(tmp, "www", d, "cgi-bin"))
            shutil.copy(bin_path, os.path.join(tmp, "www", d, "cgi-bin", "meshchat"))
        send_cfg = copy_node(cfg, os.path.join(tmp, "send-node"))
        send_ram_cfg = copy_node(cfg, os.path.join(tmp, "send-ram-node"), log_in_ram=True)
        conf = os.path.join(tmp, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write('server.modules = ("mod_setenv", "mod_cgi")\n'
                    'server.document-root = "%s/www"\n'
                    'server.errorlog = "%s/error.log"\n'
                    'server.port = 8080\n'
                    'server.systemd-socket-activation = "enable"\n'
                    'server.max-keep-alive-requests = 100000\n'
                    'server.max-keep-alive-idle = 60\n'
                    'cgi.assign = ("/meshchat" => "", "/cgi-bin/trivial" => "", "/cgi-bin/trivial-musl" => "")\n'
                    'setenv.add-environment = ("MESHCHAT_CONFIG" => "%s")\n'
                    # send_message goes to a copy of the node: each send changes the log,
                    # and the other kinds should see what a node sees between two sends.
                    '$HTTP["url"] =~ "^/send/" {\n'
                    '  setenv.set-environment = ("MESHCHAT_CONFIG" => "%s")\n'
                    '}\n'
                    '$HTTP["url"] =~ "^/send-ram/" {\n'
                    '  setenv.set-environment = ("MESHCHAT_CONFIG" => "%s")\n'
                    '}\n' % (tmp, tmp, cfg, send_cfg, send_ram_cfg))
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        port = sock.getsockname()[1]
        # Socket activation: the listening socket is fd 3, LISTEN_PID the server's own pid.
        os.set_inheritable(sock.fileno(), True)
        server = subprocess.Popen(["sh", "-c", 'exec 3<&%d; LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" -D -f "$1"' % sock.fileno(),
                                   exe, conf], pass_fds=(sock.fileno(),), stdout=subprocess.DEVNULL)
        sock.close()
        try:
            body = ("action=send_message&message=bench+message+with+some+words&call_sign=K1ABC&channel=ops&epoch=%d"
                    % now).encode()
            kinds = [
                ("trivial CGI (C, glibc static)", http_request("/cgi-bin/trivial")),
            ] + ([("trivial CGI (C, musl static)", http_request("/cgi-bin/trivial-musl"))] if os.path.exists(musl) else []) + [
                ("messages", http_request("/cgi-bin/meshchat?action=messages")),
                ("messages (gzip)", http_request("/cgi-bin/meshchat?action=messages", headers=["Accept-Encoding: gzip"])),
                ("messages_version_ui", http_request(
                    "/cgi-bin/meshchat?action=messages_version_ui&call_sign=K1ABC&id=bench1&epoch=%d" % now)),
                ("send_message", http_request("/send-ram/cgi-bin/meshchat", "POST", body)),
                (SEND_ON_DISK, http_request("/send/cgi-bin/meshchat", "POST", body)),
                ("users", http_request("/cgi-bin/meshchat?action=users")),
            ]
            files = []
            for i, (_, req) in enumerate(kinds):
                files.append(os.path.join(tmp, "req%d" % i))
                with open(files[-1], "wb") as f:
                    f.write(req)
            out = None
            for _ in range(50):  # lighttpd starts in a few ms
                p = subprocess.run([os.path.join(BUILD, "http-bench"), str(port), "1"] + files[:1],
                                   capture_output=True, text=True)
                if p.returncode == 0:
                    break
                time.sleep(0.1)
            # Warm every path once (first request after a change builds the cached bodies).
            sh(os.path.join(BUILD, "http-bench"), str(port), "3", *files, stdout=subprocess.DEVNULL)
            out = subprocess.run([os.path.join(BUILD, "http-bench"), str(port), str(LIGHTTPD_ROUNDS)] + files,
                                 check=True, capture_output=True, text=True).stdout.split("\n")
        finally:
            server.terminate()
            server.wait(timeout=10)
        rows = []
        for (name, _), line in zip(kinds, out):
            med, best, status, nbytes = (int(x) for x in line.split())
            if status != 200:
                return "%s answered HTTP %d under lighttpd (see %s/error.log)" % (name, status, tmp)
            rows.append((name, med, best, status, nbytes))
        return rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def legacy_db(n, now):
    """A legacy database file of n realistic messages, oldest first."""
    lines = []
    for i in range(n):
        text = "Net check-in %d: signal report 59, all stations please acknowledge \\\"QSL\\\"" % i
        chan = ["", "ops", "net", "weather"][i % 4]
        lines.append("%08x\t%d\t%s\tK%dABC\tnode-%d\tnode\t%s\n" % (zlib.crc32(b"%d" % i), now - n + i, text, i % 50, i % 7, chan))
    return "".join(lines)


RAM_DIRS = []


def ram_root():
    """Where RAM folders go: tmpfs, as /tmp is on a node (the log stays on disk, as on
    flash)."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def write_config(d, data_dir, ram_dir, n):
    cfg = os.path.join(d, "meshchat.conf")
    with open(cfg, "w") as f:
        f.write("config meshchat 'main'\n\toption node 'bench-node'\n\toption zone 'MeshChat'\n"
                "\toption data_dir '%s'\n\toption ram_dir '%s'\n\toption max_messages '%d'\n"
                "\toption platform 'node'\n" % (data_dir, ram_dir, n))
    return cfg


def make_node(tmp, n, now):
    d = os.path.join(tmp, "n%d" % n)
    os.makedirs(d)
    ram = tempfile.mkdtemp(prefix="meshchat-bench-ram-", dir=ram_root())
    RAM_DIRS.append(ram)
    cfg = write_config(d, d + "/data", ram, n)
    db = os.path.join(d, "legacy.db")
    with open(db, "w") as f:
        f.write(legacy_db(n, now))
    return d, cfg, db


def config_value(cfg, name):
    with open(cfg) as f:
        return re.search(r"option %s '([^']*)'" % name, f.read()).group(1)


def copy_node(cfg, dest, log_in_ram=False):
    """A copy of the node whose configuration is `cfg` (its log and RAM folder) under
    `dest` (the log on tmpfs too with `log_in_ram`); returns the copy's configuration."""
    os.makedirs(dest)
    ram = tempfile.mkdtemp(prefix="meshchat-bench-ram-", dir=ram_root())
    RAM_DIRS.append(ram)
    data = os.path.join(ram, "data") if log_in_ram else os.path.join(dest, "data")
    shutil.copytree(config_value(cfg, "data_dir"), data)
    shutil.copytree(config_value(cfg, "ram_dir"), os.path.join(ram, "ram"))
    return write_config(dest, data, os.path.join(ram, "ram"), int(config_value(cfg, "max_messages")))


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


# Instructions per request on the radios' CPU, counted under qemu-user (Debian's
# qemu-user-static has no TCG plugins): with -singlestep every translation block holds one
# guest instruction (a branch's delay slot is a block of its own) and `-d exec,nochain`
# logs every block executed, so the log's "Trace" lines are the instructions the program
# ran in user space (the kernel's work in system calls is not counted, as under callgrind).
# Checked against a second count, blocks executed times instructions per block from
# `-d in_asm`: both gave 106,490 for `action=config`.
MIPS_ARCH = "mips_24kc"
# The same requests before the start-up work, counted the same way.
MIPS_BEFORE_COMMIT = "e20b36f (582,480 bytes)"
MIPS_BEFORE = {"messages": 337995, "messages (gzip)": 144448, "messages_version_ui": 316435,
               "send_message": 160482, "users": 317058, "config": 109189}


def qemu_instructions(binary, env, stdin_file=None):
    qemu = shutil.which("qemu-mips-static")
    if not qemu:
        return None
    tmp = tempfile.mkdtemp(prefix="meshchat-qemu-")
    fifo = os.path.join(tmp, "trace")
    os.mkfifo(fifo)
    try:
        with open(stdin_file or os.devnull, "rb") as stdin:
            p = subprocess.Popen([qemu, "-cpu", "24Kc", "-singlestep", "-d", "exec,nochain", "-D", fifo, binary],
                                 env=env, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # Lines are "Trace 0: ..." (the stripped binary has no symbols to print).
            count, tail = 0, b"\n"
            with open(fifo, "rb") as log:
                while True:
                    chunk = log.read(1 << 20)
                    if not chunk:
                        break
                    data = tail + chunk
                    count += data.count(b"\nTrace ")
                    tail = data[-6:]  # shorter than the pattern: nothing is counted twice
            if p.wait() != 0:
                return None
        return count
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


MIPS_KINDS = ("messages", "messages (gzip)", "messages_version_ui", "send_message", "users", "config")


def mips_counts(binary, cfg, now):
    """{kind: instructions} for one request of each kind on a node of 500 messages, each
    counted after a first run of all of them (caches warm, as between two changes)."""
    body = ("action=send_message&message=bench+message+with+some+words&call_sign=K1ABC&channel=ops&epoch=%d"
            % now).encode()
    tmp = tempfile.mkdtemp(prefix="meshchat-mips-")
    try:
        body_file = os.path.join(tmp, "send.body")
        with open(body_file, "wb") as f:
            f.write(body)
        send_cfg = copy_node(cfg, os.path.join(tmp, "send-node"), log_in_ram=True)
        kinds = {
            "messages": (cgi_env(cfg, "action=messages"), None),
            "messages (gzip)": (cgi_env(cfg, "action=messages", extra={"HTTP_ACCEPT_ENCODING": "gzip"}), None),
            "messages_version_ui": (cgi_env(cfg, "action=messages_version_ui&call_sign=K1ABC&id=bench1&epoch=%d" % now),
                                    None),
            "send_message": (cgi_env(send_cfg, "", "POST", body), body_file),
            "users": (cgi_env(cfg, "action=users"), None),
            "config": (cgi_env(cfg, "action=config"), None),
        }
        qemu = shutil.which("qemu-mips-static")
        if not qemu:
            return "qemu-mips-static is not installed (scripts/install-deps.sh installs qemu-user-static)"
        for env, stdin in kinds.values():
            with open(stdin or os.devnull, "rb") as f:
                subprocess.run([qemu, "-cpu", "24Kc", binary], env=env, stdin=f, stdout=subprocess.DEVNULL, check=True)
        return {k: qemu_instructions(binary, env, stdin) for k, (env, stdin) in kinds.items()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def mips_section(counts, binary):
    out = ["\n## mips_24kc: instructions per request\n"]
    if isinstance(counts, str):
        out.append("Not measured: %s.\n" % counts)
        return "\n".join(out)
    out.append("`%s` (%s bytes) under `qemu-mips-static -cpu 24Kc`, the same node of 500 messages, each request"
               " counted after a first run of all of them (caches warm, as between two changes). Counting:"
               " `-singlestep -d exec,nochain`, one logged block per guest instruction (see `qemu_instructions`"
               " in `scripts/bench.py`); user-space instructions only. *Before*: the same requests on the binary"
               " of commit %s, counted the same way.\n"
               % (os.path.relpath(binary, ROOT), f"{os.path.getsize(binary):,}", MIPS_BEFORE_COMMIT))
    out.append("| request | before | now | now / before |")
    out.append("|---|---:|---:|---:|")
    for k in MIPS_KINDS:
        now, before = counts.get(k), MIPS_BEFORE.get(k)
        out.append("| %s | %s | %s | %s |" % (k, f"{before:,}" if before else "n/a", f"{now:,}" if now else "n/a",
                                            "%.2f" % (now / before) if now and before else ""))
    return "\n".join(out) + "\n"


def lighttpd_section(side, bin_path):
    out = ["\n## Under a web server: lighttpd, side by side\n"]
    if isinstance(side, str):
        out.append("Not measured: %s.\n" % side)
        return "\n".join(out)
    floor = side[0]
    out.append(
        "Debian's lighttpd (mod_cgi) runs `%s` and trivial static C CGIs (`scripts/bench/trivial-cgi.c`:"
        " `gcc -O2 -static` on glibc, the floor the goal is measured against, and the same program on"
        " musl built by zig cc, as the cross builds link) side by side: one kept-alive HTTP/1.1"
        " connection per kind, the kinds taking turns request by request (%d rounds,"
        " `scripts/bench/http-bench.c`), so load from elsewhere on the machine slows all of them alike."
        " Time: from writing the request to the last body byte. A node of 500 messages and 20 users;"
        " the RAM folder on tmpfs as on a node. `send_message` posts to copies of the node: one with"
        " the log on tmpfs too (the program's own cost), one with the log on this machine's disk,"
        " where the fdatasync before \"OK\" waits for the device (on a node: its flash)."
        " Goal: each of %s within %.2f× of the glibc trivial CGI (median).\n"
        % (os.path.relpath(bin_path, ROOT), LIGHTTPD_ROUNDS, ", ".join("`%s`" % k for k in LIGHTTPD_CHECKED),
           LIGHTTPD_GOAL))
    out.append("| request | median (µs) | best (µs) | median ratio | best ratio | body bytes | within %.2f× |"
               % LIGHTTPD_GOAL)
    out.append("|---|---:|---:|---:|---:|---:|---|")
    for name, med, best, status, nbytes in side:
        ratio = med / floor[1]
        goal = ("yes" if ratio <= LIGHTTPD_GOAL else "**no**") if name in LIGHTTPD_CHECKED else ""
        out.append("| %s | %d | %d | %.2f× | %.2f× | %d | %s |"
                   % (name, med, best, ratio, best / floor[2], nbytes, goal))
    return "\n".join(out) + "\n"


def main():
    bin_path = binary()
    measure_bin, trivial = tools()
    size = os.path.getsize(bin_path)
    now = int(time.time())
    tmp = tempfile.mkdtemp(prefix="meshchat-bench-")
    rows = []
    side = "not run"
    mips = "no mips_24kc binary (make cross ARCH=mips_24kc)"
    floor = measure(measure_bin, [trivial], {"GATEWAY_INTERFACE": "CGI/1.1"}, runs=RUNS)
    try:
        for n in (500, 10000):
            d, cfg, db = make_node(tmp, n, now)
            sh(bin_path, "import", db, "--config", cfg, stderr=subprocess.DEVNULL)
            # Some presence, as a busy node has.
            for u in range(20):
                subprocess.run([bin_path], env=cgi_env(cfg, "action=messages_version_ui&call_sign=W%dXYZ&id=s%d&epoch=%d" % (u, u, now)),
                               check=True, stdout=subprocess.DEVNULL)
            if n == 500:
                side = lighttpd(bin_path, trivial, cfg, now)
                mips_bin = os.path.join(ROOT, "build", "cross", MIPS_ARCH, "meshchat")
                if os.path.exists(mips_bin):
                    mips = mips_counts(mips_bin, cfg, now)
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
            ram = config_value(cfg, "ram_dir")

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
        for d in RAM_DIRS:
            shutil.rmtree(d, ignore_errors=True)

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
    out.append(lighttpd_section(side, bin_path))
    out.append(mips_section(mips, os.path.join(ROOT, "build", "cross", MIPS_ARCH, "meshchat")))
    out.append("\n## Budgets (docs/BUDGETS.md)\n")
    out.append("| budget | measured | holds |")
    out.append("|---|---|---|")
    for what, ok, fig in checks:
        out.append("| %s | %s | %s |" % (what, fig, "yes" if ok else "**no**"))
    out.append("\nLargest peak RSS over every action and size: %d KB.\n" % worst_rss)

    sync_bench = os.path.join(ROOT, "scripts", "bench-sync.sh")
    if os.path.exists(sync_bench):
        p = subprocess.run([sync_bench, serve_binary()], capture_output=True, text=True)
        out.append(p.stdout if p.returncode == 0 else "\n## Sync\n\nbench-sync.sh failed:\n\n```\n%s\n```\n" % p.stderr[-2000:])

    load = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "bench-load.py"), bin_path, "60",
                           serve_binary()],
                          capture_output=True, text=True)
    out.append(load.stdout if load.returncode == 0 else "\n## Load\n\nbench-load.py failed:\n\n```\n%s\n```\n" % load.stderr[-2000:])

    text = "\n".join(out) + "\n"
    os.makedirs(os.path.join(ROOT, "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "RESULTS.md"), "w") as f:
        f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
