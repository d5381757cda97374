#!/usr/bin/env bash
# Run tenantd's cgroup v2 path on a pure cgroup v2 kernel, in a KVM guest.
#
# The development machines have a hybrid cgroup layout, so the daemon always picks v1 there.
# This boots Debian 12's own kernel (linux-image-amd64's current package, never installed on
# the host) with cgroup_no_v1=all, on the host's root filesystem shared read-only over 9p with
# a tmpfs overlay on top, and in the guest:
#   - checks that only the unified hierarchy exists;
#   - starts the daemon in the root cgroup and inspects the tree it builds (tenantd.<pid>/env-N,
#     memory.max, memory.swap.max, pids.max, cpu.weight, cgroup.subtree_control, membership);
#   - runs tests/integration/lifecycle.test.mjs and tests/integration/hostile/ (OOM kill ->
#     Runtime.OutOfMemory, fork bomb held by pids.max, /tmp filling);
#   - starts the daemon alone in a delegated non-root cgroup (as systemd's Delegate=yes does),
#     where it must move itself to a leaf, and inspects the tree again;
#   - starts it in a non-root cgroup that it shares with its parent shell;
#   - unless CG2VM_DELEGATED_SUITES=0, runs the suites again, each daemon in its own
#     delegated cgroup.
# Output: the guest's console on stdout (and in $CG2VM_DIR/console.log), full logs in
# $CG2VM_DIR/out/. Exit status 0 only when every check passed.
#
# The guest runs a snapshot of the tree (sources and tests, built afresh in $CG2VM_DIR/repo with
# the project's own CMake build), so that edits made meanwhile in the work tree do not mix into
# the run; CG2VM_PATCH applies a diff to the snapshot first (to try a fix without touching the
# tree).
#
# Usage: scripts/cgroup-v2-vm.sh            (as root)
# Env:   CG2VM_DIR (default /tmp/cgroup-v2-vm)  CG2VM_MEM (MiB, default 2048)
#        CG2VM_CPUS (default 2)  CG2VM_TIMEOUT (seconds, default 3600)
#        CG2VM_ACCEL (kvm or tcg; default kvm when the CPU has VT-x/AMD-V and KVM is not PVM)
#        CG2VM_DELEGATED_SUITES (0/1, default 1)  CG2VM_KERNEL_PKG (default: what
#        linux-image-amd64 depends on)  CG2VM_SOURCE (tree to snapshot, default this one)
#        CG2VM_PATCH (a diff for patch -p1 in the snapshot)
#        CG2VM_GUEST_SCRIPT (a bash script run in the guest instead of the checks; __REPO__ in it
#        becomes the snapshot's path there; /run/cg2vm/out is $CG2VM_DIR/out)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${CG2VM_DIR:-/tmp/cgroup-v2-vm}
MEM=${CG2VM_MEM:-2048}
CPUS=${CG2VM_CPUS:-2}
TIMEOUT=${CG2VM_TIMEOUT:-3600}
DELEGATED_SUITES=${CG2VM_DELEGATED_SUITES:-1}

die() { echo "cgroup-v2-vm: $*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || die "run as root"
# KVM where it can run a stock kernel; else TCG (slower, same result). This workplace's /dev/kvm
# is PVM (kvm_pvm: no VT-x/AMD-V in the VM), which hangs a stock Debian kernel in early boot.
ACCEL=${CG2VM_ACCEL:-}
if [ -z "$ACCEL" ]; then
    if [ -c /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo && [ ! -d /sys/module/kvm_pvm ]; then
        ACCEL=kvm
    else
        ACCEL=tcg
    fi
fi
case "$ACCEL" in
    kvm) ACCEL_ARGS=(-accel kvm -cpu host) ;;
    tcg) ACCEL_ARGS=(-accel tcg,thread=multi,tb-size=512 -cpu max) ;;
    *) die "CG2VM_ACCEL must be kvm or tcg" ;;
