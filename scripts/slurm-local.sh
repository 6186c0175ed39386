#!/usr/bin/env bash
# A throw-away single-node Slurm cluster (munge, slurmctld, slurmd) in a scratch directory, for tests of the Slurm
# job-array support on a developer machine or in CI (as root, no systemd), following
# shared/reference/slurm-single-node.md.
#
#   scripts/slurm-local.sh start DIR   start the daemons in DIR, wait until the node is idle, print the env line
#   scripts/slurm-local.sh env DIR     print `export SLURM_CONF=DIR/slurm.conf` (eval "$(... env DIR)")
#   scripts/slurm-local.sh stop DIR    stop the daemons started in DIR, by the PIDs kept in DIR only
#
# Everything (config, state, spool, logs, munge socket, PID files) lives in DIR; the only file written elsewhere is
# /etc/munge/munge.key, created once if missing (munged needs a key; the packages do not make one without systemd).
# Install the packages first with scripts/install-slurm.sh. SLURM_LOCAL_TIMEOUT (seconds, default 60) bounds the
# wait for the node to become idle. SLURM_LOCAL_PORT (default 6817) is slurmctld's TCP port, slurmd takes the next
# one: the machine is shared, so a second cluster (yours or someone else's) needs other ports; start refuses ports
# in use rather than talk to another cluster's slurmctld. SLURM_LOCAL_GPUS=N (default 0) gives the node N fake GPUs
# (GresTypes=gpu, Gres=gpu:N, gres.conf naming N null devices DIR/dev/nvidia<i>): jobs asking --gres=gpu:K are accepted
# and get CUDA_VISIBLE_DEVICES, for the tests of `sweep slurm` with `[command] gpus`; there is no real device.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop|env DIR" >&2
  exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
D=$2
case "$cmd" in start | stop | env) ;; *) usage ;; esac
if [ "$cmd" = start ]; then
  mkdir -p "$D"
elif [ ! -d "$D" ]; then
  echo "slurm-local: $D does not exist (nothing was started there)" >&2
  exit 1
fi
D=$(cd "$D" && pwd) # absolute: slurm.conf and the daemons need it
CONF=$D/slurm.conf
DAEMONS=(slurmd slurmctld munged)

PORT=${SLURM_LOCAL_PORT:-6817}
GPUS=${SLURM_LOCAL_GPUS:-0}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

write_conf() {
  local cpus gres="" i
  cpus=$(nproc)
  if [ "$GPUS" -gt 0 ]; then
    gres=" Gres=gpu:$GPUS"
    mkdir -p "$D/dev"
    : >"$D/gres.conf"
    for i in $(seq 0 $((GPUS - 1))); do
      # A character device (the null device's numbers): slurmd accepts no other file, and gives jobs
      # CUDA_VISIBLE_DEVICES only for devices it accepted. An empty file where mknod is not allowed: jobs are still
      # accepted, without CUDA_VISIBLE_DEVICES.
      rm -f "$D/dev/nvidia$i"
      mknod "$D/dev/nvidia$i" c 1 3 2>/dev/null || : >"$D/dev/nvidia$i"
      echo "NodeName=localhost Name=gpu File=$D/dev/nvidia$i" >>"$D/gres.conf"
    done
  fi
  cat >"$CONF" <<EOF
ClusterName=ci
SlurmctldHost=localhost
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/munge/munge.socket.2
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SchedulerParameters=batch_sched_delay=0
NodeName=localhost CPUs=$cpus$gres State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  if [ "$GPUS" -gt 0 ]; then
    echo "GresTypes=gpu" >>"$CONF"
  fi
}

