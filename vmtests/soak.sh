#!/usr/bin/env bash
# Soak (issue 15 item 12): the lab under load in both directions for
# SOAK_MINUTES (default 30) while a chaos loop, one action a round, flaps
# links, makes them lossy or silent, kill -9s and restarts the agents, sends
# SIGHUP, and fills the disk under the client's history:
#   load   8 MB files over TCP, up then down, back to back, each checked by
#          sha256; a 2 Mbit/s UDP stream each way (iperf3 --bidir) per round;
#   checks after every round, once the action is over (the seconds until
#          every path is up again are printed, the longest per action kept):
#          every path of both agents up again within RECOVER_S (no path
#          stuck down after its link is back); agents' RSS, open files and
#          entries of every hash map sampled.
# Prints one line per round and a JSON summary; exits 1 on a sha256
# mismatch, a path stuck down, or growth of RSS, files or map entries past
# bounds (RSS: +50% over the first full round; files: +16; entries: 2x).
# Not part of the test suite (it takes SOAK_MINUTES); run as root:
#   vmtests/soak.sh                    MESHBPF_BIN: build dir (default build/)
#   SOAK_MINUTES=5 vmtests/soak.sh     a short pass
set -euo pipefail
source "$(dirname "$0")/lib/lab.sh"
SOAK_MINUTES="${SOAK_MINUTES:-30}"
ROUND_S=40
RECOVER_S=30
[[ "$SOAK_MINUTES" =~ ^[1-9][0-9]*$ ]] || lab_fail "SOAK_MINUTES must be a positive whole number"
LOAD_PID=""
cleanup() {
  [[ -n "$LOAD_PID" ]] && kill "$LOAD_PID" 2>/dev/null
  lab_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM

lab_create
lab_client_history_disk 1m
DISK="$LAB_DISK"
lab_start_agents
lab_route_client bond
OUT="$LAB_DIR/soak"
mkdir -p "$OUT"

# The TCP load: files up and down until killed; one outcome per line.
tcp_load() {
  local want report
  head -c 8M /dev/urandom >"$OUT/blob"
  want="$(sha256sum "$OUT/blob" | cut -d' ' -f1)"
  while true; do
    for direction in up down; do
      report="$(lab_blob "$direction" "$OUT/blob" 2>/dev/null || true)"
      if grep -q "\"sha256\": \"$want\"" <<<"$report"; then
        echo "ok $direction" >>"$OUT/tcp"
      elif grep -q '"bytes": 8388608' <<<"$report"; then
        echo "mismatch $direction $report" >>"$OUT/tcp"  # all bytes, wrong content
      else
        echo "incomplete $direction" >>"$OUT/tcp"  # cut off (a timeout): counted, not fatal
      fi
    done
  done
}
: >"$OUT/tcp"
tcp_load &
LOAD_PID=$!

# UDP both ways for SECONDS: prints "up_lost% down_lost%".
udp_round() {
  lab_ns server iperf3 -s -1 -B "$SERVER_IP" -p 5301 >/dev/null 2>&1 &
  lab_wait_port server 5301
  lab_ns client iperf3 -c "$SERVER_IP" -p 5301 -u -b 2M -t "$1" --bidir -J 2>/dev/null |
    python3 -c '
import json, sys
try:
    end = json.load(sys.stdin)["end"]
    print("%.2f %.2f" % (end["sum"]["lost_percent"], end["sum_bidir_reverse"]["lost_percent"]))
except (ValueError, KeyError):
    print("nan nan")'
}

# Every path of NODE up: "ok", or the names and states of those that are not.
paths_not_up() {
  lab_status "$1" --json 2>/dev/null | python3 -c '
import json, sys
try:
    paths = json.load(sys.stdin)["health"]["paths"]
except Exception:
    print("no status"); sys.exit()
bad = [p["name"] + "=" + p["health"] for p in paths if p["health"] != "up"]
print(" ".join(bad) if bad else "ok")'
}

# "RSS_KB FILES" of NODE's agent.
agent_usage() {
  local pid="${LAB_AGENT_PIDS[$1]}"
  echo "$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status") $(ls "/proc/$pid/fd" | wc -l)"
}

# Entries in every hash map of NODE: "name=count ...".
map_entries() {
  local f
  for f in $(find "$LAB_DIR/bpffs" -path "*$1*" -type f); do
    bpftool -j map show pinned "$f" 2>/dev/null | python3 -c '
import json, subprocess, sys
m = json.load(sys.stdin)
if "hash" in m["type"]:
    dump = subprocess.run(["bpftool", "-j", "map", "dump", "pinned", sys.argv[1]],
                          capture_output=True, text=True).stdout
    print("%s=%d" % (m["name"], len(json.loads(dump or "[]"))))' "$f"
  done | tr '\n' ' '
}

restart_agent() {  # restart_agent NODE SIGNAL
  local pid="${LAB_AGENT_PIDS[$1]}"
  kill "-$2" "$pid"
  wait "$pid" 2>/dev/null || true
  unset "LAB_AGENT_PIDS[$1]"
  lab_start_agent "$1"
}

ACTIONS=(flap1 loss2 blackhole1 kill_client flap2 term_peer hup_both fill_disk blackhole2 kill_peer)
run_action() {
  case "$1" in
    flap1 | flap2)
      local n="${1#flap}"
      for _ in 1 2 3; do
        lab_ns inet ip link set "c$n" down; sleep 1
        lab_ns inet ip link set "c$n" up; sleep 2
      done ;;
    loss2) lab_link_loss 2 5; sleep 10; lab_link_clear 2 ;;
    blackhole1 | blackhole2)
      local n="${1#blackhole}"
      lab_link_loss "$n" 100; sleep 6; lab_link_clear "$n" ;;
    kill_client) restart_agent client KILL ;;
    kill_peer) restart_agent peer KILL ;;
    term_peer) restart_agent peer TERM ;;
    hup_both) kill -HUP "${LAB_AGENT_PIDS[client]}" "${LAB_AGENT_PIDS[peer]}" ;;
    fill_disk)
      dd if=/dev/zero of="$DISK/filler" bs=4k 2>/dev/null || true
      sleep 15
      rm -f "$DISK/filler" ;;
  esac
}

