"""What every package test script reports with: `check` prints `ok` or `FAIL` and what
was checked, and remembers a failure; `finish` prints the summary (the failures listed)
and gives the script's exit status."""

FAILURES = []


def check(cond, what):
    print(("  ok   " if cond else "  FAIL ") + what)
    if not cond:
        FAILURES.append(what)
    return cond


def finish(name, archs=None):
    """The summary line of the script `name` (and the architectures it checked)."""
    if FAILURES:
        print(f"{name}: {len(FAILURES)} check(s) failed:")
        for f in FAILURES:
            print(f"  - {f}")
        return 1
    print(f"{name}: all checks passed" + (f" for {' '.join(archs)}" if archs else ""))
    return 0
