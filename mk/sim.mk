# The mesh simulator (docs/SYNC.md, "The simulator"): meshchat's own sync code over a
# simulated mesh, deterministic and seeded.
#   make sim        N = 10, 100, 1000 (10% loss, AREDN-like, with and without 10% legacy
#                   nodes), today's all-peers strategy beside the default, and the
#                   namespace test's line5+branch mesh; prints the table, writes
#                   bench/SIM.md and bench/sim.json (a few minutes on 2 cores)
#   make test-sim   (part of make test) the simulator's lint and its own tests: small
#                   meshes, seconds; pass/fail on simulated time only
# The simulator is a cargo feature and its own binary: the shipped one does not carry it.

SIM_FLAGS ?= --matrix --jobs 2 --out bench

TEST_TARGETS += test-sim

.PHONY: sim test-sim

sim: deps-rust
	$(CARGO) run --profile sim --features sim --bin meshchat-sim -- $(SIM_FLAGS)

test-sim: deps-rust
	$(CARGO) clippy --all-targets --features sim -- -D warnings
	$(CARGO) test --release --features sim --lib sim::