deadline=$((SECONDS + SOAK_MINUTES * 60))
round=0 stuck=0
declare -A rss_base=() files_base=()
maps_first="" maps_last=""
echo "round action | tcp ok/incomplete/mismatch | udp lost% up down | recovered s | client rss KB files | peer rss KB files"
while ((SECONDS < deadline)); do
  action="${ACTIONS[$((round % ${#ACTIONS[@]}))]}"
  udp_round "$ROUND_S" >"$OUT/udp-$round" &
  udp=$!
  run_action "$action"
  recovered=""
  for ((t = 0; t < RECOVER_S * 2; t++)); do
    if [[ "$(paths_not_up client)" == ok && "$(paths_not_up peer)" == ok ]]; then
      recovered=$((t / 2)); break
    fi
    sleep 0.5
  done
  if [[ -n "$recovered" ]]; then
    echo "$action $recovered" >>"$OUT/recovered"
  else
    stuck=$((stuck + 1))
    recovered="STUCK: client $(paths_not_up client); peer $(paths_not_up peer)"
  fi
  wait "$udp" || true
  usage_c="$(agent_usage client)" usage_p="$(agent_usage peer)"
  # Bounds from round 1 on: round 0 includes start-up allocations.
  if ((round == 1)); then
    rss_base[client]="${usage_c% *}" files_base[client]="${usage_c#* }"
    rss_base[peer]="${usage_p% *}" files_base[peer]="${usage_p#* }"
    maps_first="$(map_entries client)"
  fi
  maps_last="$(map_entries client)"
  echo "$usage_c" >>"$OUT/usage-client"
  echo "$usage_p" >>"$OUT/usage-peer"
  printf '%3d %-11s | %s/%s/%s | %s | %s | %s | %s\n' "$round" "$action" \
    "$(grep -c '^ok' "$OUT/tcp" || true)" "$(grep -c '^incomplete' "$OUT/tcp" || true)" \
    "$(grep -c '^mismatch' "$OUT/tcp" || true)" "$(cat "$OUT/udp-$round")" "$recovered" \
    "$usage_c" "$usage_p"
  round=$((round + 1))
done
kill "$LOAD_PID" 2>/dev/null || true
wait "$LOAD_PID" 2>/dev/null || true
LOAD_PID=""

python3 - "$OUT" "$round" "$stuck" "${rss_base[client]:-0}" "${files_base[client]:-0}" \
  "${rss_base[peer]:-0}" "${files_base[peer]:-0}" "$maps_first" "$maps_last" "$SOAK_MINUTES" <<'PY'
import json, math, os, sys
out, rounds, stuck = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
base = {"client": (int(sys.argv[4]), int(sys.argv[5])), "peer": (int(sys.argv[6]), int(sys.argv[7]))}
maps_first = dict(kv.split("=") for kv in sys.argv[8].split())
maps_last = dict(kv.split("=") for kv in sys.argv[9].split())
tcp = open(f"{out}/tcp").read().split("\n")
count = lambda what: sum(1 for line in tcp if line.startswith(what))
udp = []
for r in range(rounds):
    try:
        udp += [float(x) for x in open(f"{out}/udp-{r}").read().split() if x != "nan"]
    except OSError:
        pass
recovered = {}
for line in open(f"{out}/recovered") if os.path.exists(f"{out}/recovered") else []:
    action, seconds = line.split()
    recovered[action] = max(recovered.get(action, 0), int(seconds))
summary = {"minutes": int(sys.argv[10]), "rounds": rounds, "paths_stuck": stuck,
           "recovery_seconds_max_by_action": recovered,
           "tcp_files_ok": count("ok"), "tcp_files_cut_off": count("incomplete"),
           "tcp_sha256_mismatches": count("mismatch"),
           "udp_lost_percent_median": sorted(udp)[len(udp) // 2] if udp else None,
           "udp_lost_percent_max": max(udp) if udp else None}
problems = []
if summary["tcp_sha256_mismatches"]:
    problems.append("sha256 mismatch")
if stuck:
    problems.append(f"{stuck} rounds with a path stuck down")
for node, (rss0, files0) in base.items():
    rows = [tuple(map(int, l.split())) for l in open(f"{out}/usage-{node}") if l.strip()]
    later = rows[1:] or rows
    summary[f"{node}_rss_kb"] = {"after_round_1": rss0, "max": max(r[0] for r in later),
                                 "last": rows[-1][0]}
    summary[f"{node}_open_files"] = {"after_round_1": files0, "max": max(r[1] for r in later)}
    if rss0 and max(r[0] for r in later) > 1.5 * rss0:
        problems.append(f"{node} RSS grew past 1.5x")
    if files0 and max(r[1] for r in later) > files0 + 16:
        problems.append(f"{node} open files grew by more than 16")
summary["client_map_entries"] = {k: [int(maps_first.get(k, 0)), int(v)] for k, v in maps_last.items()}
for name, (first, last) in summary["client_map_entries"].items():
    if last > max(2 * first, first + 16):
        problems.append(f"map {name}: {first} -> {last} entries")
summary["problems"] = problems
print(json.dumps(summary, indent=1))
sys.exit(1 if problems else 0)
PY
