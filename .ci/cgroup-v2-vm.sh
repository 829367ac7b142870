#!/usr/bin/env bash
# Run skyfast's real-cgroup tests on cgroup v2 -- a real kernel's, unified,
# with the cpu, cpuset and memory controllers -- in a qemu VM, on a machine
# whose own cgroups are v1 (or anything else).
#
#   .ci/cgroup-v2-vm.sh [--no-smoke] [PYTEST-ARGS...]
#
#   PYTEST-ARGS  passed to pytest in the VM; a path among them (tests/test_x.py,
#                tests/test_x.py::test_y; inside this repository, relative to
#                it or to the current directory) replaces the default
#                selection: tests/test_real_cgroups.py and tests/test_limits.py
#   --no-smoke   skip .ci/cgroupv2/smoke.py (three real cgroups, a child in
#                each, read_limits() of both implementations against what was
#                written), which runs before pytest by default
#
# What it does (all downloads cached under ${SKYFAST_CACHE:-~/.cache/skyfast-build}):
#   * installs qemu-system-x86 (qemu-system-x86_64 and its virtiofsd) and
#     debootstrap with apt-get when they are missing;
#   * the kernel: Debian's linux-image-amd64 of SKYFAST_VM_KERNEL_SUITE
#     (default trixie, 6.12), only its vmlinuz, unpacked from the .deb by
#     .ci/cgroupv2/kernel.py -- no initramfs: virtio-pci, virtiofs and cgroup
#     v2 are built into it (checked against its config);
#   * the root: a debootstrap'd Debian bookworm (minbase + python3.11, venv,
#     procps) in cgroupv2/rootfs-bookworm, holding a venv /opt/skyfast-venv
#     with the test and reference extras (pytest, hypothesis, psutil, ...,
#     skypilot==0.14.1) installed by its own pip in a chroot (from PyPI, once
#     per change of the wheel's requirements).  bookworm's CPython is 3.11, so
#     the cp311 wheel built on this (bookworm) host is the one it runs.  The
#     directory itself is the VM's root file system, shared by virtiofsd
#     (qemu's) and mounted by the kernel as root=skyfastroot rootfstype=virtiofs;
#   * the wheel: SKYFAST_VM_WHEEL=FILE, else SKYFAST_WHEELHOUSE=DIR (the cp311
#     x86_64 wheel of .ci/build-wheels.sh's output), else built from this tree
#     now (`$PYTHON -m pip wheel --no-deps`, PYTHON default python3);
#   * boots qemu-system-x86_64 (2 vCPUs, 2 GiB; KVM when /dev/kvm is a
#     kvm_intel/kvm_amd one that runs Debian's kernel, else TCG -- a KVM boot
#     that fails with "KVM internal error" is retried under TCG) with
#     `cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1`, PID 1 being
#     .ci/cgroupv2/guest-init.sh: it mounts cgroup2 on /sys/fs/cgroup
#     (nsdelegate), enables +cpu +cpuset +memory +pids in the root's
#     subtree_control, installs the wheel (pip --no-deps --no-index), runs the
#     smoke and `python -Im pytest ARGS` as root from an empty directory
#     (CI=true, SKYFAST_REQUIRE_EXTENSIONS=1), and powers off;
#   * copies the results (junit.xml, pytest.log, smoke.log, info, the serial
#     console) to SKYFAST_VM_OUT (default cgroupv2/last-run in the cache),
#     prints the VM's facts and pytest's summary, and exits with pytest's
#     status (non-zero too when the smoke failed or the VM never finished).
#
# Never hangs: qemu runs under `timeout` (SKYFAST_VM_TIMEOUT, default 1200 s),
# pytest in the VM under a shorter one, and qemu and virtiofsd are killed on
# any exit of this script.  One VM at a time per cache (flock): a second run
# waits.  Needs root (debootstrap, chroot, virtiofsd).
#
# Environment: SKYFAST_CACHE, SKYFAST_VM_WHEEL, SKYFAST_WHEELHOUSE,
# SKYFAST_VM_KERNEL_SUITE (trixie; bookworm's 6.1 builds virtiofs as a module,
# so it cannot boot this way), SKYFAST_VM_ACCEL (auto|kvm|tcg), SKYFAST_VM_CPU
# (TCG's -cpu, max), SKYFAST_VM_SMP (2), SKYFAST_VM_MEM (MiB, 2048),
# SKYFAST_VM_TIMEOUT (1200), SKYFAST_VM_OUT, SKYFAST_DEBIAN_MIRROR, PYTHON.
#
# Time on this project's 2-core machine (TCG; KVM here is kvm-pvm, which cannot
# run a stock kernel), cached: about 6.5 min for the default selection (the
# tests/test_limits.py half is fake-tree tests, ~10x slower under TCG), about
# 2.7 min for tests/test_real_cgroups.py alone; a first run adds ~3 min
# (debootstrap, pip) and the apt-get install of qemu.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/common.sh source-path=SCRIPTDIR
. "$repo/.ci/lib/common.sh"
here="$repo/.ci/cgroupv2"
start_all=$SECONDS
log_clock=$start_all   # log lines carry the seconds since the start

