# meshchat — the front door.
#   make run     build and start `meshchat serve` on http://127.0.0.1:8080/meshchat/
#   make test    install what the tests need, then lint and run every test
#   make bench   measure the budgets of docs/BUDGETS.md, write bench/RESULTS.md
#   make sim     the mesh simulator: sync cost and spread at 10-1000 nodes, bench/SIM.md
# Packaging and cross builds: see mk/*.mk (make cross, make package, make deb).

CARGO      ?= cargo
RUN_DATA   ?= $(CURDIR)/run-data
RUN_LISTEN ?= 127.0.0.1:8080
RUN_NODE   ?= $(shell hostname -s 2>/dev/null | tr -c 'A-Za-z0-9\n-' '-' | head -c 60 || echo meshchat)

# Fragments add their suites here (test-ui, test-cross, test-package, ...).
TEST_TARGETS :=

.PHONY: all build release run test deps lint unit bench clean

all: build

build:
	$(CARGO) build

release:
	$(CARGO) build --release

run: deps-rust release
	@mkdir -p $(RUN_DATA)
	@echo "meshchat: open http://$(RUN_LISTEN)/meshchat/  (data in $(RUN_DATA); Ctrl-C stops)"
	./target/release/meshchat serve --listen $(RUN_LISTEN) --data $(RUN_DATA) --node $(RUN_NODE)

deps-rust:
	@scripts/install-deps.sh rust

deps:
	@scripts/install-deps.sh all

lint: deps-rust
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

unit: deps-rust
	$(CARGO) test --release

-include mk/*.mk

test: deps lint unit $(TEST_TARGETS)
	@echo "meshchat: all tests passed"

# Measures the x86_64 binary the packages ship (make cross ARCH=x86_64), and the
# mips_24kc one's instructions per request under qemu.
bench: deps release
	$(MAKE) --no-print-directory cross ARCH="x86_64 mips_24kc"
	$(MAKE) --no-print-directory cross-serve ARCH=x86_64
	scripts/bench.py

clean:
	$(CARGO) clean
	rm -rf $(RUN_DATA) build dist
