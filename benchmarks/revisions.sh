#!/usr/bin/env bash
# Throughput of the training transform at an earlier commit and at this working tree, run
# alternately on the same machine in one sitting (so drift in the machine's speed hits both), for
# checks such as "the engine change kept ≥ 90 % of the old throughput".
#
#   bash benchmarks/revisions.sh REV [ROUNDS] -- [benchmarks/augment.py options]
#   bash benchmarks/revisions.sh c9639d6 3 -- --case 32x32:256 --only "awsaug torch (cpu)"
#
# Both trees are copied to a temporary folder (REV by `git worktree`, the working tree's tracked
# and untracked files as they are now) and each copy is installed (not editable) into its own
# folder, so the checkout gets no build files; each round runs benchmarks/augment.py once per
# tree (REV first), each importing its own awsaug_cli, and prints both tables. The Pillow loop
# row in every table is the yardstick that does not change between the trees.
set -euo pipefail
PY="${PYTHON:-python3}"
# a path given from the caller's folder, made absolute (not resolved: a venv's python is a link)
[[ "$PY" == */* ]] && PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")"
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 REV [ROUNDS] -- [augment.py options]" >&2; exit 2; }
rev="$1"; shift
rounds=3
if [ $# -ge 1 ] && [ "$1" != "--" ]; then rounds="$1"; shift; fi
[ "${1:-}" = "--" ] && shift
git rev-parse --verify --quiet "$rev^{commit}" >/dev/null || { echo "$rev: not a commit here" >&2; exit 2; }

work="$(mktemp -d)"
before="$work/before"
after="$work/after"
git worktree add --quiet --detach "$before" "$rev"
trap 'git worktree remove --force "$before"; rm -rf "$work"' EXIT
mkdir "$after"
git ls-files -z --cached --others --exclude-standard | tar --null -cf - -T - | tar -xf - -C "$after"
for tree in "$before" "$after"; do
  "$PY" -m pip install --quiet --no-deps --no-build-isolation --target "$tree.site" "$tree" >/dev/null
done

for round in $(seq 1 "$rounds"); do
  for tree in "$before" "$after"; do
    label=$([ "$tree" = "$after" ] && echo "working tree" || echo "$rev")
    echo "### round $round: $label"
    (cd "$tree" && PYTHONPATH="$tree.site" "$PY" benchmarks/augment.py "$@" | grep '^|')
  done
done
