// attack-node: the hostile Node function of the hostile-function suite (nodejs20.x,
// index.handler, run by aws-lambda-ric). The Node twin of attack-c/main.c: as tenant B it holds
// a secret ("hold", "check"); as tenant A it attacks ("attacks", "spoof", "fork-bomb", "oom",
// "spin", "linger"). "attacks" answers {results: [{attack, blocked, detail}]}; an attack is
// blocked only when it failed in the expected way.
import { spawn, spawnSync } from "node:child_process";
import dgram from "node:dgram";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import { setTimeout as sleep } from "node:timers/promises";

let heldSecret = null;
let heldChild = null;

function badEvent(message) {
  const e = new Error(message);
  e.name = "AttackBadEvent";
  return e;
}

function errName(fn) {
  try {
    fn();
    return "ok";
  } catch (e) {
    return e.code ?? e.name;
  }
}

// ---- B: hold a secret ----

function secretStatus(secret) {
  let tmp = false;
  try {
    tmp = fs.readFileSync("/tmp/secret", "utf8") === secret;
  } catch {
    // missing: not intact
  }
  let environ = false;
  try {
    environ = fs.readFileSync(`/proc/${heldChild.pid}/environ`, "latin1").includes(secret);
  } catch {
    // gone: not intact
  }
  return { tmp, memory: heldSecret === secret, environ };
}

async function hold(event, context) {
  const { secret, maxMs } = event;
  if (typeof secret !== "string" || secret.length === 0) throw badEvent("hold needs a secret");
  heldSecret = secret;
  fs.writeFileSync("/tmp/secret", secret, { mode: 0o600 });
  heldChild ??= spawn("/bin/sleep", ["100000"], { env: { TENANT_SECRET: secret }, stdio: "ignore" });
  // The test releases B by writing to /tmp/release from the host (it cannot create files here:
  // its uid is not mapped in this user namespace).
  fs.writeFileSync("/tmp/release", "", { mode: 0o666 });
  fs.chmodSync("/tmp/release", 0o666);
  fs.writeFileSync("/tmp/reqid", context.awsRequestId);
  for (let waited = 0; waited < maxMs && fs.statSync("/tmp/release").size === 0; waited += 20) await sleep(20);
  return secretStatus(secret);
}

// ---- A: the attacks ----

function visiblePids() {
  return fs.readdirSync("/proc").filter((n) => /^\d+$/.test(n)).map(Number);
}