esac
SOURCE=$(cd "${CG2VM_SOURCE:-$REPO}" && pwd)
[ -d "$SOURCE/node_modules" ] || die "$SOURCE/node_modules is missing: npm ci first"
[ -z "${CG2VM_PATCH:-}" ] || [ -f "$CG2VM_PATCH" ] || die "no such patch: $CG2VM_PATCH"
case "$WORK" in /tmp/*|/var/tmp/*) ;; *) die "CG2VM_DIR must be under /tmp or /var/tmp (the guest hides it)";; esac

# ---- host side: qemu, the kernel package and busybox (extracted, not installed) ----
apt_updated=0
apt_update_once() { [ $apt_updated = 1 ] || { apt-get update -qq; apt_updated=1; }; }
if ! command -v qemu-system-x86_64 >/dev/null; then
    apt_update_once
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null
fi

mkdir -p "$WORK/debs"
KPKG=${CG2VM_KERNEL_PKG:-}
if [ -z "$KPKG" ]; then
    KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    if [ -z "$KPKG" ]; then
        apt_update_once
        KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    fi
fi
[ -n "$KPKG" ] || die "cannot tell which linux-image package linux-image-amd64 depends on"
fetch_deb() { # package name -> path of its .deb in $WORK/debs
    local f
    f=$(ls "$WORK/debs/$1"_*.deb 2>/dev/null | head -1 || true)
    if [ -z "$f" ]; then
        (cd "$WORK/debs" && apt-get download -qq "$1" 2>/dev/null) ||
            { apt_update_once; (cd "$WORK/debs" && apt-get download -qq "$1"); }
        f=$(ls "$WORK/debs/$1"_*.deb | head -1)
    fi
    echo "$f"
}
KDEB=$(fetch_deb "$KPKG")
BBDEB=$(fetch_deb busybox-static)

# ---- the snapshot of the tree, built afresh (tar keeps the sources' times, so an incremental
# build over an older snapshot could keep stale objects) ----
SNAP="$WORK/repo"
rm -rf "$SNAP"
mkdir -p "$SNAP"
(cd "$SOURCE" && tar --exclude=./.git --exclude='./build*' --exclude=./node_modules -cf - .) | tar -xf - -C "$SNAP"
cp -a "$(readlink -f "$SOURCE/node_modules")" "$SNAP/node_modules" # an npm ci meanwhile must not show
if [ -n "${CG2VM_PATCH:-}" ]; then
    patch -d "$SNAP" -p1 --quiet < "$CG2VM_PATCH" || die "$CG2VM_PATCH does not apply"
    echo "cgroup-v2-vm: applied $CG2VM_PATCH to the snapshot"
fi
echo "cgroup-v2-vm: building the snapshot in $SNAP/build"
cmake -S "$SNAP" -B "$SNAP/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$WORK/build.log" 2>&1 &&
    cmake --build "$SNAP/build" -j "$(nproc)" >> "$WORK/build.log" 2>&1 ||
    { tail -30 "$WORK/build.log"; die "the build failed (log: $WORK/build.log)"; }

rm -rf "$WORK/kernel" "$WORK/busybox" "$WORK/initramfs" "$WORK/out"
mkdir -p "$WORK/kernel" "$WORK/busybox" "$WORK/out"
dpkg -x "$KDEB" "$WORK/kernel"
dpkg -x "$BBDEB" "$WORK/busybox"
KVER=$(ls "$WORK/kernel/lib/modules" | head -1)
VMLINUZ="$WORK/kernel/boot/vmlinuz-$KVER"
[ -f "$VMLINUZ" ] || die "no kernel image in $KDEB"
BB="$WORK/busybox/bin/busybox"

# ---- the initramfs: busybox, the 9p and overlay modules, /init ----
IR="$WORK/initramfs"
mkdir -p "$IR"/{bin,dev,proc,sys,lower,upper,newroot,lib/modules,cg2vm}
cp "$BB" "$IR/bin/busybox"
ln -s busybox "$IR/bin/sh"
# In dependency order (virtio_pci is a module in Debian's kernel).
MODS="drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev
      drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci fs/netfs/netfs
      fs/fscache/fscache net/9p/9pnet net/9p/9pnet_virtio fs/9p/9p fs/overlayfs/overlay"
LOAD=""
for m in $MODS; do
    src="$WORK/kernel/lib/modules/$KVER/kernel/$m.ko"
    for ext in "" .xz .zst; do
        if [ -f "$src$ext" ]; then
            [ -z "$ext" ] || die "compressed modules ($src$ext) are not handled"
            cp "$src" "$IR/lib/modules/"
            LOAD="$LOAD $(basename "$m")"
            break
        fi
    done
done

cat > "$IR/init" <<EOF
#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $LOAD; do insmod /lib/modules/\$m.ko || echo "CG2VM: insmod \$m failed"; done
fail() { echo "CG2VM: init: \$*"; echo "CG2VM RESULT: 0 passed, 1 failed"; echo o > /proc/sysrq-trigger; sleep 60; }
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /lower || fail "cannot mount the host's root over 9p"
mount -t tmpfs -o mode=0755 tmpfs /upper
mkdir -p /upper/u /upper/w
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w /newroot || fail "cannot mount the overlay"
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm
mount -t cgroup2 -o nsdelegate cgroup2 /newroot/sys/fs/cgroup || fail "cannot mount cgroup2"
mount -t tmpfs -o mode=0755 tmpfs /newroot/run
mkdir -p /newroot/run/cg2vm/out /newroot/run/cg2vm/repo
mount --bind /newroot$SNAP /newroot/run/cg2vm/repo || fail "cannot bind the snapshot"
for d in tmp var/tmp; do mount -t tmpfs -o mode=1777 tmpfs /newroot/\$d; done
cp /cg2vm/* /newroot/run/cg2vm/
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out /newroot/run/cg2vm/out || fail "cannot mount the output share"
ip link set lo up
hostname cg2vm
exec switch_root /newroot /bin/bash /run/cg2vm/stage2.sh
EOF
chmod 755 "$IR/init"

# PID 1 after switch_root: runs the test and powers off (PID 1 must never exit).
cat > "$IR/cg2vm/stage2.sh" <<'EOF'
#!/bin/bash
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb
bash /run/cg2vm/guest-test.sh
echo $? > /run/cg2vm/out/rc
sync
echo o > /proc/sysrq-trigger
sleep 60
EOF

cat > "$IR/cg2vm/guest-test.sh" <<'EOF'
#!/bin/bash
# Inside the guest: pure cgroup v2, running as root, PID 1's child.
set -u
REPO=__REPO__
OUT=/run/cg2vm/out
CG=/sys/fs/cgroup
cd "$REPO"
pass=0 failn=0 warnn=0
result() { # name, 0/1, detail
    if [ "$2" = 0 ]; then pass=$((pass + 1)); echo "CG2VM PASS: $1${3:+ ($3)}"
    else failn=$((failn + 1)); echo "CG2VM FAIL: $1${3:+ ($3)}"; fi
    echo "$([ "$2" = 0 ] && echo PASS || echo FAIL) $1 ${3:-}" >> "$OUT/results"
}
warn() { # a known weakness, reported but not failing the run: name, 0/1, detail
    if [ "$2" = 0 ]; then pass=$((pass + 1)); echo "CG2VM PASS: $1${3:+ ($3)}"; echo "PASS $1 ${3:-}" >> "$OUT/results"
    else warnn=$((warnn + 1)); echo "CG2VM WARN: $1${3:+ ($3)}"; echo "WARN $1 ${3:-}" >> "$OUT/results"; fi
}
t0=$(date +%s)
echo "CG2VM: kernel $(uname -r); cmdline: $(cat /proc/cmdline)"
echo "CG2VM: memory $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo), $(nproc) CPUs"

# ---- 1. the host is pure v2 ----
v1=$(awk '$9 == "cgroup"' /proc/self/mountinfo | wc -l)
v2=$(awk '$9 == "cgroup2" {print $5}' /proc/self/mountinfo | tr '\n' ' ')
ctrls=$(cat $CG/cgroup.controllers)
echo "CG2VM: cgroup2 at: $v2; v1 mounts: $v1; root controllers: $ctrls"
echo "CG2VM: /proc/cgroups:"; sed 's/^/CG2VM:   /' /proc/cgroups
ok=1; [ "$v1" = 0 ] && [ "$v2" = "/sys/fs/cgroup " ] && [[ " $ctrls " == *" memory "* ]] && [[ " $ctrls " == *" pids "* ]] && [[ " $ctrls " == *" cpu "* ]] && ok=0
# cgroup_no_v1=all: mounting a v1 hierarchy must fail.
mkdir -p /run/v1test
if mount -t cgroup -o memory cgroup /run/v1test 2>/dev/null; then ok=1; umount /run/v1test; fi
result "pure cgroup v2 (no v1 hierarchy can be mounted)" $ok "$v1 v1 mounts, cgroup2 at $v2, controllers: $ctrls"

# ---- 2. the daemon in the root cgroup, by hand ----
echo "CG2VM: root cgroup subtree_control before: '$(cat $CG/cgroup.subtree_control)'"
rm -rf /tmp/st
"$REPO/build/tenantd" serve --listen 127.0.0.1:0 --state-dir /tmp/st --debug > "$OUT/manual.out" 2> "$OUT/manual.err" &
mpid=$!
for _ in $(seq 100); do grep -q "listening" "$OUT/manual.out" 2>/dev/null && break; sleep 0.1; done
echo "CG2VM: manual daemon (pid $mpid) log lines about cgroups:"
grep -i cgroup "$OUT/manual.err" | sed 's/^/CG2VM:   /'
echo "CG2VM: its /proc/$mpid/cgroup: $(cat /proc/$mpid/cgroup)"
echo "CG2VM: root cgroup subtree_control now: '$(cat $CG/cgroup.subtree_control)'"
echo "CG2VM: tree:"; find $CG -maxdepth 2 -name 'tenantd*' | sed 's/^/CG2VM:   /'
grep -q "environments get cgroup v2 limits" "$OUT/manual.err" && [ -d "$CG/tenantd.$mpid" ]
result "manual start in the root cgroup: 'environments get cgroup v2 limits', $CG/tenantd.$mpid made" $?
kill -TERM $mpid; wait $mpid; rc=$?
[ $rc = 0 ] && [ ! -e "$CG/tenantd.$mpid" ]
result "manual daemon exits 0 on SIGTERM and removes tenantd.$mpid" $? "exit $rc"

# ---- 3. the tree with environments, daemon in the root cgroup ----
node /run/cg2vm/probe.mjs root > "$OUT/probe-root.log" 2>&1; rc=$?
sed 's/^/CG2VM:   /' "$OUT/probe-root.log"
result "probe, daemon in the root cgroup" $rc

# ---- 4. the test suites, daemons in the root cgroup ----
echo "CG2VM: node --test tests/integration/lifecycle.test.mjs tests/integration/hostile/ (root cgroup)"
s=$(date +%s)
node --test tests/integration/lifecycle.test.mjs tests/integration/hostile/ > "$OUT/suites-root.log" 2>&1; rc=$?
grep -E '^# (tests|pass|fail|cancelled|skipped|duration_ms)|^not ok|^ *not ok|fork bomb:|allocate past MemorySize|fill /tmp' "$OUT/suites-root.log" | sed 's/^/CG2VM:   /'
result "suites (lifecycle + hostile), daemons in the root cgroup" $rc "exit $rc, $(( $(date +%s) - s )) s"
left=$(find $CG -name 'tenantd.*' -o -name 'env-*' | grep -v '\.daemon$' | tr '\n' ' ')
[ -z "$left" ]
result "no tenantd.<pid> or env-N cgroup left after the suites" $? "$left"

# ---- 5. a delegated service cgroup of its own (systemd Delegate=yes): the daemon must move to a leaf ----
echo "+memory +pids +cpu" > $CG/cgroup.subtree_control
echo "CG2VM: root cgroup subtree_control now: '$(cat $CG/cgroup.subtree_control)'"
mkdir -p $CG/svc
cat > /run/cg2vm/in-cgroup.sh <<'W'
#!/bin/sh
# The daemon alone in a fresh cgroup of its own, as a service manager starts it.
dir=/sys/fs/cgroup/${CG2VM_PARENT:-}svc-$$
mkdir "$dir" && echo $$ > "$dir/cgroup.procs" || exit 99
exec __REPO__/build/tenantd "$@"
W
sed -i "s#__REPO__#$REPO#" /run/cg2vm/in-cgroup.sh
chmod 755 /run/cg2vm/in-cgroup.sh
TENANTD_BIN=/run/cg2vm/in-cgroup.sh node /run/cg2vm/probe.mjs delegated > "$OUT/probe-delegated.log" 2>&1; rc=$?
sed 's/^/CG2VM:   /' "$OUT/probe-delegated.log"
result "probe, daemon alone in a delegated non-root cgroup" $rc
left=$(sed -n 's/^note: \(.*\) is left behind.*/\1/p' "$OUT/probe-delegated.log")
[ -z "$left" ]
# A process cannot remove the cgroup it is in: the leaf stays with the (empty) service cgroup,
# which a service manager removes when the service stops (systemd does, with Delegate=yes).
warn "the daemon's leaf cgroup (tenantd.<pid>.daemon) is removed after it exits" $? "left: $left"

