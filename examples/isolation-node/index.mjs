// isolation-node: the Node twin of examples/isolation (same JSON answer).
//   memCount     a module-level counter (lives as long as the process)
//   tmpCount     a counter kept in the file /tmp/counter (read, increment, write)
//   pid          process.pid (inside the environment's PID namespace)
//   instance     a random id drawn when the module loads: unique per process
//   firstTenant  the tenant of the first invocation this process served (null if none)
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";

const COUNTER_FILE = "/tmp/counter";
const instance = randomUUID().replaceAll("-", "");
let memCount = 0;
let seenFirst = false;
let firstTenant = null;

function bumpTmpCounter() {
    let n = 0;
    try {
        n = parseInt(readFileSync(COUNTER_FILE, "utf8"), 10) || 0;
    } catch (e) {
        if (e.code !== "ENOENT") throw e;
    }
    n += 1;
    writeFileSync(COUNTER_FILE, `${n}\n`, { mode: 0o600 });
    return n;
}

export const handler = async (event, context) => {
    const tenant = context.tenantId ?? null;
    if (!seenFirst) {
        seenFirst = true;
        firstTenant = tenant;
    }
    memCount += 1;
    const tmpCount = bumpTmpCounter();
    return { tenant, firstTenant, memCount, tmpCount, pid: process.pid, instance };
};
