#!/usr/bin/env bash
# Runs lab-concurrent's models side by side with the C reference servers and the
# Python course server of the independent yardstick in ../shared/perf, interleaved
# (repetition 1 of every server, then repetition 2, ...), and prints the tables.
#
# usage: lab-concurrent/bench/yardstick.sh [SCENARIO...]     (from the repository root)
#   scenarios: pp100 connrate hold10k stream (default: all)
# environment: REPS (3), PERF (../shared/perf), OUT (/tmp/yardstick-raw.txt), PIN (same)
set -euo pipefail
cd "$(dirname "$0")/../.."
PERF=${PERF:-../shared/perf}
REPS=${REPS:-3}
OUT=${OUT:-/tmp/yardstick-raw.txt}
PIN=${PIN:-same}
scenarios=${*:-pp100 connrate hold10k stream}

# The yardstick's folder may be read-only: build it in a scratch copy.
work=$(mktemp -d)
cp -r "$PERF"/. "$work"/
make -s -C "$work" >/dev/null
cargo build --release -q -p lab-concurrent
bin=target/release/lab-concurrent
: > "$OUT"

run() { # TAG LABEL "COMMAND" SCENARIO [CONNS]
  local tag=$1 label=$2 cmd=$3; shift 3
  RESULTS=$OUT TAG=$tag LABEL=$label QUIET=1 PIN=$PIN "$work/run.sh" "$cmd" "$@" || true
}

for rep in $(seq "$REPS"); do
  for scenario in $scenarios; do
    case $scenario in
    pp100)
      for m in thread pool fork event; do run pp100 "rust-$m" "$bin server --model $m --port 0 --quiet" pingpong 100; done
      run pp100 c-epoll "$work/ref_server tcp-epoll -p 0" pingpong 100
      run pp100 c-thread "$work/ref_server tcp-thread -p 0" pingpong 100
      run pp100 c-fork "$work/ref_server tcp-fork -p 0" pingpong 100
      run pp100 py-threaded "python3 $work/py_tcp_threaded.py -p 0" pingpong 100 ;;
    connrate)
      for m in thread pool fork event; do run connrate "rust-$m" "$bin server --model $m --port 0 --quiet" connrate 32; done
      run connrate c-epoll "$work/ref_server tcp-epoll -p 0" connrate 32
      run connrate c-thread "$work/ref_server tcp-thread -p 0" connrate 32
      run connrate c-fork "$work/ref_server tcp-fork -p 0" connrate 32 ;;
    hold10k)
      [ "$rep" = 1 ] || continue # memory per connection is exact: one run is enough
      PIN=none run hold10k rust-event "$bin server --model event --port 0 --quiet --max-clients 10001" hold 10000
      PIN=none run hold10k rust-thread "$bin server --model thread --port 0 --quiet --max-clients 10001" hold 10000
      PIN=none run hold1k rust-fork "$bin server --model fork --port 0 --quiet" hold 1000
      PIN=none run hold10k c-epoll "$work/ref_server tcp-epoll -p 0" hold 10000
      PIN=none run hold10k c-thread "$work/ref_server tcp-thread -p 0" hold 10000
      PIN=none run hold1k c-fork "$work/ref_server tcp-fork -p 0" hold 1000 ;;
    stream)
      run stream rust-event "$bin server --model event --port 0 --quiet" stream
      run stream rust-thread "$bin server --model thread --port 0 --quiet" stream
      run stream c-epoll "$work/ref_server tcp-epoll -p 0" stream ;;
    esac
  done
done
python3 "$work/summarize.py" "$OUT"
rm -rf "$work"