# ---- 6. the brief's case: a shell moved into a cgroup, the daemon started from it ----
mkdir -p $CG/shared
( echo $BASHPID > $CG/shared/cgroup.procs; exec node /run/cg2vm/probe.mjs shared ) > "$OUT/probe-shared.log" 2>&1; rc=$?
sed 's/^/CG2VM:   /' "$OUT/probe-shared.log"
# No cgroup v2 manager can enable controllers below a non-root cgroup that holds other
# processes: the daemon must build its tree under the root cgroup instead.
result "probe, daemon started from a shell in a non-root cgroup (shares it with its parent): tree under the root" $rc "$(grep -m1 'daemon log:' "$OUT/probe-shared.log" | sed 's/.*tenantd //')"

# ---- 7. optionally: the suites again, each daemon alone in a delegated cgroup ----
if [ "__DELEGATED_SUITES__" = 1 ]; then
    echo "CG2VM: suites again, each daemon in its own delegated cgroup"
    s=$(date +%s)
    # Each daemon gets a fresh service cgroup here, so the test of a restarted daemon clearing
    # the cgroups of the one killed before it does not apply (a service manager that restarts
    # a service in the same cgroup clears that cgroup itself).
    TENANTD_FRESH_CGROUP_PER_DAEMON=1 TENANTD_BIN=/run/cg2vm/in-cgroup.sh node --test \
        tests/integration/lifecycle.test.mjs tests/integration/hostile/ > "$OUT/suites-delegated.log" 2>&1; rc=$?
    grep -E '^# (tests|pass|fail|cancelled|skipped|duration_ms)|^not ok|^ *not ok|fork bomb:|allocate past MemorySize|fill /tmp' "$OUT/suites-delegated.log" | sed 's/^/CG2VM:   /'
    result "suites, each daemon alone in a delegated cgroup" $rc "exit $rc, $(( $(date +%s) - s )) s"
