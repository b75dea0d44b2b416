#!/usr/bin/env bash
# ensure-ray.sh [start|stop|status] — a real single-node Ray cluster for the Ray engine's
# contract tests (tests/engines/test_contract_ray.py) and for trying the engine by hand.
#
#   start   install `ray[default]` into the virtualenv if it is missing, then start a Ray
#           head bound to 127.0.0.1 with fake GPUs (4 `GPU` plus the custom resource
#           `GPU_H100: 4`, which is how the Ray engine asks for a GPU model), 2 CPUs and the
#           dashboard (Job Submission API) on http://127.0.0.1:$PORT; wait until the Job API
#           answers and the head's resources are registered. Idempotent: when our head
#           already answers it returns at once. Prints the dashboard address last on stdout.
#   stop    stop the head this script started, and only it (see "Stopping" below)
#   status  exit 0 when our head runs and its Job API answers, 1 otherwise
#
# Settings (environment):
#   VENV                     virtualenv to install into and run Ray from (default: the
#                            repository's .venv)
#   SUANLI_RAY_TEMP          Ray's temp dir: sessions, logs, sockets (default
#                            /var/tmp/suanli-ray; outside the repository, and short, since
#                            Ray puts unix sockets under it)
#   SUANLI_RAY_DASHBOARD_PORT  dashboard / Job API port (default 8265)
#   SUANLI_RAY_GCS_PORT      the head's GCS port (default 6389: 6379, Ray's default, is
#                            Redis's port, and this machine kind runs Redis)
#
# Stopping: `ray stop` kills every Ray process on the machine (it matches process names),
# including other people's clusters, so this script never calls it. `start` runs `ray
# start` under setsid, so the head's daemons share a process group of their own, and
# records it in $SUANLI_RAY_TEMP/head.pgid. `stop` takes the processes whose command line
# names our temp dir (gcs_server, raylet, dashboard, log monitor, autoscaler monitor) or
# our GCS address (the Ray client server), the members of the recorded group (only if it
# still holds one of those: pids get reused), and every process that descends from them
# (workers, titled `ray::IDLE` and the like, and the jobs they run); it SIGTERMs them all
# and SIGKILLs what is left after 3 s. Jobs run in sessions of their own, but each has a
# watcher from Ray that kills the job's group once the job's supervisor (a worker) dies.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$REPO/.venv}
TEMP=${SUANLI_RAY_TEMP:-/var/tmp/suanli-ray}
PORT=${SUANLI_RAY_DASHBOARD_PORT:-8265}
GCS_PORT=${SUANLI_RAY_GCS_PORT:-6389}
URL=http://127.0.0.1:$PORT
RAY_SPEC='ray[default]>=2.9'
# Without it Ray binds the head to a non-loopback address on this machine kind.
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0

say() { echo "ensure-ray: $*" >&2; }
die() { say "error: $*"; exit 1; }

ray_installed() {
  # The dashboard (and with it the Job API) needs the `default` extra: aiohttp & co.
  "$VENV/bin/python" -c 'import ray, ray.dashboard, ray.job_submission, aiohttp, aiohttp_cors' \
    >/dev/null 2>&1
}

do_install() {
  [ -x "$VENV/bin/python" ] || die "no virtualenv at $VENV (create it first, or set VENV)"
  ray_installed && return 0
  local began=$SECONDS
  say "installing $RAY_SPEC into $VENV (about 30 s)"
  mkdir -p "$TEMP"
  "$VENV/bin/python" -m pip install --quiet "$RAY_SPEC" >"$TEMP/pip-install.log" 2>&1 \
    || { tail -n 30 "$TEMP/pip-install.log" >&2; die "pip install $RAY_SPEC failed"; }
  ray_installed || die "ray installed but its dashboard modules do not import"
  say "installed ray $("$VENV/bin/python" -c 'import ray; print(ray.__version__)') in $((SECONDS - began)) s"
}

# Pids of our head's processes: those whose command line names our temp dir or our GCS
# address (the Ray client server names only the latter), and the other members of the
# process group `start` gave the head (setsid), if that group still holds one of them.
own_pids() {
  local pid cmd found="" group=""
  [ -f "$TEMP/head.pgid" ] && group=$(cat "$TEMP/head.pgid")
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    [ "$pid" = "$$" ] && continue
    cmd=$(tr '\0' ' ' < "$dir/cmdline" 2>/dev/null) || continue
    case "$cmd" in
      *"ensure-ray.sh"*) ;;  # a concurrent run of this script names the dir too
      # (/proc's NULs are spaces here, a trailing one too: "$TEMP " ends a word.)
      *"$TEMP/"* | *" $TEMP "* | *"=$TEMP "* | *"=127.0.0.1:$GCS_PORT "*) found="$found $pid" ;;
    esac
  done
  if [ -n "$group" ] && [ -n "$found" ]; then
    local members="" ours=0
    for dir in /proc/[0-9]*; do
      pid=${dir#/proc/}
      [ "$(pgid_of "$pid")" = "$group" ] || continue
      members="$members $pid"
      case " $found " in *" $pid "*) ours=1 ;; esac
    done
    [ $ours = 1 ] && found="$found $members"
  fi
  echo $found | tr ' ' '\n' | sort -un | grep -vx "$$" || true
}

