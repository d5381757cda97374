// What a function sees of its environment: the namespaces, the root filesystem, /dev, /proc,
// /tmp, the limits and the cgroup, as the sandbox issue specifies them. A Node function reports
// its view; the test compares it with the host's.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, readSync } from "node:fs";
import { hostname } from "node:os";
import { createFunction, invoke, makeZip, payload, signedFetch, startDaemon } from "./lib.mjs";

const probe = `
import fs from "node:fs";
import os from "node:os";
import { execFileSync } from "node:child_process";
const tryRead = (p) => { try { return fs.readFileSync(p, "utf8"); } catch (e) { return e.code; } };
const tryList = (p) => { try { return fs.readdirSync(p).sort(); } catch (e) { return e.code; } };
const read8 = (p) => { const fd = fs.openSync(p, "r"); const b = Buffer.alloc(8, 1); const n = fs.readSync(fd, b, 0, 8, null); fs.closeSync(fd); return [n, b.equals(Buffer.alloc(8))]; };
const ns = {};
for (const n of ["user", "pid", "mnt", "net", "ipc", "uts", "cgroup"]) ns[n] = fs.readlinkSync("/proc/self/ns/" + n);
export async function handler(event) {
  const mounts = tryRead("/proc/self/mountinfo").split("\\n").filter(Boolean).map((l) => {
    const [pre, post] = l.split(" - ");
    const f = pre.split(" ");
    const [type, , superOpts] = post.split(" ");
    return { point: f[4], opts: f[5], type, superOpts };
  });
  const statfs = fs.statfsSync("/tmp");
  return {
    hostname: os.hostname(),
    uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(),
    user: os.userInfo().username,
    ns, mounts,
    root: tryList("/"),
    etc: tryList("/etc"),
    passwd: tryRead("/etc/passwd"),
    resolv: tryRead("/etc/resolv.conf"),
    hosts: tryRead("/etc/hosts"),
    localtime: (() => { try { return fs.readlinkSync("/etc/localtime"); } catch (e) { return e.code; } })(),
    certs: tryList("/etc/ssl/certs").length,
    dev: tryList("/dev"),
    tmpBytes: statfs.blocks * statfs.bsize,
    limits: tryRead("/proc/self/limits"),
    cgroup: tryRead("/proc/self/cgroup"),
    procs: tryList("/proc").filter((n) => /^\\d+$/.test(n)),
    hidden: ["/root", "/home", "/var/lib", "/var/log", "/work", "/sys", "/etc/shadow", event.stateDir].map((p) => [p, fs.existsSync(p)]),
    devnull: (() => { fs.writeFileSync("/dev/null", "x"); return fs.readFileSync("/dev/null").length; })(),
    urandom: read8("/dev/urandom"),
    zero: read8("/dev/zero"),
    shm: (() => { fs.writeFileSync("/dev/shm/x", "y"); return fs.readFileSync("/dev/shm/x", "utf8"); })(),
    stdin: fs.readlinkSync("/proc/self/fd/0"),
    devWrite: (() => { try { fs.writeFileSync("/dev/probe", "x"); return "ok"; } catch (e) { return e.code; } })(),
    ls: execFileSync("/bin/ls", ["/var/task"], { encoding: "utf8" }).trim(),
  };
}
`;

let d;
let view;
before(async () => {
  d = await startDaemon();
  await createFunction(d.lambda, {
    FunctionName: "probe",
    Runtime: "nodejs20.x",
    Handler: "index.handler",
    Code: { ZipFile: makeZip({ "index.mjs": probe }) },
    MemorySize: 256,
    EphemeralStorage: { Size: 600 },
    TenancyConfig: { TenantIsolationMode: "PER_TENANT" },
  });
  const r = await invoke(d.lambda, { FunctionName: "probe", TenantId: "tenant-with-a-name", Payload: payload({ stateDir: d.stateDir }) });
  assert.equal(r.FunctionError, undefined, r.text);
  view = r.json;
});
after(async () => {
  await d?.stop();
});