fi

echo "CG2VM: cgroups named tenantd* left at the end:"; find $CG -name 'tenantd*' | sed 's/^/CG2VM:   /'
dmesg | grep -iE "oom|killed process|cgroup" | tail -20 | sed 's/^/CG2VM: dmesg: /'
dmesg > "$OUT/dmesg.log"
echo "CG2VM: guest run took $(( $(date +%s) - t0 )) s"
[ $warnn = 0 ] || { echo "CG2VM: warnings:"; grep '^WARN' "$OUT/results" | sed 's/^/CG2VM:   /'; }
echo "CG2VM RESULT: $pass passed, $failn failed, $warnn warnings"
[ $failn = 0 ]
EOF
if [ -n "${CG2VM_GUEST_SCRIPT:-}" ]; then # a script of your own instead (for debugging)
    cp "$CG2VM_GUEST_SCRIPT" "$IR/cg2vm/guest-test.sh"
fi
sed -i -e "s#__REPO__#/run/cg2vm/repo#" -e "s#__DELEGATED_SUITES__#$DELEGATED_SUITES#" "$IR/cg2vm/guest-test.sh"

cat > "$IR/cg2vm/probe.mjs" <<'EOF'
// Starts one daemon (TENANTD_BIN may wrap it), makes environments of known sizes and checks
// the cgroup v2 tree that the daemon built for them. argv[2]: root | delegated | shared.
import { readFileSync, readdirSync, existsSync, mkdtempSync, statSync } from "node:fs";
import { join } from "node:path";
import { startDaemon, createFunction, invoke, readZip, makeZip, payload, sleep, buildDir } from "__REPO__/tests/integration/lib.mjs";