smoke=1
user_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage_from_header ;;
        --no-smoke) smoke=0 ;;
        *) user_args+=("$1") ;;
    esac
    shift
done

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, virtiofsd)"

cache="${SKYFAST_CACHE:-$HOME/.cache/skyfast-build}"
mkdir -p "$cache/cgroupv2"
cache="$(cd "$cache" && pwd)"
vmcache="$cache/cgroupv2"
root_suite=bookworm   # its python3 is 3.11: the host's, so the host's cp311 wheel
kernel_suite="${SKYFAST_VM_KERNEL_SUITE:-trixie}"
mirror="${SKYFAST_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
smp="${SKYFAST_VM_SMP:-2}"
mem="${SKYFAST_VM_MEM:-2048}"
hard_timeout="${SKYFAST_VM_TIMEOUT:-1200}"
# The guest's own deadline, counted from its boot: early enough that it still
# writes its results (and pytest's summary of what did run) before qemu is killed.
guest_timeout=$((hard_timeout > 240 ? hard_timeout - 60 : hard_timeout * 3 / 4))
outdir="${SKYFAST_VM_OUT:-$vmcache/last-run}"
rootfs="$vmcache/rootfs-$root_suite"
venv_in=/opt/skyfast-venv
root_packages="python3,python3-venv,ca-certificates,procps"
ready=.skyfast-vm-root-ready   # written last by the root's setup

