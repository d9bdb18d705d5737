# Delivery counts checked in the mesh simulator (src/sim/delivery.rs): what each
# message's origin reports against the nodes that truly hold it, every simulated second.
# The simulator is built only with the `sim` feature, so `make unit` does not run it.

TEST_TARGETS += test-delivery-sim

.PHONY: test-delivery-sim

test-delivery-sim: deps-rust
	$(CARGO) test --release --features sim --lib sim::delivery