const CG = "/sys/fs/cgroup";
const mode = process.argv[2];
let failed = 0;
const state = {};
function check(name, ok, detail = "") {
  console.log(`${ok ? "ok" : "NOT OK"} - ${name}${detail ? ` (${detail})` : ""}`);
  if (!ok) failed++;
}
const rd = (p) => { try { return readFileSync(p, "utf8").trim(); } catch (e) { return `<${e.code}>`; } };
const cgOf = (pid) => rd(`/proc/${pid}/cgroup`).replace(/^0::/, "");

console.log(`probe ${mode}: node in ${cgOf(process.pid)}`);
const d = await startDaemon({ stateDir: mkdtempSync(`/tmp/st-${mode}-`), args: ["--debug", "--idle-timeout", "600"] });
const pid = d.proc.pid;
await sleep(200);
const cgLines = d.stderr.split("\n").filter((l) => /cgroup/i.test(l));
for (const l of cgLines) console.log(`daemon log: ${l}`);
const own = cgOf(pid);
console.log(`daemon pid ${pid} in ${own}`);
const v2 = cgLines.some((l) => l.includes("environments get cgroup v2 limits"));
check("start-up log says cgroup v2", v2, cgLines.join(" | "));

// Where the daemon's directory must be.
// shared: the daemon's cgroup holds its parent shell too, so it cannot delegate; the daemon
// stays where it is and builds its tree under the root cgroup.
const parentRel = mode === "root" || mode === "shared" ? "" : own.replace(/\/tenantd\.\d+\.daemon$/, "");
const base = `${CG}${parentRel}/tenantd.${pid}`;
if (mode === "root") check("daemon stays in the root cgroup", own === "/", own);
if (mode === "shared") check("daemon stays in the shared cgroup", own === "/shared", own);
if (mode === "delegated")
  check("daemon moved itself to a leaf of its service cgroup", own === `${parentRel}/tenantd.${pid}.daemon`, own);
