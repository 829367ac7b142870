#!/bin/bash
# PID 1 of the VM that .ci/cgroup-v2-vm.sh boots (kernel cmdline
# init=/skyfast-run/init): no systemd, no udev -- this script mounts what the
# tests need, sets up cgroup v2, installs the skyfast wheel, runs the smoke and
# pytest, leaves the results in /skyfast-run/out (the host's directory, shared
# through virtiofs) and powers the VM off.  If it dies, the kernel panics
# (PID 1 exited), panic=1 reboots and qemu -no-reboot exits: the VM never
# outlives it.
#
# /skyfast-run, written by the host for each run:
#   wheel/*.whl     the skyfast wheel to install (--no-deps: the venv
#                   /opt/skyfast-venv already has the test dependencies)
#   src/            the source tree's tests (and the rest of the tree)
#   pytest-args     pytest's arguments, NUL-separated
#   settings        shell assignments: SMOKE=0|1, GUEST_TIMEOUT=seconds
#                   since boot by which pytest must have ended
#   out/            written here: guest.log, smoke.log, pytest.log, junit.xml,
#                   info, rc (written last: its presence means the run ended)
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
run=/skyfast-run
out=$run/out
venv=/opt/skyfast-venv

# shellcheck disable=SC2317   # (called by the trap)
poweroff_now() {
    sync
    echo o > /proc/sysrq-trigger 2>/dev/null
    sleep 30   # sysrq poweroff is asynchronous; if it never comes, PID 1 exits (panic=1)
}
trap poweroff_now EXIT

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
# What udev would add: bash's process substitution needs /dev/fd.
ln -sfn /proc/self/fd /dev/fd
ln -sfn /proc/self/fd/0 /dev/stdin
ln -sfn /proc/self/fd/1 /dev/stdout
ln -sfn /proc/self/fd/2 /dev/stderr
mkdir -p "$out"
exec > >(tee -a "$out/guest.log") 2>&1   # (needs /dev/fd, hence after the mounts)
say() { echo "vm: [$(cut -d' ' -f1 /proc/uptime) s] $*"; }
# Seconds left of the guest's budget (GUEST_TIMEOUT counts from boot, so the
# results are written before the host's harder timeout kills the VM).
left() {
    local up
    up="$(cut -d. -f1 /proc/uptime)"
    echo $(( ${GUEST_TIMEOUT:-600} - up > 5 ? ${GUEST_TIMEOUT:-600} - up : 5 ))
}
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
hostname skyfast-cgroupv2

# cgroup v2, unified, as systemd mounts it (nsdelegate: a cgroup namespace is
# a delegation boundary) -- nothing else may be mounted there: cgroup_no_v1=all
# on the cmdline leaves no v1 controller to mount anyway.
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
fstype="$(stat -fc %T /sys/fs/cgroup)"
controllers="$(cat /sys/fs/cgroup/cgroup.controllers)"
echo "+cpu +cpuset +memory +pids" > /sys/fs/cgroup/cgroup.subtree_control
subtree="$(cat /sys/fs/cgroup/cgroup.subtree_control)"

# shellcheck disable=SC1091
. "$run/settings"
{
    echo "kernel=$(uname -r)"
    echo "kernel_version=$(cat /proc/version)"
    echo "cmdline=$(cat /proc/cmdline)"
    echo "debian=$(cat /etc/debian_version)"
    echo "cgroup_fs=$fstype"
    echo "cgroup_controllers=$controllers"
    echo "cgroup_subtree_control=$subtree"
    echo "self_cgroup=$(tr '\n' ' ' < /proc/self/cgroup)"
    echo "v1_hierarchies=$(awk 'NR > 1 && $2 != 0 {print $1}' /proc/cgroups | tr '\n' ' ')"
    echo "cpus=$(nproc) cpus_online=$(cat /sys/devices/system/cpu/online)"
    echo "memtotal_kb=$(awk '/^MemTotal/ {print $2}' /proc/meminfo)"
    echo "python=$("$venv/bin/python" -VV | head -1)"
} > "$out/info"
sed 's/^/vm: /' "$out/info"

rc=0
if [ "$fstype" != cgroup2fs ]; then
    say "FAIL: /sys/fs/cgroup is $fstype, not cgroup2fs"; rc=1
fi
for c in cpu cpuset memory; do
    case " $subtree " in *" $c "*) ;; *) say "FAIL: controller $c not enabled in the root's subtree_control ($subtree)"; rc=1 ;; esac
done

if [ "$rc" = 0 ]; then
    say "installing $(cd "$run/wheel" && echo ./*.whl | sed 's|\./||g')"
    "$venv/bin/python" -m pip install --no-index --no-deps --force-reinstall --quiet \
        --disable-pip-version-check "$run"/wheel/*.whl || rc=$?
    "$venv/bin/python" -I -c 'import skyfast, sys; print("vm: skyfast", skyfast.__version__, skyfast.IMPLEMENTATION, "on", sys.version.split()[0])' \
        || rc=$?
fi

setup_rc=$rc
# Both steps run from an empty directory with -I: the installed wheel is what
# is imported, never the copied source tree.
cd "$(mktemp -d)" || { setup_rc=1; rc=1; }
if [ "$setup_rc" = 0 ] && [ "${SMOKE:-1}" = 1 ]; then
    say "smoke: real cgroups, a child in each, read_limits() against what was written"
    SKYFAST_REQUIRE_EXTENSIONS=1 timeout "$(left)" \
        "$venv/bin/python" -I "$run/smoke.py" 2>&1 | tee "$out/smoke.log"
    smoke_rc=${PIPESTATUS[0]}
    [ "$smoke_rc" = 0 ] || rc=$smoke_rc
fi
if [ "$setup_rc" = 0 ]; then   # a failed smoke does not stop pytest
    mapfile -d '' args < "$run/pytest-args"
    say "pytest ${args[*]}"
    start=$(date +%s)
    CI=true SKYFAST_REQUIRE_EXTENSIONS=1 timeout -k 10 "$(left)" \
        "$venv/bin/python" -Im pytest "${args[@]}" -p no:cacheprovider \
        --junitxml="$out/junit.xml" 2>&1 | tee "$out/pytest.log"
    prc=${PIPESTATUS[0]}
    say "pytest exit $prc in $(( $(date +%s) - start )) s"
    [ "$prc" = 0 ] || rc=$prc
fi
echo "$rc" > "$out/rc.tmp" && mv "$out/rc.tmp" "$out/rc"
say "done, exit $rc"
exit 0
