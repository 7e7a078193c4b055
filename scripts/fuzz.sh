#!/usr/bin/env bash
# Runs every fuzz target in the module (every "func Fuzz..." in a
# *_test.go file) for the given time each: `scripts/fuzz.sh 30s` (the
# default), `scripts/fuzz.sh 3s` as scripts/test.sh does so that no
# target rots, or `scripts/fuzz.sh 2h` for a long hunt. A second argument
# limits the run to targets whose name matches a regular expression:
# `scripts/fuzz.sh 1h 'FuzzChunked|FuzzDecrypt'`.
#
# A failing input is written by `go test` to the package's
# testdata/fuzz/<Target>/ directory; commit it there and it runs as a
# regression case in every ordinary `go test` from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-30s}
only=${2:-.}
# Targets are found in the sources rather than with `go test -list`, which
# would build every package's test binary once more.
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
	dir=$(dirname "$file")
	for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
		if ! [[ $target =~ $only ]]; then
			continue
		fi
		echo "== $dir $target ($fuzztime)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$dir"
	done
done
