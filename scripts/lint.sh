#!/usr/bin/env bash
# `npm run lint`: eslint and prettier for TypeScript/JavaScript, clang-format for C (native/, bench/).
# `npm run format` rewrites what these check.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null; then
	echo "lint: clang-format is missing: run scripts/setup.sh --test (Debian package clang-format)" >&2
	exit 1
fi
status=0
npx eslint . || status=1
npx prettier --check --log-level warn . || { echo "lint: run npm run format" >&2; status=1; }
c_files=$(git ls-files '*.c' '*.h')
for f in $c_files; do
	if ! clang-format "$f" | cmp -s - "$f"; then
		echo "lint: $f is not clang-formatted (npm run format)" >&2
		status=1
	fi
done
exit $status