test("namespaces: every one differs from the host's; the hostname is neutral", () => {
  for (const [name, link] of Object.entries(view.ns)) {
    assert.notEqual(link, readlinkSync(`/proc/self/ns/${name}`), `${name} namespace is the host's`);
  }
  assert.notEqual(view.hostname, hostname());
  assert.ok(!view.hostname.includes("tenant-with-a-name"), view.hostname);
  assert.equal(view.hostname, "sandbox");
  assert.match(view.hosts, /^127\.0\.1\.1\s+sandbox$/m, "the hostname resolves");
});

test("the code runs as the unprivileged sandbox user", () => {
  assert.equal(view.uid, 993);
  assert.equal(view.gid, 990);
  assert.equal(view.user, "sbx_user1051");
  assert.match(view.passwd, /^sbx_user1051:x:993:990:/m);
});

test("root filesystem: a read-only tmpfs with only what runtimes need", () => {
  const byPoint = new Map(view.mounts.map((m) => [m.point, m]));
  const root = byPoint.get("/");
  assert.equal(root.type, "tmpfs");
  assert.match(root.opts, /^ro,/);
  for (const p of ["/usr", "/var/task", "/etc/ssl"]) {
    assert.ok(byPoint.has(p), `${p} is mounted`);
    assert.match(byPoint.get(p).opts, /^ro,/, `${p} is read-only`);
    assert.match(byPoint.get(p).opts, /nosuid/, `${p} is nosuid`);
  }
  assert.deepEqual(view.root.filter((n) => !["bin", "lib", "lib32", "lib64", "libx32", "sbin"].includes(n)),
    ["dev", "etc", "opt", "proc", "tmp", "usr", "var"]);
  assert.ok(view.etc.includes("passwd") && view.etc.includes("group") && view.etc.includes("hosts"));
  assert.ok(view.etc.includes("resolv.conf") && view.etc.includes("localtime") && view.etc.includes("ssl"));
  assert.ok(!view.etc.includes("shadow"));
  assert.equal(view.localtime, "/usr/share/zoneinfo/UTC");
  assert.ok(view.certs > 0, "CA certificates are visible");
  assert.match(view.hosts, /^127\.0\.0\.1\s+localhost/m);
  assert.ok(view.ls.length > 0);
  for (const [p, exists] of view.hidden) assert.equal(exists, false, `${p} is visible`);
});

test("/tmp is private and sized by EphemeralStorage; /dev is minimal; /proc shows only this PID namespace", () => {
  const tmp = view.mounts.find((m) => m.point === "/tmp");
  assert.equal(tmp.type, "tmpfs");
  assert.equal(view.tmpBytes, 600 * 1024 * 1024);
  assert.deepEqual(view.dev, ["fd", "full", "null", "random", "shm", "stderr", "stdin", "stdout", "tty", "urandom", "zero"]);
  assert.equal(view.shm, "y");
  assert.equal(view.devnull, 0);
  assert.equal(view.stdin, "/dev/null", "the runtime's stdin is /dev/null, open");
  assert.equal(view.devWrite, "EROFS", "/dev is read-only");
  assert.deepEqual(view.urandom, [8, false]);
  assert.deepEqual(view.zero, [8, true]);
  const proc = view.mounts.find((m) => m.point === "/proc");
  assert.match(proc.superOpts, /hidepid=(invisible|2)/);
  assert.ok(view.procs.length < 10, `visible processes: ${view.procs}`);
});

test("limits: nofile 1024, no core dumps; the cgroup namespace shows only its own root", () => {
  assert.match(view.limits, /^Max open files\s+1024\s+1024/m);
  assert.match(view.limits, /^Max core file size\s+0\s+0/m);
  assert.match(view.limits, /^Max realtime priority\s+0\s+0/m);
  assert.match(view.limits, /^Max nice priority\s+0\s+0/m);
  for (const line of view.cgroup.trim().split("\n")) assert.match(line, /:\/$/, line);
  // From the host, the environment's processes are in a cgroup of their own under the daemon's
  // (for memory and pids: v1 lines name the controller, the v2 line is "0::").
  const pids = d.sandboxProcesses();
  assert.ok(pids.length > 0);
  for (const pid of pids) {
    const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n");
    const limited = lines.filter((l) => /:(memory|pids|[^:]*,memory[^:]*)?:|^0::/.test(l) && l.includes(`/tenantd.${d.proc.pid}/env-`));
    assert.ok(limited.length > 0, lines.join("\n"));
  }
});

