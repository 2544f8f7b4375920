#!/usr/bin/env bash
# Makes the zip to upload as a Gradescope programming assignment's autograder:
# setup.sh, run_autograder and autograder.conf (edit it first: which lab, which
# check), with this repository's source (its committed HEAD) in socket-labs/.
#   grading/gradescope/make_autograder.sh autograder.zip
set -euo pipefail
out="$(realpath "${1:?usage: make_autograder.sh OUT.zip}")"
here="$(cd "$(dirname "$0")" && pwd)"
staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
cp "$here/setup.sh" "$here/run_autograder" "$here/autograder.conf" "$staging/"
# From the repository's top: run in a subfolder, git archive takes that subfolder only.
top="$(git -C "$here" rev-parse --show-toplevel)"
git -C "$top" archive --format=tar --prefix=socket-labs/ HEAD | tar -x -C "$staging"
rm -f "$out"
(cd "$staging" && python3 -m zipfile -c "$out" setup.sh run_autograder autograder.conf socket-labs)
echo "wrote $out: upload it as the autograder"