check(`${base} exists`, existsSync(base));
const parent = `${CG}${parentRel}`;
console.log(`${parent}/cgroup.subtree_control: ${rd(`${parent}/cgroup.subtree_control`)}`);
console.log(`${parent}/cgroup.procs: ${rd(`${parent}/cgroup.procs`).replace(/\n/g, " ")}`);
console.log(`${base}/cgroup.controllers: ${rd(`${base}/cgroup.controllers`)}`);
console.log(`${base}/cgroup.subtree_control: ${rd(`${base}/cgroup.subtree_control`)}`);
check("daemon's parent delegates memory and pids (and cpu)", /memory/.test(rd(`${parent}/cgroup.subtree_control`)) && /pids/.test(rd(`${parent}/cgroup.subtree_control`)) && /cpu/.test(rd(`${parent}/cgroup.subtree_control`)), rd(`${parent}/cgroup.subtree_control`));
check("tenantd.<pid> delegates memory, pids and cpu", rd(`${base}/cgroup.subtree_control`).split(" ").sort().join(" ") === "cpu memory pids", rd(`${base}/cgroup.subtree_control`));

if (v2) {
  // Three sizes: the CPU weight follows memory, 100 per 1769 MB.
  const sizes = [128, 1769, 3008];
  for (const mb of sizes) {
    await createFunction(d.lambda, { FunctionName: `probe-${mb}`, Code: { ZipFile: readZip("tests/functions/behave.zip") }, MemorySize: mb, Timeout: 30 });
    const r = await invoke(d.lambda, { FunctionName: `probe-${mb}`, LogType: "Tail", Payload: payload({ action: "echo", mb }) });
    check(`invoke probe-${mb}`, !r.FunctionError && r.json?.mb === mb, r.text);
    const m = /Max Memory Used: (\d+) MB/.exec(r.log);
    check(`REPORT of probe-${mb} has Max Memory Used > 0`, m && Number(m[1]) > 0, m ? m[0] : r.log.slice(-200));
  }
  const envs = readdirSync(base).filter((n) => n.startsWith("env-") && statSync(join(base, n)).isDirectory());
  console.log(`environments' cgroups: ${envs.join(" ")}`);
  const bySize = new Map();
  for (const e of envs) {
    const dir = join(base, e);
    const f = {};
    for (const k of ["memory.max", "memory.swap.max", "pids.max", "cpu.weight", "memory.peak", "memory.current", "cgroup.procs", "cgroup.controllers"])
      f[k] = rd(join(dir, k)).replace(/\n/g, ",");
    f.oom_kill = /oom_kill (\d+)/.exec(rd(join(dir, "memory.events")))?.[1];
    console.log(`${e}: ${JSON.stringify(f)}`);
    bySize.set(Number(f["memory.max"]) / 1048576, f);
  }
  for (const mb of sizes) {
    const f = bySize.get(mb);
    check(`an env cgroup with memory.max = ${mb} MiB`, !!f);
    if (!f) continue;
    const weight = Math.min(10000, Math.max(1, Math.floor((mb * 100) / 1769)));
    check(`  memory.swap.max 0`, f["memory.swap.max"] === "0", f["memory.swap.max"]);
    check(`  pids.max 1024`, f["pids.max"] === "1024", f["pids.max"]);
    check(`  cpu.weight ${weight}`, f["cpu.weight"] === String(weight), f["cpu.weight"]);
    check(`  has processes, memory.peak > 0`, f["cgroup.procs"].length > 0 && Number(f["memory.peak"]) > 0);
  }
  // Every process of every environment is in its environment's cgroup, inside the daemon's.
  const procs = d.sandboxProcesses();
  const outside = procs.filter((p) => !new RegExp(`^${parentRel}/tenantd\\.${pid}/env-\\d+$`).test(cgOf(p)));
  check(`all ${procs.length} sandbox processes are in ${parentRel}/tenantd.${pid}/env-N`, procs.length > 0 && outside.length === 0, outside.map((p) => `${p}:${cgOf(p)}`).join(" "));
  // The sandbox's PID 1 (a copy of the daemon, uid 0 on the host) too.
  const ppid = (p) => { const t = rd(`/proc/${p}/stat`); return Number(t.slice(t.lastIndexOf(") ") + 2).split(" ")[1]); };
  const kids = readdirSync("/proc").filter((p) => /^\d+$/.test(p) && ppid(p) === pid);
  const kidsOutside = kids.filter((p) => !/\/env-\d+$/.test(cgOf(p)));
  check(`all ${kids.length} children of the daemon are in env-N cgroups`, kids.length > 0 && kidsOutside.length === 0, kidsOutside.map((p) => `${p}:${cgOf(p)}`).join(" "));
  if (mode === "root") {
    // The fork bomb of the hostile suite, with time to reach the pids limit even on TCG.
    const bootstrap = readFileSync(join(buildDir, "tests/integration/hostile/attack-c/bootstrap"));
    await createFunction(d.lambda, { FunctionName: "probe-bomb", Code: { ZipFile: makeZip({ bootstrap: { content: bootstrap, mode: "0755" } }) }, MemorySize: 1024, Timeout: 600 });
    const envsNow = () => readdirSync(base).filter((n) => n.startsWith("env-"));
    const before = new Set(envsNow());
    const bomb = invoke(d.lambda, { FunctionName: "probe-bomb", Payload: payload({ action: "fork-bomb" }) }).catch((e) => ({ error: e }));
    let env, peak = 0, hits = 0, peakProcs = 0, firstHit = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < 300000) {
      env ??= envsNow().find((e) => !before.has(e));
      if (env) {
        peak = Math.max(peak, Number(rd(join(base, env, "pids.current"))) || 0);
        hits = Number(/^max (\d+)/m.exec(rd(join(base, env, "pids.events")))?.[1] ?? 0);
        peakProcs = Math.max(peakProcs, rd(join(base, env, "cgroup.threads")).split("\n").length);
        if (hits > 0) firstHit ||= Date.now();
        if (hits > 0 && (peak >= 1024 || Date.now() - firstHit > 3000)) break;
      }
      await sleep(100);
    }
    check(`fork bomb held by pids.max 1024 (pids.current peaked at ${peak}, ${peakProcs} tasks listed, pids.events max ${hits}, ${((Date.now() - t0) / 1000).toFixed(1)} s)`, peak > 0 && peak <= 1024 && peakProcs <= 1024 && hits > 0);
    state.bomb = bomb;
  }
}

