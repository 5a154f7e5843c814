#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the tests marked `cluster`:
#   tests/cluster/slurm_up.sh        installs slurm-wlm and munge where missing (Debian, as root), starts munged,
#                                    slurmctld and slurmd, and waits until the node is idle; a second call is harmless
#   tests/cluster/slurm_up.sh down   stops them by the PIDs recorded at start
# Everything lies under $GLIDE_SLURM_DIR (default /var/tmp/glide-eval-slurm): its own munge key and socket,
# slurm.conf, state, spool, logs and PID files, and ports apart from a system SLURM's, so nothing in /etc changes.
# Clients reach it with SLURM_CONF=$GLIDE_SLURM_DIR/slurm.conf and $GLIDE_SLURM_DIR/bin first on PATH (a `sacct`
# for this cluster without accounting storage). Where SLURM cannot be had, it exits 1 with one line on stderr
# saying why.
set -euo pipefail

dir="${GLIDE_SLURM_DIR:-/var/tmp/glide-eval-slurm}"
port="${GLIDE_SLURM_PORT:-16817}"  # slurmctld's; slurmd listens on the next
wait_s="${GLIDE_SLURM_WAIT_S:-60}"
export SLURM_CONF="$dir/slurm.conf"
DAEMONS=(slurmd slurmctld munged)  # stopping order; started in reverse

fail() {
  echo "slurm_up.sh: $*" >&2
  exit 1
}

alive() {  # the recorded PID of daemon $1 names a running process
  local pid
  pid="$(cat "$dir/run/$1.pid" 2>/dev/null)" && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

down() {
  alive slurmctld && scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
  for daemon in "${DAEMONS[@]}"; do
    alive "$daemon" || continue
    local pid
    pid="$(cat "$dir/run/$daemon.pid")"
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    rm -f "$dir/run/$daemon.pid"
  done
  return 0
}

install() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && return 0
  command -v apt-get >/dev/null || fail "slurm-wlm and munge are not installed and there is no apt-get to install them"
  mkdir -p "$dir"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge; } \
    >"$dir/install.log" 2>&1 || fail "apt-get could not install slurm-wlm and munge (see $dir/install.log)"
}

write_config() {
  local host cpus memory_mb
  host="$(hostname -s)"
  cpus="$(nproc)"
  memory_mb=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 / 2 ))  # half the machine, at most 4 GiB
  [ "$memory_mb" -gt 4096 ] && memory_mb=4096
  mkdir -p "$dir"/{munge,state,spool,log,run}
  chmod 700 "$dir/munge"
  if [ ! -s "$dir/munge/munge.key" ]; then
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$dir/munge/munge.key"
  fi
  # KillWait: seconds from SIGTERM to SIGKILL when a job is cancelled; submitit's jobs ignore SIGTERM.
  cat >"$dir/slurm.conf.new" <<CONF
ClusterName=glide-eval
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/run/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
KillWait=2
SlurmdParameters=config_overrides
MailProg=/bin/true
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  mv "$dir/slurm.conf.new" "$SLURM_CONF"
}

# submitit learns that a job ended without a result (cancelled, timed out) from `sacct -o JobID,State,NodeList
# --parsable2 -j ID...`, which needs slurmdbd; slurmctld keeps the state of jobs that ended for MinJobAge
# (300 s), and squeue shows it in the same columns.
write_sacct() {
  mkdir -p "$dir/bin"
  cat >"$dir/bin/sacct.new" <<'SACCT'
#!/bin/sh
jobs=""
while [ $# -gt 0 ]; do
  case "$1" in
    -j) jobs="${jobs:+$jobs,}$2"; shift 2 ;;
    -o) [ "$2" = JobID,State,NodeList ] || { echo "sacct: only -o JobID,State,NodeList here" >&2; exit 1; }; shift 2 ;;
    *) shift ;;
  esac
done
echo "JobID|State|NodeList"
exec squeue --noheader --array --states=all --jobs="$jobs" --format='%i|%T|%N'
SACCT
  chmod +x "$dir/bin/sacct.new"
  mv "$dir/bin/sacct.new" "$dir/bin/sacct"
}

start() {  # daemon $1 with arguments $2...: it detaches and writes its PID file, which is waited for
  local daemon="$1"
  shift
  alive "$daemon" && return 0
  rm -f "$dir/run/$daemon.pid"
  "$@" </dev/null >>"$dir/log/$daemon.out" 2>&1 || fail "$daemon did not start (see $dir/log/)"
  for _ in $(seq 100); do alive "$daemon" && return 0; sleep 0.1; done
  fail "$daemon wrote no PID file within 10 s (see $dir/log/)"
}

wait_idle() {
  local state="" deadline=$((SECONDS + wait_s))
  while [ "$SECONDS" -lt "$deadline" ]; do
    state="$(sinfo -h -o %T 2>/dev/null | head -n 1)"
    case "$state" in idle | mixed | allocated) return 0 ;; esac
    sleep 0.5
  done
  fail "the node was not idle within $wait_s s (state: ${state:-no answer}; see $dir/log/)"
}

up() {
  [ "$(id -u)" = 0 ] || fail "starting SLURM's daemons needs root (uid $(id -u))"
  install
  write_sacct
  alive slurmctld && alive slurmd && alive munged && { wait_idle; return 0; }
  down
  write_config
  start munged munged --key-file="$dir/munge/munge.key" --socket="$dir/run/munge.socket" \
    --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed"
  start slurmctld slurmctld -c
  start slurmd slurmd
  wait_idle
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  *) fail "usage: slurm_up.sh [up|down]" ;;
esac
