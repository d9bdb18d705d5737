#!/usr/bin/env python3
"""What each crate costs in the binary: builds ARCH (default mips_24kc) with the cross
flags but unstripped (target-bloat/, build/sizes/), then sums symbol sizes per crate from
llvm-nm (the pinned nightly's llvm-tools). Generic code is counted where it was
instantiated's owner path says (std's collections used by meshchat count as std), as
cargo-bloat does. Usage: sizes.py [ARCH]"""
import collections
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "package"))
import pkglib  # noqa: E402


def pins():
    out = {}
    with open(os.path.join(ROOT, "scripts", "cross", "pins")) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                k, v = line.strip().split("=", 1)
                out[k] = v
    return out


def main():
    arch = sys.argv[1] if len(sys.argv) > 1 else "mips_24kc"
    tc = pins()["CROSS_TOOLCHAIN"]
    env = dict(os.environ, CROSS_TARGET_DIR=os.path.join(ROOT, "target-bloat"), CROSS_NO_OBJCOPY="1",
               CROSS_OUT=os.path.join(ROOT, "build", "sizes"),
               CROSS_EXTRA_FLAGS="--config profile.release.strip=false")
    subprocess.run([os.path.join(ROOT, "scripts", "cross", "build.sh"), arch], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["rustup", "component", "add", "llvm-tools", "--toolchain", tc], check=True,
                   capture_output=True)
    sysroot = subprocess.run(["rustup", "run", tc, "rustc", "--print", "sysroot"], check=True,
                             capture_output=True, text=True).stdout.strip()
    nm = os.path.join(sysroot, "lib", "rustlib", "x86_64-unknown-linux-gnu", "bin", "llvm-nm")
    binary = os.path.join(ROOT, "build", "sizes", arch, "meshchat")
    out = subprocess.run([nm, "--print-size", "--size-sort", "--demangle", binary],
                         check=True, capture_output=True, text=True).stdout
    per = collections.Counter()
    total = 0
    for line in out.splitlines():
        parts = line.split(None, 3)
        if len(parts) < 4 or parts[2].lower() not in ("t", "w", "r", "d", "b"):
            continue
        size, kind, name = int(parts[1], 16), parts[2].lower(), parts[3]
        if kind == "b":  # .bss takes no room in the file
            continue
        m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)::", name)
        crate = m.group(1) if m else ("[C: musl, compiler-rt]" if kind in "tw" else "[data]")
        if crate in ("_$LT$", "impl"):
            crate = "[other]"
        per[crate] += size
        total += size
    stripped = os.path.getsize(os.path.join(ROOT, "build", "cross", arch, "meshchat")) \
        if os.path.exists(os.path.join(ROOT, "build", "cross", arch, "meshchat")) else 0
    print(f"sizes: {arch}: symbols {total} bytes; stripped binary {stripped} bytes")
    print(f"{'crate':28} {'bytes':>9} {'share':>6}")
    for crate, n in per.most_common(25):
        print(f"{crate:28} {n:9d} {100 * n / total:5.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