const st = await d.stop({ keepState: true });
if (state.bomb) await state.bomb;
check("daemon exits 0 on SIGTERM", st.code === 0, JSON.stringify(st));
await sleep(300);
check(`${base} removed on exit`, !existsSync(base));
const leaf = `${CG}${parentRel}/tenantd.${pid}.daemon`;
if (existsSync(leaf)) console.log(`note: ${leaf} is left behind (procs: '${rd(`${leaf}/cgroup.procs`)}')`);
console.log(`tenantd* under ${CG}${parentRel}: ${readdirSync(`${CG}${parentRel}`).filter((n) => n.startsWith("tenantd")).join(" ") || "none"}`);
console.log(`probe ${mode}: ${failed ? `${failed} checks failed` : "all checks passed"}`);
process.exit(failed ? 1 : 0);
EOF
sed -i "s#__REPO__#/run/cg2vm/repo#" "$IR/cg2vm/probe.mjs"

(cd "$IR" && find . | "$BB" cpio -o -H newc 2>/dev/null) > "$WORK/initramfs.cpio"

# ---- boot ----
# softlockup_panic: a guest that locks up (seen under TCG on a starved host) panics, and with
# panic=-1 and -no-reboot qemu exits, instead of the run hanging until the timeout; such a
# boot is tried again (CG2VM_TRIES, default 2).
CMDLINE="console=ttyS0 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 panic=-1 softlockup_panic=1 loglevel=4 rdinit=/init"
TRIES=${CG2VM_TRIES:-2}
start=$(date +%s)
for try in $(seq "$TRIES"); do
    rm -rf "$WORK/out"; mkdir -p "$WORK/out"
    echo "cgroup-v2-vm: booting $KPKG ($KVER) with ${MEM} MiB, $CPUS CPUs, accel $ACCEL (try $try of $TRIES); console in $WORK/console.log"
    t=$(date +%s)
    set +e
    timeout --foreground -k 10 "$TIMEOUT" qemu-system-x86_64 \
        "${ACCEL_ARGS[@]}" -m "$MEM" -smp "$CPUS" -display none -monitor none -serial stdio -no-reboot \
        -kernel "$VMLINUZ" -initrd "$WORK/initramfs.cpio" -append "$CMDLINE" \
        -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
        -virtfs local,path="$WORK/out",mount_tag=out,security_model=none \
        -nic none < /dev/null 2>&1 | tee "$WORK/console.log"
    qrc=${PIPESTATUS[0]}
    set -e
    echo "cgroup-v2-vm: qemu exited with $qrc after $(( $(date +%s) - t )) s; logs in $WORK/out"
    [ -f "$WORK/out/rc" ] && break
    if grep -qE "soft lockup|Kernel panic" "$WORK/console.log"; then
        echo "cgroup-v2-vm: the guest locked up or panicked (not a result of the checks)"
        continue
    fi
    break
done
rm -rf "$WORK/kernel" "$WORK/busybox" "$WORK/initramfs"
echo "cgroup-v2-vm: $(( $(date +%s) - start )) s in the VM"
grc=$(cat "$WORK/out/rc" 2>/dev/null || echo missing)
[ "$grc" != missing ] || { echo "cgroup-v2-vm: FAILED (the guest did not finish: qemu exit $qrc)"; exit 1; }
[ "$grc" = 0 ] || { echo "cgroup-v2-vm: FAILED (guest test exit: $grc)"; grep '^FAIL' "$WORK/out/results" 2>/dev/null; exit 1; }
echo "cgroup-v2-vm: all checks passed on kernel $KVER (pure cgroup v2)"
