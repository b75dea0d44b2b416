#!/usr/bin/env bash
# ensure-slurm.sh [start|stop|status] — a real single-node Slurm (Debian 12's 22.05) for the
# Slurm engine's contract tests: munged, slurmdbd on MariaDB, slurmctld and slurmd, one node
# with this machine's CPUs and four fake H100 GPUs. Needs root (apt-get, mknod, daemons);
# no systemd.
#
#   start   install missing packages, then start the daemons unless they already run and
#           the node answers (then it takes well under 2 s). A cold start is a fresh
#           cluster: controller state and the accounting database are wiped, so job ids
#           restart at 1 and sacct never mixes in rows of an earlier cluster.
#           Prints the SLURM_CONF path to use (the only line on stdout).
#   stop    cancel this cluster's jobs, stop the daemons this script started (by their pid
#           files: slurmd, slurmctld, slurmdbd, and MariaDB / munged only if it started them)
#   status  exit 0 when the cluster answers and its node takes jobs, 1 otherwise
#
# Paths and knobs (all outside the repository):
#   SUANLI_SLURM_DIR        state: config, logs, pid files, fake devices (default /var/tmp/suanli-slurm)
#   SUANLI_SLURM_PORT       slurmctld port; slurmd and slurmdbd use the next two (default 16817,
#                           away from Slurm's defaults so that another Slurm on the machine is untouched)
#   SUANLI_SLURM_DB_PORT    port of a private MariaDB (datadir in the state dir), started only
#                           when none answers on 127.0.0.1:3306 to root without a password,
#                           or when SUANLI_SLURM_PRIVATE_DB is set (default 13306)
#   SUANLI_SLURM_CPUS       CPUs the node offers (default: this machine's)
#   SUANLI_SLURM_MEMORY_MB  memory the node offers (default: 90 % of MemTotal)
#
# Fake GPUs: gres.conf names device files (made with mknod as clones of /dev/null) because a
# count-only GPU GRES makes slurmd drain the node. Jobs then get CUDA_VISIBLE_DEVICES and
# sacct shows gres/gpu. Memory is a consumable resource and jobs over their --mem are killed
# by the accounting gatherer (OverMemoryKill; there are no cgroups here), every second.
set -euo pipefail

STATE=${SUANLI_SLURM_DIR:-/var/tmp/suanli-slurm}
PORT=${SUANLI_SLURM_PORT:-16817}
DB_PORT=${SUANLI_SLURM_DB_PORT:-13306}
HOST=$(hostname -s)
ETC=$STATE/etc
LOG=$STATE/log
RUN=$STATE/run
export SLURM_CONF=$ETC/slurm.conf
# One accounting database per state dir, so that two clusters can share one MariaDB.
DB_NAME=suanli_slurm_$(printf %s "$STATE" | cksum | cut -d' ' -f1)
DB_USER=suanli_slurm

