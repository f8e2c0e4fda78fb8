#!/usr/bin/env bash
# A throwaway single-node SLURM for tests: see usage().
set -u

usage() {
    cat <<EOF
usage: $(basename "$0") {start|stop|status}

A single-node SLURM cluster on this machine (Debian or Ubuntu), for tests.

  start   install slurmctld slurmd slurm-client munge with apt if missing,
          write a minimal configuration, start munged, slurmctld and slurmd,
          wait until the node is idle (at most \$SLURM_TEST_TIMEOUT s,
          default 60). Prints how long it took and the line
            export SLURM_CONF=DIR/slurm.conf
          which clients (sbatch, squeue, ...) need; DIR/slurm.env holds it too.
          Starting a running cluster is fine (it only checks it).
  stop    cancel its jobs, stop the daemons it started (pid files) and wait
          until they are gone. Stopping a stopped cluster is fine.
  status  print the daemons' pids and the node's state; exit 0 if all daemons run and the node is usable (idle, or busy
          with jobs), 1 if not.

Everything lives in DIR = \$SLURM_TEST_DIR (default /var/lib/pathnet-slurm):
configuration, state, spool, logs, pid files, and its own munge key and
socket. Nothing under /etc is written, and a system munged or slurm keeps
working, but the ports (\$SLURM_TEST_PORTS, default 6817,6818) must be free.
The cluster's state is cleared at every start. Also:
  SLURM_TEST_CPUS          the node's CPUs (default: nproc; more is allowed)
  SLURM_TEST_MIN_JOB_AGE   MinJobAge, s (default 5: sbatch --wait polls every
                           2 s; finished jobs stay in scontrol that long at least)
Finished jobs (JobState, ExitCode, ArrayJobId, ArrayTaskId) are also logged,
one line each, to DIR/log/jobcomp.txt (there is no accounting: sacct fails).

Exit status: 0 ok, 1 failed (the daemons' logs are in DIR/log),
2 not root, 64 bad usage, 3 the packages cannot be had (no apt, install failed) or a
foreign slurm daemon is in the way. Codes 2 and 3 print one line saying
why, so callers can skip with it.
EOF
}

me=$(basename "$0")
dir=${SLURM_TEST_DIR:-/var/lib/pathnet-slurm}
timeout=${SLURM_TEST_TIMEOUT:-60}
ports=${SLURM_TEST_PORTS:-6817,6818}
conf=$dir/slurm.conf
sock=$dir/munge/munge.socket.2
daemons=(munged slurmctld slurmd)
export SLURM_CONF=$conf

say() { echo "$me: $*"; }
fail() { local c=$1; shift; echo "$me: $*" >&2; exit "$c"; }

pidfile() {
    case $1 in
        munged) echo "$dir/munge/munged.pid" ;;
        *) echo "$dir/run/$1.pid" ;;
    esac
}

# The pid of daemon $1 if it runs, from its pid file (and it is that program).
running() {
    local f pid comm
    f=$(pidfile "$1")
    [[ -r $f ]] && read -r pid <"$f" 2>/dev/null && [[ $pid =~ ^[0-9]+$ ]] || return 1
    { read -r comm <"/proc/$pid/comm"; } 2>/dev/null && [[ $comm == "$1"* ]] && alive "$pid" || return 1
    echo "$pid"
}

# The node's state, e.g. idle, mix, alloc, down*, or nothing.
node_state() {
    timeout 10 sinfo -h -N -o '%t' 2>/dev/null | head -n 1
}

is_up() {
    local d
    for d in "${daemons[@]}"; do running "$d" >/dev/null || return 1; done
    [[ $(node_state) =~ ^(idle|mix|alloc|comp)$ ]]
}

