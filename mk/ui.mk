# Browser tests of the web UI (tests/ui): headless Debian chromium driven by
# playwright-core against real `meshchat serve` processes (www/ is embedded at build time,
# so the release binary is rebuilt first). Screenshots land in tests/ui/artifacts/.

UI_TESTS := tests/ui

TEST_TARGETS += test-ui

.PHONY: test-ui ui-deps

$(UI_TESTS)/node_modules/.package-lock.json: $(UI_TESTS)/package.json $(UI_TESTS)/package-lock.json
	@command -v npm >/dev/null || { echo "test-ui: Node.js 20+ and npm are needed" >&2; exit 1; }
	cd $(UI_TESTS) && npm ci --no-audit --no-fund --loglevel=error

ui-deps: deps $(UI_TESTS)/node_modules/.package-lock.json

test-ui: ui-deps
	$(CARGO) build --release
	cd $(UI_TESTS) && node --test --test-concurrency=1 --test-timeout=120000 *.test.mjs