// The bytes of a process's private writable memory that /proc/<pid>/mem lets root read
// (mappings over 256 MiB, as a sanitizer's shadow, are skipped).
function privateMemory(pid) {
  const chunks = [];
  const mem = openSync(`/proc/${pid}/mem`, "r");
  try {
    for (const line of readFileSync(`/proc/${pid}/maps`, "utf8").trim().split("\n")) {
      const [range, perms] = line.split(/\s+/);
      if (!perms.startsWith("rw")) continue;
      const [start, end] = range.split("-").map((h) => BigInt(`0x${h}`));
      if (end - start > 256n << 20n) continue;
      const buf = Buffer.alloc(Number(end - start));
      try {
        readSync(mem, buf, 0, buf.length, start);
        chunks.push(buf);
      } catch {
        // a guard page or the like
      }
    }
  } finally {
    closeSync(mem);
  }
  return Buffer.concat(chunks);
}

function environmentInits(daemonPid) {
  return readdirSync("/proc").filter((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      return /^\d+ \(tenantd-env\) \S+ (\d+)/.exec(stat)?.[1] === String(daemonPid);
    } catch {
      return false;
    }
  });
}

// The environment variables of an init's runtime (its only child), as one string.
function runtimeEnviron(init) {
  const kids = readFileSync(`/proc/${init}/task/${init}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
  return kids.map((k) => readFileSync(`/proc/${k}/environ`, "latin1")).join("\n");
}

// Environments are cloned by the launcher, which starts before the daemon reads its keys: an
// environment's init (a copy of the launcher, not of the daemon) holds no key of the node, and
// nothing of the requests for other environments that the launcher served before (another
// function's variables).
test("an environment's init is the daemon's child and holds no copy of the daemon's keys nor of other environments' specs", async () => {
  const marker = `other-function-secret-${Date.now()}-`.padEnd(600, "s");
  await createFunction(d.lambda, {
    FunctionName: "holder",
    Runtime: "nodejs20.x",
    Handler: "index.handler",
    Code: { ZipFile: makeZip({ "index.mjs": "export const handler = async () => 1;\n" }) },
    // five copies, ~3 KB: longer than any request after it, wherever the variables sit in it
    Environment: { Variables: Object.fromEntries([1, 2, 3, 4, 5].map((i) => [`HELD_${i}`, marker])) },
    TenancyConfig: { TenantIsolationMode: "PER_TENANT" },
  });
  const held = await invoke(d.lambda, { FunctionName: "holder", TenantId: "h", Payload: payload({}) });
  assert.equal(held.FunctionError, undefined, held.text);
  // then an environment of another function, cloned after the holder's
  const r = await invoke(d.lambda, { FunctionName: "probe", TenantId: "after-holder", Payload: payload({ stateDir: d.stateDir }) });
  assert.equal(r.FunctionError, undefined, r.text);

  // every environment set up (the prewarmed one that replaced the probe's own included)
  const starting = async () => (await (await signedFetch(d, "/tenantd/stats")).json()).environments.starting;
  for (let i = 0; i < 200 && (await starting()) > 0; i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(await starting(), 0, "environments still starting");
  const inits = environmentInits(d.proc.pid);
  const secret = Buffer.from(d.credentials.secretAccessKey);
  const known = Buffer.from(d.stateDir); // in the launcher's copy of the daemon's options
  let others = 0;
  for (const pid of inits) {
    // its set-up done, init holds the standard streams only (not the log pipe, not the sync socket)
    assert.deepEqual(readdirSync(`/proc/${pid}/fd`).sort(), ["0", "1", "2"], `descriptors of init ${pid}`);
    const mem = privateMemory(pid);
    assert.ok(mem.includes(known), `the search finds nothing in ${pid}'s memory`);
    assert.ok(!mem.includes(secret), `environment init ${pid} holds the node's secret key`);
    if (runtimeEnviron(pid).includes(marker)) continue; // the holder's own
    others++;
    assert.ok(!mem.includes(Buffer.from(marker)), `environment init ${pid} holds another function's variables`);
  }
  assert.ok(others >= 2, `inits of other functions: ${others} of ${inits.length}`);
});