# The PID kept for a daemon, if that process is still alive.
alive_pid() {
  local f=$D/$1.pidfile pid
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

print_logs() {
  for f in "$D"/log/slurmctld.log "$D"/log/slurmd.log "$D"/munge/munged.log "$D"/log/*.out; do
    [ -f "$f" ] || continue
    echo "---- $f (last 30 lines)" >&2
    tail -n 30 "$f" >&2
  done
}

stop() {
  # SIGTERM to all three at once (each takes 1-2 s to shut down), then up to 10 s before SIGKILL.
  local name pid pids=() i
  for name in "${DAEMONS[@]}"; do
    if pid=$(alive_pid "$name"); then
      kill "$pid" 2>/dev/null || true
      pids+=("$name:$pid")
    fi
  done
  for i in $(seq 1 100); do
    local left=0
    for np in "${pids[@]}"; do kill -0 "${np#*:}" 2>/dev/null && left=1; done
    [ $left -eq 0 ] && break
    sleep 0.1
  done
  for np in "${pids[@]}"; do
    if kill -0 "${np#*:}" 2>/dev/null; then
      echo "slurm-local: ${np%%:*} (pid ${np#*:}) ignored SIGTERM for 10 s; sending SIGKILL" >&2
      kill -9 "${np#*:}" 2>/dev/null || true
    fi
  done
  for name in "${DAEMONS[@]}"; do rm -f "$D/$name.pidfile"; done
}

start() {
  local name missing=()
  for name in munged slurmctld slurmd; do
    [ -x "/usr/sbin/$name" ] || missing+=("$name")
  done
  command -v sinfo >/dev/null || missing+=(sinfo)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "slurm-local: ${missing[*]} not installed; run scripts/install-slurm.sh (as root) first" >&2
    exit 1
  fi
  for name in "${DAEMONS[@]}"; do
    if pid=$(alive_pid "$name"); then
      echo "slurm-local: $name already running in $D (pid $pid); run '$0 stop $D' first" >&2
      exit 1
    fi
  done

  local p
  for p in "$PORT" $((PORT + 1)); do
    if port_in_use "$p"; then
      echo "slurm-local: TCP port $p is in use (another Slurm on this machine?); choose free ones with" \
        "SLURM_LOCAL_PORT=<port> (slurmctld) and <port>+1 (slurmd)" >&2
      exit 1
    fi
  done

  chmod 755 "$D" # munged (user munge) must traverse it: a mktemp -d dir is 700
  mkdir -p "$D/state" "$D/spool" "$D/log" "$D/munge"
  chown munge:munge "$D/munge" && chmod 755 "$D/munge" # munged refuses mode 700
  if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
  fi
  write_conf
  export SLURM_CONF=$CONF

  # Each daemon runs in the foreground (-D/-F) as a background job of this script, so $! is the daemon's own PID.
  # setsid: the daemons get their own session, so a Ctrl-C in the calling terminal does not reach them. (In this
  # non-interactive script a background job is not a process-group leader, so setsid execs without forking and
  # $! stays the daemon's PID; setpriv execs too.)
  setsid setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F \
    --socket="$D/munge/munge.socket.2" --log-file="$D/munge/munged.log" \
    --pid-file="$D/munge/munged.pid" --seed-file="$D/munge/munged.seed" \
    </dev/null >"$D/log/munged.out" 2>&1 &
  echo $! >"$D/munged.pidfile"
  # munged must answer before slurmctld starts, or slurmctld fails to authenticate.
  for _ in $(seq 1 50); do
    [ -S "$D/munge/munge.socket.2" ] && break
    sleep 0.1
  done
  setsid /usr/sbin/slurmctld -D -i </dev/null >"$D/log/slurmctld.out" 2>&1 & # -i: empty state dir on first start
  echo $! >"$D/slurmctld.pidfile"
  setsid /usr/sbin/slurmd -D -N localhost </dev/null >"$D/log/slurmd.out" 2>&1 & # hostname differs: name the node
  echo $! >"$D/slurmd.pidfile"

  local timeout=${SLURM_LOCAL_TIMEOUT:-60} state=""
  local deadline=$((SECONDS + timeout))
  while [ $SECONDS -lt $deadline ]; do
    for name in munged slurmctld slurmd; do
      if ! alive_pid "$name" >/dev/null; then
        echo "slurm-local: $name exited during start-up" >&2
        stop
        print_logs
        exit 1
      fi
    done
    state=$(sinfo -h -n localhost -o %t 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.2
  done
  if [ "$state" != idle ]; then
    echo "slurm-local: node not idle after ${timeout} s (state: '${state:-no answer}'); logs:" >&2
    stop # first: the logs stay in DIR, and a closed pipe while printing them must not leave daemons behind
    print_logs
    exit 1
  fi
  # The answer must come from our slurmctld, not another cluster's.
  local state_dir
  state_dir=$(scontrol show config 2>/dev/null | awk '$1 == "StateSaveLocation" {print $3}')
  if [ "$state_dir" != "$D/state" ]; then
    echo "slurm-local: the slurmctld answering on port $PORT keeps its state in '${state_dir:-?}', not $D/state;" \
      "another cluster is using the port: set SLURM_LOCAL_PORT" >&2
    stop # first: the logs stay in DIR, and a closed pipe while printing them must not leave daemons behind
    print_logs
    exit 1
  fi
  echo "slurm-local: node idle; daemons' PIDs in $D/*.pidfile" >&2
  echo "export SLURM_CONF=$CONF"
}

case "$cmd" in
start) start ;;
stop) stop ;;
env) echo "export SLURM_CONF=$CONF" ;;
esac
