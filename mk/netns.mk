# Real meshchat processes over lossy radio-like links (tests/netns/lossy_mesh.py,
# docs/SYNC.md "Lossy links"): six hosts in network namespaces, a line of five plus a
# branch, 20% loss and 200 ms delay per direction, one link cut for 60 s. Needs root and
# `ip netns`; anywhere else it prints why it skips. Names it creates start with mcL.
#   make test-netns    3 rounds of posts and 2 cuts, about 6 minutes: the heal time is a
#                      median over the messages of both cuts (one cut's is too noisy)
#   make bench-netns   the same; figures into bench/netns-after.json

TEST_TARGETS += test-netns

.PHONY: test-netns bench-netns

test-netns: deps release
	python3 tests/netns/lossy_mesh.py --bin target/release/meshchat --reps 3 --cuts 2

bench-netns: deps release
	python3 tests/netns/lossy_mesh.py --bin target/release/meshchat --reps 3 --cuts 2 \
		--json bench/netns-after.json
