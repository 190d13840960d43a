#!/usr/bin/env bash
# Conformance test of the emulator with the AWS SDK for JavaScript v3.
#
# Installs the pinned npm packages (npm ci), builds s3ag, starts a fresh
# emulator with conformance/js/emulator.yaml on a free loopback port, runs
# `node --test` against it and stops the emulator whatever happens.
# Works from any directory; exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
js="$root/conformance/js"

for tool in node npm go; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "conformance: '$tool' is not installed; the JavaScript conformance test needs Node.js (20 or newer) with npm, and Go" >&2
		exit 1
	fi
done

tmp="$(mktemp -d)"
emu_pid=""
cleanup() {
	if [ -n "$emu_pid" ] && kill -0 "$emu_pid" 2>/dev/null; then
		kill -TERM "$emu_pid" 2>/dev/null || true
		wait "$emu_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "conformance: node $(node --version), npm $(npm --version)"
(cd "$js" && npm ci --no-audit --no-fund)

(cd "$root" && go build -o "$tmp/s3ag" ./cmd/s3ag)

# Port 0: the emulator picks a free port and prints its URL first.
"$tmp/s3ag" emulator --addr 127.0.0.1:0 --config "$js/emulator.yaml" >"$tmp/emulator.log" 2>&1 &
emu_pid=$!

endpoint=""
for _ in $(seq 1 100); do
	if ! kill -0 "$emu_pid" 2>/dev/null; then
		echo "conformance: the emulator exited at start:" >&2
		cat "$tmp/emulator.log" >&2
		exit 1
	fi
	endpoint="$(head -n 1 "$tmp/emulator.log" | grep -o 'http://127\.0\.0\.1:[0-9]*' || true)"
	if [ -n "$endpoint" ] && node -e 'fetch(process.argv[1] + "/_emulator/calls").then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$endpoint"; then
		break
	fi
	endpoint=""
	sleep 0.1
done
if [ -z "$endpoint" ]; then
	echo "conformance: the emulator did not answer within 10s:" >&2
	cat "$tmp/emulator.log" >&2
	exit 1
fi
echo "conformance: emulator at $endpoint"

# The pinned SDK warns on every run that its releases from 2027 on need
# Node.js 22; that says nothing about this test.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
# Keep credentials, Region and endpoints of the environment out of the test.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE \
	AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 \
	AWS_ENDPOINT_URL_S3_CONTROL AWS_ENDPOINT_URL_STS
status=0
(cd "$js" && S3AG_ENDPOINT="$endpoint" node --test conformance.test.mjs) || status=$?
if [ "$status" -ne 0 ]; then
	echo "conformance: FAILED; the emulator's log:" >&2
	cat "$tmp/emulator.log" >&2
fi
exit "$status"