// Reads the readable mappings of another process through /proc/<pid>/mem.
function memoryHas(pid, needle) {
  let maps;
  let fd;
  try {
    maps = fs.readFileSync(`/proc/${pid}/maps`, "utf8");
    fd = fs.openSync(`/proc/${pid}/mem`, "r");
  } catch {
    return false;
  }
  const chunk = Buffer.alloc(1 << 20);
  try {
    for (const line of maps.split("\n")) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) r/.exec(line);
      if (!m || line.includes("[vvar]")) continue;
      for (let at = Number.parseInt(m[1], 16), hi = Number.parseInt(m[2], 16); at < hi; ) {
        let n;
        try {
          n = fs.readSync(fd, chunk, 0, Math.min(chunk.length, hi - at), at);
        } catch {
          break;
        }
        if (n <= 0) break;
        if (chunk.subarray(0, n).includes(needle)) return true;
        at += n;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return false;
}

function readHas(path, needle) {
  try {
    return fs.readFileSync(path).includes(needle);
  } catch {
    return false;
  }
}

function attackFiles(results, needle, hostPids) {
  let found = readHas("/tmp/secret", needle) ? 1 : 0;
  for (const name of fs.readdirSync("/tmp")) if (readHas(`/tmp/${name}`, needle)) found++;
  results.push({
    attack: "read B's /tmp/secret (this environment's /tmp is its own)",
    blocked: found === 0,
    detail: `/tmp/secret: ${errName(() => fs.accessSync("/tmp/secret"))}; secret found ${found} times`,
  });

  const pids = visiblePids();
  let inProc = 0;
  for (const pid of pids) {
    if (readHas(`/proc/${pid}/environ`, needle) || readHas(`/proc/${pid}/cmdline`, needle)) inProc++;
    if (pid !== process.pid && memoryHas(pid, needle)) inProc++;
  }
  const seen = hostPids.filter((p) => pids.includes(p));
  results.push({
    attack: "list B's processes (only this environment's are visible)",
    blocked: seen.length === 0,
    detail: `${pids.length} visible: ${pids.join(" ")}; host pids seen: ${seen.length}`,
  });
  results.push({
    attack: "find B's secret in any visible /proc/<pid>/environ, cmdline or mem",
    blocked: inProc === 0,
    detail: `secret found ${inProc} times`,
  });

  const proc = [];
  const signals = [];
  for (const pid of hostPids) {
    for (const f of ["environ", "mem", "root/tmp/secret"]) {
      proc.push(`/proc/${pid}/${f}: ${errName(() => fs.closeSync(fs.openSync(`/proc/${pid}/${f}`, "r")))}`);
    }
    signals.push(`kill(${pid}, SIGKILL): ${errName(() => process.kill(pid, "SIGKILL"))}`);
  }
  results.push({
    attack: "read B's and the daemon's /proc/<host pid>/{environ,mem,root/tmp}",
    blocked: proc.every((p) => !p.endsWith(": ok")),
    detail: proc.join(", "),
  });
  results.push({
    attack: "signal B's processes and the daemon by host pid",
    blocked: signals.every((s) => s.endsWith("ESRCH") || s.endsWith("EPERM")),
    detail: signals.join(", "),
  });
}

function attackHost(results, statePath) {
  const reads = [statePath, `${statePath}/credentials`, "/etc/shadow", "/root", "/home"].map(
    (p) => `${p}: ${errName(() => fs.closeSync(fs.openSync(p, "r")))}`,
  );
  results.push({
    attack: "read the state dir, credentials, /etc/shadow, /root, /home",
    blocked: reads.every((r) => r.endsWith("ENOENT") || r.endsWith("EACCES")),
    detail: reads.join(", "),
  });
  const writes = ["/var/task/pwned", "/usr/pwned", "/etc/pwned", "/pwned"].map(
    (p) => `${p}: ${errName(() => fs.writeFileSync(p, "x"))}`,
  );
  writes.push(`chmod /var/task/index.mjs: ${errName(() => fs.chmodSync("/var/task/index.mjs", 0o777))}`);
  results.push({
    attack: "write to /var/task, /usr, /etc, /",
    blocked: writes.every((w) => /: (EROFS|EACCES|EPERM)$/.test(w)),
    detail: writes.join(", "),
  });
}

function connectResult(host, port) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (r) => {
      s.destroy();
      resolve(r);
    };
    s.setTimeout(2000, () => done("ETIMEDOUT"));
    s.on("connect", () => done("ok"));
    s.on("error", (e) => done(e.code));
  });
}

function udpResult(host, port) {
  return new Promise((resolve) => {
    const s = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
    s.on("error", (e) => {
      s.close();
      resolve(e.code);
    });
    s.send("x", port, host, (e) => {
      s.close();
      resolve(e ? e.code : "ok");
    });
  });
}

async function attackNetwork(results, daemonPort, hostAddrs) {
  const daemon = await connectResult("127.0.0.1", daemonPort);
  results.push({
    attack: "connect to the daemon's public port on 127.0.0.1",
    blocked: daemon === "ECONNREFUSED",
    detail: `127.0.0.1:${daemonPort}: ${daemon}`,
  });
  const tries = [];
  for (const a of hostAddrs) tries.push(`tcp ${a}:${daemonPort}: ${await connectResult(a, daemonPort)}`);
  tries.push(`tcp 192.0.2.1:80: ${await connectResult("192.0.2.1", 80)}`);
  tries.push(`udp 198.51.100.1:53: ${await udpResult("198.51.100.1", 53)}`);
  tries.push(`tcp [2001:db8::1]:80: ${await connectResult("2001:db8::1", 80)}`);
  const ifaces = Object.keys(os.networkInterfaces());
  results.push({
    attack: "reach any address outside the namespace (host addresses, TCP, UDP, IPv6)",
    blocked: tries.every((t) => /(ENETUNREACH|EADDRNOTAVAIL)$/.test(t)) && ifaces.every((i) => i === "lo"),
    detail: `${tries.join(", ")}; interfaces: ${ifaces.join(",")}`,
  });
}