install_packages() {
    local missing=() p
    for p in slurmctld slurmd slurm-client munge; do
        dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    (( ${#missing[@]} )) || return 0
    command -v apt-get >/dev/null || fail 3 "no apt-get here to install ${missing[*]}"
    local t0=$SECONDS log=$dir/log/apt.log
    local apt=(apt-get -y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confold
               --no-install-recommends)
    say "installing ${missing[*]} with apt (log: $log)"
    # apt-get update only when the package lists do not have them.
    if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >"$log" 2>&1; then
        DEBIAN_FRONTEND=noninteractive "${apt[@]}" update >>"$log" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >>"$log" 2>&1 ||
            fail 3 "cannot install ${missing[*]} with apt-get: $(grep -E '^(E|W):' "$log" | tail -n 1)"
    fi
    say "installed in $(( SECONDS - t0 )) s"
}

# Refuse when a slurm daemon we did not start runs: it would hold the ports.
check_foreign() {
    local d pid ours
    for d in slurmctld slurmd; do
        ours=$(running "$d") || ours=
        for pid in $(pgrep -x "$d"); do
            [[ $pid == "$ours" ]] || ! alive "$pid" || fail 3 "a $d not started by this script runs (pid $pid); not starting another"
        done
    done
}

write_config() {
    local host cpus mem
    host=$(hostname -s) || fail 1 "no hostname"
    cpus=${SLURM_TEST_CPUS:-$(nproc)}
    [[ $cpus =~ ^[1-9][0-9]*$ ]] || fail 1 "SLURM_TEST_CPUS must be a positive integer, got '$cpus'"
    # More CPUs than the machine has: slurmd must believe the configuration.
    local over=
    (( cpus > $(nproc) )) && over='SlurmdParameters=config_overrides'
    mem=$(slurmd -C 2>/dev/null | grep -o 'RealMemory=[0-9]*' | cut -d= -f2)
    [[ -n $mem ]] || mem=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 ))
    # 127.0.0.1: the host name need not resolve.
    cat >"$conf.new" <<EOF
# Written by $me: a single-node cluster for tests. Rewritten at every start.
ClusterName=pathnet-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=${ports%,*}
SlurmdPort=${ports#*,}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
# sbatch --wait polls every 2 s only if MinJobAge <= 5 (else 2, 8, 32, 32...
# s); finished jobs stay visible to scontrol/squeue -t all for >= MinJobAge s,
# and for ever in JobCompLoc.
MinJobAge=${SLURM_TEST_MIN_JOB_AGE:-5}
MaxArraySize=100001
MaxJobCount=200000
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$(pidfile slurmctld)
SlurmdPidFile=$(pidfile slurmd)
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
PlugStackConfig=$dir/plugstack.conf
$over
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$conf.new" "$conf"
    : >"$dir/plugstack.conf"
    echo "export SLURM_CONF=$conf" >"$dir/slurm.env"
}

start_munged() {
    running munged >/dev/null && return 0
    local m=$dir/munge
    mkdir -p "$m"
    chown munge:munge "$m"
    chmod 0755 "$m"
    if [[ ! -s $m/munge.key ]]; then
        runuser -u munge -- mungekey -c -k "$m/munge.key" || fail 1 "mungekey failed"
    fi
    chown munge:munge "$m/munge.key"
    chmod 0600 "$m/munge.key"
    rm -f "$sock" "$sock.lock"
    runuser -u munge -- munged --socket="$sock" --key-file="$m/munge.key" \
        --pid-file="$(pidfile munged)" --log-file="$m/munged.log" --seed-file="$m/munged.seed" ||
        fail 1 "munged failed: $(tail -n 1 "$m/munged.log" 2>/dev/null)"
    munge -n -S "$sock" | unmunge -S "$sock" >/dev/null || fail 1 "munge does not work: see $m/munged.log"
}

start() {
    (( EUID == 0 )) || fail 2 "needs root (it installs packages and starts system daemons)"
    mkdir -p "$dir"/{log,run,state,spool} || fail 1 "cannot create $dir"
    chmod 0755 "$dir"
    if is_up; then
        say "already up (node $(node_state))"
        echo "export SLURM_CONF=$conf"
        return 0
    fi
    local t0 t1
    t0=$(date +%s.%N)
    install_packages
    t1=$(date +%s.%N)
    check_foreign
    # A fresh cluster every time, unless a daemon still runs.
    if ! running slurmctld >/dev/null && ! running slurmd >/dev/null; then
        rm -rf "$dir"/state/* "$dir"/spool/*
        rm -f "$dir/log/jobcomp.txt"    # job ids start again at 1
        local f
        for f in "$dir"/log/slurm{ctld,d}.log; do [[ -e $f ]] && mv -f "$f" "$f.1"; done
        write_config
    fi
    [[ -s $conf ]] || write_config
    start_munged
    if ! running slurmctld >/dev/null; then
        slurmctld -f "$conf" -c || fail 1 "slurmctld failed: $(tail -n 2 "$dir/log/slurmctld.log")"
    fi
    if ! running slurmd >/dev/null; then
        slurmd -f "$conf" -c || fail 1 "slurmd failed: $(tail -n 2 "$dir/log/slurmd.log")"
    fi
    local st
    while :; do
        st=$(node_state)
        [[ $st =~ ^(idle|mix|alloc|comp)$ ]] && break
        if (( $(date +%s) - ${t1%.*} > timeout )); then
            echo "$me: node not idle after $timeout s (state '${st:-no answer}'); logs in $dir/log:" >&2
            tail -n 5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2
            exit 1
        fi
        sleep 0.2
    done
    say "up in $(awk -v a="$t1" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s" \
        "(node $(hostname -s) $st; $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s before that for packages)"
    echo "export SLURM_CONF=$conf"
}

# Processes started by our slurmd (slurmstepd, job steps) carry our SLURM_CONF.
our_leftovers() {
    local p c
    for p in /proc/[0-9]*; do
        { read -r c <"$p/comm"; } 2>/dev/null && [[ $c == slurmstepd ]] || continue
        tr '\0' '\n' 2>/dev/null <"$p/environ" | grep -qxF "SLURM_CONF=$conf" && echo "${p#/proc/}"
    done
}

# Whether pid $1 runs: exists and is not a zombie (an exited daemon's parent
# is init, which may take seconds to reap it).
alive() {
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [[ -n $st && $st != Z ]]
}

stopped=()        # pids stopped, to wait until init has reaped them
stop_pids() {      # name pid...: TERM, wait up to 20 s, then KILL
    local name=$1 i p left; shift
    (( $# )) || return 0
    stopped+=("$@")
    kill -TERM "$@" 2>/dev/null
    for (( i = 0; i < 200; i++ )); do
        left=()
        for p in "$@"; do alive "$p" && left+=("$p"); done
        (( ${#left[@]} )) || return 0
        sleep 0.1
    done
    echo "$me: $name (pid ${left[*]}) did not stop in 20 s; killing it" >&2
    kill -KILL "${left[@]}" 2>/dev/null
    sleep 0.5
}

stop() {
    (( EUID == 0 )) || fail 2 "needs root"
    local d pid i left
    if running slurmctld >/dev/null && [[ -e $conf ]]; then
        local jobs
        jobs=$(timeout 10 squeue -h -o %A 2>/dev/null)
        [[ -n $jobs ]] && timeout 20 scancel --quiet $jobs
        for (( i = 0; i < 50; i++ )); do
            [[ -z $(our_leftovers) && -z $(timeout 10 squeue -h -t R,CG -o %A 2>/dev/null) ]] && break
            sleep 0.2
        done
    fi
    for d in slurmd slurmctld munged; do
        pid=$(running "$d") && stop_pids "$d" "$pid"
        rm -f "$(pidfile "$d")"
    done
    # shellcheck disable=SC2046  # one pid a word
    stop_pids slurmstepd $(our_leftovers)
    for d in "${daemons[@]}"; do
        running "$d" >/dev/null && fail 1 "$d still runs"
    done
    # Until ps no longer lists them (as <defunct>): at most 10 s.
    for (( i = 0; i < 100; i++ )); do
        left=()
        for pid in "${stopped[@]}"; do [[ -d /proc/$pid ]] && left+=("$pid"); done
        (( ${#left[@]} )) || break
        sleep 0.1
    done
    say "stopped"
}

status() {
    local d pid st ok=0
    for d in "${daemons[@]}"; do
        if pid=$(running "$d"); then echo "$d: running (pid $pid)"; else echo "$d: not running"; ok=1; fi
    done
    st=$(node_state)
    echo "node: ${st:-no answer}"
    [[ $st =~ ^(idle|mix|alloc|comp)$ ]] || ok=1
    (( ok == 0 )) && echo "export SLURM_CONF=$conf"
    return $ok
}

main() {
    case ${1:-} in
        start) start ;;
        stop) stop ;;
        status) status ;;
        -h|--help) usage ;;
        *) usage >&2; exit 64 ;;
    esac
}

# On one line: bash has read the whole script before it runs any of it, so
# editing the file meanwhile cannot change a running start or stop.
main "$@"; exit
