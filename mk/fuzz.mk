# Fuzzing (fuzz/, docs/SECURITY.md): cargo fuzz on the pinned nightly
# (scripts/cross/pins), one target per parser plus the CGI end to end.
#   make fuzz             every target for FUZZ_S seconds (default 600); fuzz/RESULTS.md
#   make fuzz FUZZ_S=60   shorter
# make test runs every target for 20 s (test-fuzz).

FUZZ_S ?= 600

TEST_TARGETS += test-fuzz

.PHONY: fuzz test-fuzz

fuzz: deps-rust
	FUZZ_S=$(FUZZ_S) FUZZ_RESULTS=fuzz/RESULTS.md scripts/fuzz.sh

test-fuzz: deps-rust
	FUZZ_S=20 scripts/fuzz.sh

# Load correctness (scripts/bench-load.py, 5 s per server; make bench runs it for 60 s):
# wrk against serve and the CGI under lighttpd; fails on any error, lost or doubled
# message or damaged record, never on a timing.
TEST_TARGETS += test-load

.PHONY: test-load

test-load: deps release
	python3 scripts/bench-load.py target/release/meshchat 5
