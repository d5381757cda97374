// Per-environment credentials: an environment's code gets credentials of its function's role,
// tagged with its tenant and bound to the environment, through the SDK's default chain; they
// are refused anywhere else (another tenant's environment, the public endpoint).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { createFunction, expectError, invoke, payload, readZip, signedFetch, sleep, startDaemon } from "./lib.mjs";

const ACCOUNT = "000000000000";
let d;
before(async () => {
  d = await startDaemon({ roles: [{ RoleName: "orders" }] });
  await createFunction(d.lambda, {
    FunctionName: "creds",
    Runtime: "nodejs20.x",
    Handler: "index.handler",
    Role: `arn:aws:iam::${ACCOUNT}:role/orders`,
    Code: { ZipFile: readZip("tests/functions/creds-node.zip") },
    TenancyConfig: { TenantIsolationMode: "PER_TENANT" },
    Timeout: 30,
  });
});
after(async () => {
  await d?.stop();
});

const call = async (tenant, event) => {
  const r = await invoke(d.lambda, { FunctionName: "creds", TenantId: tenant, Payload: payload(event) });
  assert.equal(r.FunctionError, undefined, r.text);
  return r.json;
};

test("the SDK's default chain inside an environment is a session of the role for its own tenant", async () => {
  const env = await call("tenant-a", { action: "env" });
  assert.match(env.uri, /^http:\/\/127\.0\.0\.1:9001\//);
  assert.equal(env.sts, "http://127.0.0.1:9001");
  assert.equal(env.dynamodb, "http://127.0.0.1:9001");
  const a = await call("tenant-a", { action: "whoami" });
  assert.equal(a.Arn, `arn:aws:sts::${ACCOUNT}:assumed-role/orders/tenant-a`, JSON.stringify(a));
  assert.equal(a.Account, ACCOUNT);
  const b = await call("tenant-b", { action: "whoami" });
  assert.equal(b.Arn, `arn:aws:sts::${ACCOUNT}:assumed-role/orders/tenant-b`, JSON.stringify(b));
  const raw = await call("tenant-a", { action: "creds" });
  assert.equal(raw.status, 200);
  assert.match(raw.body.AccessKeyId, /^ASIA/);
  const left = Date.parse(raw.body.Expiration) - Date.now();
  assert.ok(left > 50 * 60 * 1000, `credentials valid for ${left} ms`);
});

// Invoke through raw HTTP to see tenantd's X-Tenantd-Environment header.
async function rawCall(tenant, event) {
  const res = await signedFetch(d, "/2015-03-31/functions/creds/invocations", {
    method: "POST",
    headers: { "content-type": "application/json", "x-amz-tenant-id": tenant },
    body: JSON.stringify(event),
  });
  assert.equal(res.status, 200);
  return { env: res.headers.get("x-tenantd-environment"), body: await res.json() };
}

test("an environment not yet bound to a tenant gets an error, not credentials", async () => {
  // Prewarmed environments initialise before any tenant is known: wait for the pool to refill,
  // then a new tenant takes a prewarmed environment whose init asked for credentials.
  for (let i = 0; i < 200; i++) {
    const stats = await (await signedFetch(d, "/tenantd/stats")).json();
    if (stats.environments.starting === 0) break;
    await sleep(50);
  }
  const r = await rawCall("tenant-c", { action: "init" });
  assert.match(r.env, /^prewarmed/, "a prewarmed environment served tenant-c");
  assert.equal(r.body.status, 403, JSON.stringify(r.body));
  assert.equal(r.body.body.Code, "EnvironmentNotBound");
  assert.equal(r.body.body.AccessKeyId, undefined);
  // Once bound, the same environment gets credentials for its tenant.
  const who = await call("tenant-c", { action: "whoami" });
  assert.equal(who.Arn, `arn:aws:sts::${ACCOUNT}:assumed-role/orders/tenant-c`);
});

test("credentials from tenant A's environment are refused in tenant B's and from outside", async () => {
  const a = await call("tenant-a", { action: "creds" });
  const replayed = await call("tenant-b", { action: "replay", creds: a.body });
  assert.equal(replayed.error, "UnrecognizedClientException", JSON.stringify(replayed));
  assert.equal(replayed.Arn, undefined);
  // ...and from the public endpoint.
  const outside = new STSClient({
    endpoint: d.endpoint,
    region: "us-east-1",
    maxAttempts: 1,
    credentials: { accessKeyId: a.body.AccessKeyId, secretAccessKey: a.body.SecretAccessKey, sessionToken: a.body.Token },
  });
  await expectError(outside.send(new GetCallerIdentityCommand({})));
  // The environment's own use still works.
  const again = await call("tenant-a", { action: "replay", creds: a.body });
  assert.equal(again.Arn, `arn:aws:sts::${ACCOUNT}:assumed-role/orders/tenant-a`);
});