# --- pytest selection ------------------------------------------------------------
# Paths must lie inside the repository: the VM sees its copy at /skyfast-run/src.
orig_cwd="$PWD"
# shellcheck source=lib/pytest-paths.sh source-path=SCRIPTDIR
. "$repo/.ci/lib/pytest-paths.sh"
# shellcheck disable=SC2317   # (called by pytest_paths)
vm_path() {
    case "$1" in
        "$repo"/*) REPLY="/skyfast-run/src/${1#"$repo"/}" ;;
        *) die "$2 is outside $repo: the VM sees only the repository" ;;
    esac
}
pytest_paths vm_path ${user_args[@]+"${user_args[@]}"}
if [ "$have_path" = 0 ]; then
    sel=()
    if [ -e "$repo/tests/test_real_cgroups.py" ]; then
        sel+=(/skyfast-run/src/tests/test_real_cgroups.py)
    else
        log "NOTE: tests/test_real_cgroups.py does not exist (yet): running tests/test_limits.py only"
    fi
    sel+=(/skyfast-run/src/tests/test_limits.py)
    pytest_args=("${sel[@]}" ${pytest_args[@]+"${pytest_args[@]}"})
fi

# --- host tools ------------------------------------------------------------------
find_virtiofsd() {   # bookworm's qemu ships the C one; later Debian has a package
    local p
    for p in /usr/lib/qemu/virtiofsd /usr/libexec/virtiofsd /usr/lib/virtiofsd; do
        [ -x "$p" ] && { echo "$p"; return 0; }
    done
    command -v virtiofsd
}
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! virtiofsd="$(find_virtiofsd)"; then
    log "apt-get install virtiofsd"
    apt-get install -y -qq --no-install-recommends virtiofsd >/dev/null || apt-get update -qq
    virtiofsd="$(find_virtiofsd)" || die "no virtiofsd (bookworm: in qemu-system-common; later: package virtiofsd)"
fi

# One VM at a time per cache: the root directory is the VM's live file system.
exec 9>"$vmcache/.lock"
take_lock 9 "$vmcache/.lock"

work="$(mktemp -d)"
qemu_pid=""
vfsd_pid=""
tail_pid=""
stop_vm() {   # never fails; kills only what this run started
    local p
    for p in $qemu_pid $vfsd_pid; do
        kill "$p" 2>/dev/null || true
    done
    for p in $qemu_pid $vfsd_pid; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$p" 2>/dev/null || true
    done
    [ -z "$tail_pid" ] || kill "$tail_pid" 2>/dev/null || true
    qemu_pid="" vfsd_pid="" tail_pid=""
}
# shellcheck disable=SC2317   # (called by the trap)
cleanup() { stop_vm; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- kernel ------------------------------------------------------------------------
kernel_out="$(python3 "$here/kernel.py" --cache "$cache" "$kernel_suite")"
vmlinuz="$(sed -n 1p <<<"$kernel_out")"
kernel_release="$(sed -n 2p <<<"$kernel_out")"
log "kernel: Debian $kernel_suite linux-image-amd64 -> $kernel_release"

# --- the wheel -----------------------------------------------------------------------
mkdir -p "$work/wheel"
if [ -n "${SKYFAST_VM_WHEEL:-}" ]; then
    [ -f "$SKYFAST_VM_WHEEL" ] || die "SKYFAST_VM_WHEEL=$SKYFAST_VM_WHEEL is not a file"
    cp "$SKYFAST_VM_WHEEL" "$work/wheel/"
elif [ -n "${SKYFAST_WHEELHOUSE:-}" ]; then
    wheel="$(find "$SKYFAST_WHEELHOUSE" -maxdepth 1 -name 'skyfast-*-cp311-cp311-*manylinux*x86_64*.whl' \
        | sort | head -n 1)"
    [ -n "$wheel" ] || die "no cp311 x86_64 wheel in $SKYFAST_WHEELHOUSE"
    cp "$wheel" "$work/wheel/"
else
    log "building the wheel of $repo with ${PYTHON:-python3} ($("${PYTHON:-python3}" --version))"
    SKYFAST_REQUIRE_EXTENSIONS=1 "${PYTHON:-python3}" -m pip wheel --quiet --no-deps \
        --disable-pip-version-check -w "$work/wheel" "$repo" >"$work/wheel.log" 2>&1 \
        || { tail -n 30 "$work/wheel.log" >&2; die "pip wheel failed"; }
fi
wheel="$(ls "$work"/wheel/skyfast-*.whl)"
case "$(basename "$wheel")" in
    *-cp311-cp311-*x86_64*.whl) ;;
    *) die "$(basename "$wheel"): not a cp311 x86_64 wheel (the VM's Python is bookworm's 3.11)" ;;
esac
log "wheel: $(basename "$wheel")"

# --- the root file system --------------------------------------------------------------
in_root() {   # a command chrooted in the root, /proc and /dev mounted for it alone
    # (pip there is told to read the root's CA bundle, the host's local CAs included)
    in_chroot --private-mounts "$rootfs" PIP_CERT=/etc/ssl/certs/ca-certificates.crt "$@"
}
if [ ! -f "$rootfs/$ready" ]; then
    tmp="$rootfs.partial"
    rm -rf --one-file-system "$tmp"
    log "debootstrap $root_suite (minbase + $root_packages) into $tmp"
    debootstrap --variant=minbase --include="$root_packages" "$root_suite" "$tmp" "$mirror" \
        >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
    rm -rf --one-file-system "$rootfs"
    mv "$tmp" "$rootfs"
    # Trust the host's local CAs too (an HTTPS-intercepting egress proxy in
    # front of PyPI, say), for the chroot's pip.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
        in_root update-ca-certificates >/dev/null 2>&1
    fi
    in_root python3 -m venv "$venv_in"
    in_root apt-get clean
    touch "$rootfs/$ready"
fi

# This run's directory in the root: /skyfast-run in the VM.
run="$rootfs/skyfast-run"
rm -rf --one-file-system "$run"
mkdir -p "$run/wheel" "$run/src"
cp "$wheel" "$run/wheel/"
install -m 0755 "$here/guest-init.sh" "$run/init"
cp "$here/smoke.py" "$run/smoke.py"
# The tree as it is on disk: tracked files plus untracked ones that are not
# ignored (so a test file being written now comes along; build outputs do not).
copy_tree "$repo" "$run/src"
printf '%s\0' "${pytest_args[@]}" > "$run/pytest-args"
printf 'SMOKE=%s\nGUEST_TIMEOUT=%s\n' "$smoke" "$guest_timeout" > "$run/settings"

# The test dependencies: the wheel's own [test,reference] requirements, by the
# root's pip, again only when they (or the root's Python) changed.
deps_key="$(python3 - "$wheel" <<'EOF'
import hashlib, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    reqs = sorted(l for l in z.read(meta).decode().splitlines() if l.startswith("Requires-Dist:"))
print(hashlib.sha256("\n".join(reqs).encode()).hexdigest()[:16])
EOF
)"
if [ ! -f "$rootfs$venv_in/.skyfast-deps-$deps_key" ]; then
    log "installing the test dependencies into $venv_in ([test,reference], from PyPI)"
    rm -f "$rootfs$venv_in"/.skyfast-deps-*
    in_root "$venv_in/bin/python" -m pip install --quiet \
        "/skyfast-run/wheel/$(basename "$wheel")[test,reference]" >"$work/pip.log" 2>&1 \
        || { tail -n 30 "$work/pip.log" >&2; die "pip install of the test dependencies failed"; }
    # skyfast itself is the VM's to install; leave only its dependencies here.
    in_root "$venv_in/bin/python" -m pip uninstall --quiet -y skyfast
    touch "$rootfs$venv_in/.skyfast-deps-$deps_key"
fi

# --- accelerator -----------------------------------------------------------------------
accel="${SKYFAST_VM_ACCEL:-auto}"
if [ "$accel" = auto ]; then
    accel=tcg
    if [ -e /sys/module/kvm_pvm ]; then
        log "KVM: /dev/kvm is kvm-pvm here (runs only PVM-enabled guest kernels): TCG"
    elif [ -r /dev/kvm ] && [ -w /dev/kvm ] && { [ -e /sys/module/kvm_intel ] || [ -e /sys/module/kvm_amd ]; }; then
        accel=kvm
    else
        log "KVM: not usable here (no /dev/kvm or no kvm_intel/kvm_amd): TCG"
    fi
fi

# --- boot --------------------------------------------------------------------------------
cmdline="console=ttyS0 root=skyfastroot rootfstype=virtiofs rw init=/skyfast-run/init"
cmdline+=" panic=1 loglevel=4 systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all"
console="$work/console.log"

boot() {   # $1 = kvm|tcg; returns qemu's status
    local acc="$1" sock="$work/virtiofsd.sock" rc=0
    local -a accel_args
    # shellcheck disable=SC2054   # (commas inside qemu's option values)
    if [ "$acc" = kvm ]; then accel_args=(-accel kvm -cpu host)
    else accel_args=(-accel tcg,thread=multi,tb-size=256 -cpu "${SKYFAST_VM_CPU:-max}"); fi
    rm -f "$sock" "$console" "$run/out/rc"
    : >"$console"
    "$virtiofsd" --socket-path="$sock" -o source="$rootfs" -o cache=always \
        >"$work/virtiofsd.log" 2>&1 &
    vfsd_pid=$!
    for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
    [ -S "$sock" ] || { cat "$work/virtiofsd.log" >&2; die "virtiofsd did not start"; }
    log "booting ($acc, $smp vCPUs, $mem MiB, timeout ${hard_timeout} s): $cmdline"
    timeout -k 10 "$hard_timeout" qemu-system-x86_64 -name skyfast-cgroupv2 \
        -machine pc "${accel_args[@]}" -smp "$smp" -m "$mem" \
        -object "memory-backend-memfd,id=mem,size=${mem}M,share=on" -numa node,memdev=mem \
        -chardev "socket,id=vfs,path=$sock" \
        -device vhost-user-fs-pci,queue-size=1024,chardev=vfs,tag=skyfastroot \
        -kernel "$vmlinuz" -append "$cmdline" \
        -nodefaults -display none -serial "file:$console" -nic none -no-reboot \
        </dev/null >"$work/qemu.log" 2>&1 &
    qemu_pid=$!
    # The guest's own lines ("vm: ...", pytest's) as they come.
    tail -n +1 -f --pid="$qemu_pid" "$console" 2>/dev/null \
        | grep --line-buffered -vE '^\s*$|^\[ *[0-9]+\.[0-9]+\]' >&2 &
    tail_pid=$!
    # KVM that cannot run this kernel stops the vCPU and leaves qemu waiting:
    # end it at once instead of at the timeout.
    while kill -0 "$qemu_pid" 2>/dev/null; do
        if [ "$acc" = kvm ] && grep -q "KVM internal error" "$work/qemu.log" 2>/dev/null; then
            kill "$qemu_pid" 2>/dev/null || true
            break
        fi
        sleep 1
    done
    wait "$qemu_pid" || rc=$?
    qemu_pid=""
    stop_vm
    return "$rc"
}

vm_rc=0
boot "$accel" || vm_rc=$?
if [ "$accel" = kvm ] && [ ! -f "$run/out/rc" ] && grep -q "KVM internal error" "$work/qemu.log" "$console" 2>/dev/null; then
    log "KVM could not run Debian's kernel (KVM internal error): again under TCG"
    accel=tcg
    vm_rc=0
    boot tcg || vm_rc=$?
fi
log "VM exited (status $vm_rc)"

# --- results -------------------------------------------------------------------------------
rm -rf "$outdir"
mkdir -p "$outdir"
cp -r "$run/out/." "$outdir/" 2>/dev/null || true
cp "$console" "$outdir/console.log"
cp "$work/qemu.log" "$outdir/qemu.log"
printf 'accel=%s\nkernel_suite=%s\nroot_suite=%s\nwheel=%s\nwall_s=%s\n' "$accel" "$kernel_suite" \
    "$root_suite" "$(basename "$wheel")" "$((SECONDS - start_all))" >>"$outdir/info"

if [ ! -f "$run/out/rc" ]; then
    echo "--- qemu:" >&2; tail -n 20 "$work/qemu.log" >&2
    echo "--- console (last 40 lines):" >&2; tail -n 40 "$console" >&2
    [ "$vm_rc" = 124 ] && die "the VM did not finish within ${hard_timeout} s (killed); logs in $outdir"
    die "the VM ended without a result (qemu status $vm_rc); logs in $outdir"
fi
rc="$(cat "$run/out/rc")"
[ "$rc" != 124 ] || log "pytest in the VM was stopped at the guest's deadline (${guest_timeout} s after boot; SKYFAST_VM_TIMEOUT=${hard_timeout})"
python3 - "$outdir" <<'EOF' >&2 || true
import sys, xml.etree.ElementTree as ET
from pathlib import Path
out = Path(sys.argv[1])
try:
    root = ET.parse(out / "junit.xml").getroot()
except (OSError, ET.ParseError) as exc:
    print(f"cgroup-v2-vm: no junit.xml ({exc})"); sys.exit(0)
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
t = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
print(f"cgroup-v2-vm: junit: {t['tests']} tests, {t['failures']} failures, {t['errors']} errors, {t['skipped']} skipped")
EOF
grep -h '^smoke: [0-9]' "$outdir/smoke.log" 2>/dev/null | sed 's/^/cgroup-v2-vm: /' >&2 || true
log "VM: kernel $kernel_release ($accel), Debian $root_suite root; results in $outdir; whole run $((SECONDS - start_all)) s"
# pytest's closing line last, as pytest printed it.
grep -E '^=+ .*(passed|failed|error|skipped|no tests ran).* =+$' "$outdir/pytest.log" | tail -n 1 || true
exit "$rc"
