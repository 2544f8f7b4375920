#!/usr/bin/env bash
# A class of 40 lab-udp submissions for the grading benchmark (BENCHMARKS.md,
# "Grading a class"): 16 correct ones, and for each of the 8 checks of
# `lab-udp check` one that crashes at it, one that hangs at it and one that answers
# it wrongly. Each is DIR/NAME/UDPServer.py, run as 'python3 UDPServer.py {port}'.
#   grading/bench/make_class.sh /tmp/class
set -euo pipefail
dir="${1:?usage: make_class.sh DIR}"
# What each check sends that the others do not (in the order check runs them).
triggers=(
  "m == b'hello, world'"
  "'ß'.encode() in m"
  "m == b''"
  "not utf8(m)"
  "m == b'still there?'"
  "len(m) > 60000"
  "m == b'who'"
  "m in (b'first', b'second')"
)
declare -A faults=(
  [crash]="raise RuntimeError('a bug')"
  [hang]="time.sleep(1000)"
  [wrong]="serverSocket.sendto(m[1:] + b'!', client); continue"
)

# "the reply comes from the server's own address" looks only at where the reply comes
# from: the wrong answer to it is the right reply sent from another socket.
wrong_address="socket(AF_INET, SOCK_DGRAM).sendto(m.upper(), client); continue"

# server NAME CONDITION ACTION: a submission that does ACTION when CONDITION holds.
server() {
  mkdir -p "$dir/$1"
  cat >"$dir/$1/UDPServer.py" <<PYTHON
import sys, time
from socket import *

def utf8(m):
    try:
        m.decode()
        return True
    except UnicodeDecodeError:
        return False

serverSocket = socket(AF_INET, SOCK_DGRAM)
serverSocket.bind(('127.0.0.1', int(sys.argv[1])))
while True:
    m, client = serverSocket.recvfrom(65535)
    if $2:
        $3
    reply = m.decode('utf-8', 'surrogateescape').upper()
    serverSocket.sendto(reply.encode('utf-8', 'surrogateescape'), client)
PYTHON
}

for n in $(seq -w 1 16); do
  server "correct$n" False pass
done
for check in "${!triggers[@]}"; do
  for fault in crash hang wrong; do
    action="${faults[$fault]}"
    if [[ $fault == wrong && ${triggers[$check]} == "m == b'who'" ]]; then
      action="$wrong_address"
    fi
    server "$fault-at-check$((check + 1))" "${triggers[$check]}" "$action"
  done
done
echo "$(ls "$dir" | wc -l) submissions in $dir"
