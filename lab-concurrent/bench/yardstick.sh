#!/usr/bin/env bash
# Runs lab-concurrent's models side by side with the C reference servers and the
# Python course server of an independent yardstick (not part of this repository:
# its folder is given in PERF), interleaved (repetition 1 of every server, then
# repetition 2, ...), and prints the tables of BENCHMARKS.md.
#
# usage: PERF=DIR lab-concurrent/bench/yardstick.sh [SCENARIO...]  (from the repository root)
#   scenarios: pp100 connrate hold10k stream starve (default: all)
# environment: PERF (required), REPS (3), OUT (/tmp/yardstick-raw.txt), PIN (same)
set -euo pipefail
cd "$(dirname "$0")/../.."
PERF=${PERF:?set PERF to the folder of the yardstick (C servers, loadgen, run.sh)}
REPS=${REPS:-3}
OUT=${OUT:-/tmp/yardstick-raw.txt}
PIN=${PIN:-same}
scenarios=${*:-pp100 connrate hold10k stream starve}

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

# run.sh counts the CPU of the server and of its reaped children: a prefork server's
# workers live until it stops, so their CPU would not be counted. This runs one
# scenario itself and counts the CPU of the whole process tree (server and workers).
run_tree() { # TAG LABEL "COMMAND" SCENARIO CONNS
  local tag=$1 label=$2 cmd=$3 scen=$4 conns=$5 out pid port line cpu0 cpu1 res
  out=$(mktemp)
  setsid taskset -c 0 bash -c "exec $cmd" >"$out" 2>/dev/null </dev/null &
  pid=$!
  for _ in $(seq 200); do
    line=$(grep -m1 'listening on' "$out" || true)
    [ -n "$line" ] && break
    sleep 0.05
  done
  port=${line##*:}; port=${port%% *}
  sleep 0.5 # the workers fork after the listening line
  tree_ticks() { # utime+stime of the server and its live children
    for p in "$pid" $(ps --ppid "$pid" -o pid= 2>/dev/null); do
      sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12+$13}'
    done | awk '{s+=$1} END {print s+0}'
  }
  cpu0=$(tree_ticks)
  res=$(taskset -c 0 "$work/loadgen" "$scen" -a 127.0.0.1 -p "$port" -c "$conns" -d "${DUR:-5}" -P "$pid" | grep -m1 '^RESULT' || true)
  cpu1=$(tree_ticks)
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$out"
  echo "$res label=\"$label\" pin=same tag=$tag srv_cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$(getconf CLK_TCK)" 'BEGIN{printf "%.2f", (b-a)/t}') rc=0" >>"$OUT"
}

for rep in $(seq "$REPS"); do
  for scenario in $scenarios; do
    case $scenario in
    pp100)
      # pool and prefork with a worker per client: here they serve every client.
      for m in thread "pool --workers 100" fork event async; do
        run pp100 "rust-${m%% *}" "$bin server --model $m --port 0 --quiet" pingpong 100
      done
      run_tree pp100 rust-prefork "$bin server --model prefork --workers 100 --port 0 --quiet" pingpong 100
      run pp100 c-epoll "$work/ref_server tcp-epoll -p 0" pingpong 100
      run pp100 c-thread "$work/ref_server tcp-thread -p 0" pingpong 100
      run pp100 c-fork "$work/ref_server tcp-fork -p 0" pingpong 100
      run pp100 py-threaded "python3 $work/py_tcp_threaded.py -p 0" pingpong 100 ;;
    connrate)
      for m in thread pool fork event async; do run connrate "rust-$m" "$bin server --model $m --port 0 --quiet" connrate 32; done
      run_tree connrate rust-prefork "$bin server --model prefork --port 0 --quiet" connrate 32
      run connrate c-epoll "$work/ref_server tcp-epoll -p 0" connrate 32
      run connrate c-thread "$work/ref_server tcp-thread -p 0" connrate 32
      run connrate c-fork "$work/ref_server tcp-fork -p 0" connrate 32 ;;
    hold10k)
      [ "$rep" = 1 ] || continue # memory per connection is exact: one run is enough
      PIN=none run hold10k rust-event "$bin server --model event --port 0 --quiet --max-clients 10001" hold 10000
      PIN=none run hold10k rust-async "$bin server --model async --port 0 --quiet --max-clients 10001" hold 10000
      PIN=none run hold10k rust-thread "$bin server --model thread --port 0 --quiet --max-clients 10001" hold 10000
      PIN=none run hold1k rust-fork "$bin server --model fork --port 0 --quiet" hold 1000
      PIN=none run hold10k c-epoll "$work/ref_server tcp-epoll -p 0" hold 10000
      PIN=none run hold10k c-thread "$work/ref_server tcp-thread -p 0" hold 10000
      PIN=none run hold1k c-fork "$work/ref_server tcp-fork -p 0" hold 1000 ;;
    stream)
      run stream rust-event "$bin server --model event --port 0 --quiet" stream
      run stream rust-thread "$bin server --model thread --port 0 --quiet" stream
      run stream c-epoll "$work/ref_server tcp-epoll -p 0" stream ;;
    starve)
      # Fewer workers (the default, cores x 4) than clients: most clients are never
      # served. loadgen counts their timeouts; `bench` reports them as starved.
      [ "$rep" = 1 ] || continue
      for m in pool prefork; do run starve "rust-$m" "$bin server --model $m --port 0 --quiet" pingpong 100; done ;;
    esac
  done
done
python3 "$work/summarize.py" "$OUT"
rm -rf "$work"