// Escape attempts through the host's own tools: each must fail.
function attackTools(results) {
  const tools = [
    ["unshare a user namespace", "/usr/bin/unshare", ["--user", "--map-root-user", "true"]],
    ["unshare a network namespace", "/usr/bin/unshare", ["--net", "true"]],
    ["enter init's namespaces (nsenter)", "/usr/bin/nsenter", ["-t", "1", "-m", "-U", "true"]],
    ["mount a tmpfs", "/usr/bin/mount", ["-t", "tmpfs", "none", "/tmp"]],
    ["chroot", "/usr/sbin/chroot", ["/tmp", "/bin/true"]],
    ["take a lo down (ip link)", "/usr/sbin/ip", ["link", "set", "lo", "down"]],
    ["load a kernel module (modprobe)", "/usr/sbin/modprobe", ["dummy"]],
  ];
  for (const [attack, bin, args] of tools) {
    if (!fs.existsSync(bin)) {
      results.push({ attack, blocked: true, detail: `${bin} not visible in the sandbox` });
      continue;
    }
    const r = spawnSync(bin, args, { encoding: "utf8", timeout: 5000 });
    const out = `${r.stderr ?? ""}`.trim().split("\n")[0];
    results.push({
      attack,
      blocked: r.status !== 0,
      detail: `${bin} ${args.join(" ")}: exit ${r.status ?? r.signal}${out ? ` (${out})` : ""}`,
    });
  }
}

function attackPrivileges(results) {
  const status = fs.readFileSync("/proc/self/status", "utf8");
  const field = (k) => new RegExp(`^${k}:\\s*(.*)$`, "m").exec(status)?.[1] ?? "";
  const caps = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"].map((k) => [k, field(k)]);
  const uidMap = fs.readFileSync("/proc/self/uid_map", "utf8").trim().split("\n");
  const [inside, , count] = uidMap[0].trim().split(/\s+/).map(Number);
  results.push({
    attack: "hold a capability, root, or a way to gain privileges",
    blocked:
      caps.every(([, v]) => /^0+$/.test(v)) &&
      field("NoNewPrivs") === "1" &&
      field("Seccomp") === "2" &&
      uidMap.length === 1 &&
      inside !== 0 &&
      count === 1 &&
      process.getuid() !== 0,
    detail: `uid ${process.getuid()}, ${caps.map(([k, v]) => `${k} ${v}`).join(", ")}, NoNewPrivs ${field("NoNewPrivs")}, Seccomp ${field("Seccomp")}, uid_map: ${uidMap.join(" | ").replace(/\s+/g, " ")}`,
  });
}

async function attacks(event) {
  const needle = Buffer.from(event.secretHex ?? "", "hex");
  if (needle.length === 0) throw badEvent("attacks need secretHex");
  const results = [];
  attackFiles(results, needle, event.hostPids ?? []);
  attackHost(results, event.statePath);
  await attackNetwork(results, event.daemonPort, event.hostAddrs ?? []);
  attackTools(results);
  attackPrivileges(results);
  return { results };
}

async function spoof(event) {
  const results = [];
  for (const kind of ["response", "error"]) {
    const r = await fetch(
      `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/${event.requestId}/${kind}`,
      { method: "POST", body: '{"pwned":true}' },
    );
    results.push({
      attack: `answer another environment's invocation through 127.0.0.1:9001 (/${kind})`,
      blocked: r.status >= 400 && r.status < 500,
      detail: `HTTP ${r.status} ${await r.text()}`,
    });
  }
  return { results };
}

async function forkBomb() {
  // The classic shell fork bomb; the pids limit must hold it.
  spawn("/bin/sh", ["-c", "b() { b | b & }; b"], { stdio: "ignore", detached: true }).unref();
  for (;;) {
    await sleep(500);
    console.error(`fork-bomb: ${visiblePids().length} visible processes`);
  }
}

function oom() {
  const keep = [];
  for (;;) keep.push(Buffer.alloc(8 << 20, 1));
}

function spin() {
  for (;;);
}

// A detached process named td-linger (a copy of sleep, so the kernel's comm carries the name).
async function linger() {
  fs.copyFileSync("/bin/sleep", "/tmp/td-linger");
  fs.chmodSync("/tmp/td-linger", 0o755);
  const child = spawn("/tmp/td-linger", ["100000"], { detached: true, stdio: "ignore" });
  child.unref();
  return { pid: child.pid };
}

export async function handler(event, context) {
  switch (event?.action) {
    case "hold":
      return hold(event, context);
    case "check":
      return secretStatus(event.secret);
    case "attacks":
      return attacks(event);
    case "spoof":
      return spoof(event);
    case "fork-bomb":
      return forkBomb();
    case "oom":
      return oom();
    case "spin":
      return spin();
    case "linger":
      return linger();
    case "ping":
      return { pong: true };
    default:
      throw badEvent(`unknown action ${JSON.stringify(event?.action)}`);
  }
}
