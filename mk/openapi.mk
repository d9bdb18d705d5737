# The API description (docs/openapi.yaml) checked against a running `meshchat serve` with
# schemathesis (scripts/openapi-check.sh; a venv under build/, about 30 s the first time,
# then about 15 s).

TEST_TARGETS += test-openapi

.PHONY: test-openapi

test-openapi: deps release
	scripts/openapi-check.sh