say() { echo "ensure-slurm: $*" >&2; }
die() {
  say "error: $*"
  for f in "$LOG"/*.log; do
    [ -s "$f" ] && { say "--- last lines of $f"; tail -n 15 "$f" >&2; }
  done
  exit 1
}

# Other engineers' scripts may hold apt's lock (Ray and Kubernetes installs): wait for it.
APT=(apt-get -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends)

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  # Try the current package lists first (fast), then refresh them once.
  DEBIAN_FRONTEND=noninteractive "${APT[@]}" install "${missing[@]}" >/dev/null 2>&1 \
    || { "${APT[@]}" update >/dev/null && DEBIAN_FRONTEND=noninteractive "${APT[@]}" install "${missing[@]}" >/dev/null; } \
    || die "apt-get install ${missing[*]} failed"
}

# alive PIDFILE: its process runs and is the daemon the file is named after (a stale file's
# pid may name another process by now: never signal that one).
alive() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$(basename "$1" .pid)" ]
}

wait_until() { # wait_until SECONDS COMMAND...: retry every 0.1 s
  local tries=$(($1 * 10))
  shift
  for _ in $(seq "$tries"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

node_ready() { # the node is up and schedulable (not down, drained or failing)
  local state
  state=$(sinfo -h -N -n "$HOST" -o %T 2>/dev/null | head -n 1)
  case "$state" in
    idle | mixed | allocated | completing) return 0 ;;
    *) return 1 ;;
  esac
}

is_up() {
  [ -s "$SLURM_CONF" ] && alive "$RUN/slurmdbd.pid" && alive "$RUN/slurmctld.pid" \
    && alive "$RUN/slurmd.pid" && munge_ok && node_ready
}

# ---- MariaDB ------------------------------------------------------------------------------

shared_db_ok() { mysql -h 127.0.0.1 -P 3306 -u root --connect-timeout=2 -e 'select 1' >/dev/null 2>&1; }
# The private server runs as user mysql: its socket, pid file and log live in its own dir.
DB_RUN=$STATE/mariadb-run
private_sql() { mysql -S "$DB_RUN/mariadb.sock" -u root "$@"; }

start_private_db() {
  local data=$STATE/mariadb
  mkdir -p "$DB_RUN" && chown mysql:mysql "$DB_RUN"
  if ! alive "$DB_RUN/mariadbd.pid"; then
    if [ ! -d "$data/mysql" ]; then
      mkdir -p "$data" && chown mysql:mysql "$data"
      mariadb-install-db --user=mysql --datadir="$data" --auth-root-authentication-method=normal \
        --skip-test-db >"$LOG/mariadb-install.log" 2>&1 || die "mariadb-install-db failed"
    fi
    say "starting a private MariaDB on 127.0.0.1:$DB_PORT"
    nohup mariadbd --no-defaults --user=mysql --datadir="$data" --bind-address=127.0.0.1 \
      --port="$DB_PORT" --socket="$DB_RUN/mariadb.sock" --pid-file="$DB_RUN/mariadbd.pid" \
      --log-error="$DB_RUN/mariadb.log" --innodb-buffer-pool-size=64M >/dev/null 2>&1 9>&- &
  fi
  wait_until 30 private_sql -e 'select 1' \
    || die "the private MariaDB did not start: $(tail -n 5 "$DB_RUN/mariadb.log" 2>&1)"
}

# Sets DB_HOST_PORT and SQL (the root client command) for the database slurmdbd uses.
choose_db() {
  if [ -z "${SUANLI_SLURM_PRIVATE_DB:-}" ] && shared_db_ok; then
    DB_HOST_PORT=3306
    SQL=(mysql -h 127.0.0.1 -P 3306 -u root)
  else
    apt_install mariadb-server
    start_private_db
    DB_HOST_PORT=$DB_PORT
    SQL=(private_sql)
  fi
}

fresh_accounting_db() {
  local pass
  [ -s "$ETC/db.pass" ] || (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$ETC/db.pass")
  pass=$(cat "$ETC/db.pass")
  "${SQL[@]}" <<EOF || die "could not create the accounting database $DB_NAME"
DROP DATABASE IF EXISTS $DB_NAME;
CREATE DATABASE $DB_NAME;
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$pass';
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$pass';
ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$pass';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$pass';
GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'127.0.0.1';
GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'localhost';
EOF
}

# ---- configuration ------------------------------------------------------------------------

write_config() {
  local cpus mem pass
  cpus=${SUANLI_SLURM_CPUS:-$(nproc)}
  mem=${SUANLI_SLURM_MEMORY_MB:-$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)}
  pass=$(cat "$ETC/db.pass")
  for i in 0 1 2 3; do
    [ -c "$STATE/dev/nvidia$i" ] || mknod "$STATE/dev/nvidia$i" c 1 3 || die "mknod failed"
  done
  cat >"$SLURM_CONF" <<EOF
# Written by scripts/ensure-slurm.sh: a single-node test cluster; rewritten on each cold start.
ClusterName=suanli
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
# No systemd or cgroup delegation here: process groups and no task binding.
ProctrackType=proctrack/pgid
TaskPlugin=task/none
# The node's CPUs and memory come from this file, not from the hardware probe.
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
# Accounting (sacct: final states, TotalCPU, AllocTRES) through slurmdbd.
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$((PORT + 2))
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
JobCompType=jobcomp/none
# Give back a DOWN node as soon as its slurmd registers; quick kills and short waits.
ReturnToService=2
KillWait=5
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
GresTypes=gpu
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:h100:4 State=UNKNOWN
PartitionName=suanli Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
  cat >"$ETC/gres.conf" <<EOF
AutoDetect=off
NodeName=$HOST Name=gpu Type=h100 File=$STATE/dev/nvidia[0-3]
EOF
  (umask 077 && cat >"$ETC/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$((PORT + 2))
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_HOST_PORT
StorageLoc=$DB_NAME
StorageUser=$DB_USER
StoragePass=$pass
LogFile=$LOG/slurmdbd.log
PidFile=$RUN/slurmdbd.pid
EOF
  )
}

# ---- start / stop -------------------------------------------------------------------------

start_munge() {
  munge_ok && return 0
  mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
  [ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey --create >/dev/null
  say "starting munged"
  runuser -u munge -- /usr/sbin/munged 9>&- || die "munged did not start"
  touch "$RUN/munged.ours"
  wait_until 10 munge_ok || die "munge does not answer"
}

stop_pidfiles() { # stop_pidfiles FILE...: TERM the processes together, KILL them after 15 s
  local file pids=()
  for file in "$@"; do
    alive "$file" && pids+=("$(cat "$file")") && kill "${pids[-1]}" 2>/dev/null
  done
  for _ in $(seq 150); do
    local left=()
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left+=("$pid"); done
    pids=("${left[@]}")
    [ ${#pids[@]} -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -f "$@"
}

no_running_jobs() { [ -z "$(squeue -h -t running,completing -o %i 2>/dev/null)" ]; }

stop_daemons() {
  if alive "$RUN/slurmctld.pid"; then
    # Jobs outlive slurmd (their slurmstepd stays): end them while the controller still runs.
    scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
    wait_until 10 no_running_jobs || true
  fi
  stop_pidfiles "$RUN/slurmd.pid" "$RUN/slurmctld.pid" "$RUN/slurmdbd.pid"
}

do_start() {
  if is_up; then
    echo "$SLURM_CONF"
    return 0
  fi
  local began=$SECONDS
  apt_install munge slurmctld slurmd slurm-client slurmdbd mariadb-client
  mkdir -p "$ETC" "$LOG" "$RUN" "$STATE/dev"
  chmod 755 "$STATE"
  # Not up (or half up): start over with a fresh cluster.
  stop_daemons
  rm -rf "$STATE/ctld" "$STATE/spool"
  mkdir -p "$STATE/ctld" "$STATE/spool"
  start_munge
  choose_db
  fresh_accounting_db
  write_config
  # Daemons must not inherit the lock's descriptor (fd 9): they would hold it forever.
  slurmdbd 9>&- || die "slurmdbd did not start"
  wait_until 30 port_open $((PORT + 2)) || die "slurmdbd does not listen on port $((PORT + 2))"
  slurmctld 9>&- || die "slurmctld did not start"
  slurmd 9>&- || die "slurmd did not start"
  wait_until 60 node_ready || die "node $HOST is not idle: $(sinfo -h -N -o '%T %E' 2>&1)"
  say "Slurm is up in $((SECONDS - began)) s (node $HOST; logs in $LOG)"
  echo "$SLURM_CONF"
}

do_stop() {
  [ -d "$RUN" ] || return 0
  stop_daemons
  stop_pidfiles "$DB_RUN/mariadbd.pid"
  if [ -e "$RUN/munged.ours" ]; then
    stop_pidfiles /run/munge/munged.pid
    rm -f "$RUN/munged.ours"
  fi
  say "stopped"
}

main() {
  local cmd=${1:-start}
  [ "$(id -u)" -eq 0 ] || die "run as root (apt-get, mknod and the daemons need it)"
  mkdir -p "$STATE"
  # One start or stop at a time (pytest sessions and people may both ask).
  exec 9>"$STATE/.lock"
  flock 9
  case "$cmd" in
    start) do_start ;;
    stop) do_stop ;;
    status) is_up ;;
    *)
      echo "usage: $0 [start|stop|status]" >&2
      exit 2
      ;;
  esac
}

main "$@"