stat_field() { # stat_field PID N: field N of /proc/PID/stat (N >= 3), empty if gone
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) }          # fields after the command name, which may hold spaces
  echo "$stat" | cut -d' ' -f$(($2 - 2))
}
pgid_of() { stat_field "$1" 5; }

# A zombie is dead: nobody may reap it here (PID 1 of a container often does not).
alive() { local st; st=$(stat_field "$1" 3); [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]; }

# `pids` and all their descendants (parent links read from /proc/*/stat).
with_descendants() {
  local roots=" $* " changed=1 pid
  local -A parent=()
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    parent[$pid]=$(stat_field "$pid" 4)
  done
  while [ $changed = 1 ]; do
    changed=0
    for pid in "${!parent[@]}"; do
      case "$roots" in *" $pid "*) continue ;; esac
      case "$roots" in *" ${parent[$pid]} "*) roots="$roots$pid "; changed=1 ;; esac
    done
  done
  echo $roots
}

gcs_running() { pgrep -f "gcs_server.*$TEMP/" >/dev/null 2>&1; }

job_api_ready() { curl -fsS --max-time 2 "$URL/api/jobs/" >/dev/null 2>&1; }

# The head counts as ready once its node shows its fake GPUs in the cluster's resources.
head_ready() {
  curl -fsS --max-time 3 "$URL/api/cluster_status" 2>/dev/null | grep -q 'GPU_H100'
}

do_status() {
  if gcs_running && job_api_ready; then
    say "running: $URL (temp dir $TEMP)"
    return 0
  fi
  say "not running (temp dir $TEMP)"
  return 1
}

do_start() {
  # This virtualenv needs the client library even when a head already runs (another
  # checkout's, e.g. CI's clean clone beside a developer's tree).
  do_install
  if gcs_running && job_api_ready; then
    say "already running: $URL"
    echo "$URL"
    return 0
  fi
  do_install
  command -v curl >/dev/null 2>&1 || die "curl is needed to check the Job API"
  mkdir -p "$TEMP"
  # One start at a time (several test sessions may ask at once).
  exec 9>"$TEMP/.start.lock"
  flock 9
  if gcs_running && job_api_ready; then
    echo "$URL"
    return 0
  fi
  if [ -n "$(own_pids | head -n 1)" ]; then
    say "a half-started or dying head holds $TEMP: stopping it first"
    do_stop
  fi
  if job_api_ready; then
    die "something else answers on $URL (another Ray cluster?); stop it or set SUANLI_RAY_DASHBOARD_PORT"
  fi
  local began=$SECONDS
  say "starting a Ray head on 127.0.0.1 (GCS port $GCS_PORT, Job API $URL, temp dir $TEMP)"
  # --object-store-memory: the default takes 30% of RAM for shared memory; jobs here pass
  # no objects. Usage stats stay off: nothing leaves the machine.
  # setsid: the head's daemons share a process group of their own, which `stop` uses.
  # 9>&-: they must not inherit (and hold for ever) the start lock.
  setsid --wait "$VENV/bin/ray" start --head \
    --node-ip-address 127.0.0.1 --port "$GCS_PORT" \
    --num-cpus 2 --num-gpus 4 --resources '{"GPU_H100": 4}' \
    --object-store-memory 200000000 \
    --include-dashboard true --dashboard-host 127.0.0.1 --dashboard-port "$PORT" \
    --temp-dir "$TEMP" --disable-usage-stats \
    >"$TEMP/ray-start.log" 2>&1 9>&- \
    || { tail -n 30 "$TEMP/ray-start.log" >&2; die "ray start failed (log: $TEMP/ray-start.log)"; }
  local gcs
  gcs=$(pgrep -f "gcs_server.*$TEMP/" | head -n 1)
  [ -n "$gcs" ] && pgid_of "$gcs" > "$TEMP/head.pgid"
  local deadline=$((SECONDS + 90))
  until job_api_ready && head_ready; do
    if [ $SECONDS -ge $deadline ]; then
      tail -n 30 "$TEMP/ray-start.log" >&2
      die "the Job API at $URL did not answer within 90 s (logs: $TEMP/session_latest/logs)"
    fi
    sleep 0.3
  done
  say "running in $((SECONDS - began)) s: $URL"
  echo "$URL"
}

do_stop() {
  local pids
  pids=$(own_pids)
  if [ -z "$pids" ]; then
    say "no head of ours runs (temp dir $TEMP)"
    return 0
  fi
  pids=$(with_descendants $pids)
  say "stopping our head: $(echo $pids | wc -w) processes"
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  local pid left
  # gcs_server, raylet, the autoscaler monitor and the runtime env agent do not always
  # exit on SIGTERM (seen with Ray 2.60): a test head holds nothing worth waiting for.
  for _ in $(seq 1 15); do
    left=""
    for pid in $pids; do alive "$pid" && left="$left $pid"; done
    [ -z "$left" ] && break
    sleep 0.2
  done
  if [ -n "$left" ]; then
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null || true
    say "killed$(echo $left | wc -w | sed 's/^/ /') processes that ignored SIGTERM"
  fi
  rm -f "$TEMP/head.pgid"
  say "stopped"
}

case "${1:-start}" in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac
