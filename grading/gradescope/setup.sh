#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image
# (Ubuntu): the languages the submissions are written in, then the lab's binary in
# source/bin, built from the copy of socket-labs that make_autograder.sh put in the
# zip (unless a binary is there already).
set -euo pipefail
root="${AUTOGRADER_ROOT:-/autograder}"
source "$root/source/autograder.conf"
apt-get update
apt-get install -y --no-install-recommends python3 gcc libc6-dev curl ca-certificates
if [ ! -x "$root/source/bin/$LAB" ]; then
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  # shellcheck source=/dev/null
  source "$HOME/.cargo/env"
  cargo build --release --manifest-path "$root/source/socket-labs/Cargo.toml" -p "$LAB"
  mkdir -p "$root/source/bin"
  cp "$root/source/socket-labs/target/release/$LAB" "$root/source/bin/$LAB"
fi
