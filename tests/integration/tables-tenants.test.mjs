// The end-to-end tenant test of the table service: one shared table whose partition key is the
// tenant id, a role whose tenant template (the built-in leading-key layout) allows its tenant's
// leading key only, and a PER_TENANT Node function using the unmodified @aws-sdk/client-dynamodb
// with its environment's credentials. Each tenant reads and writes its own items; everything
// aimed at the other tenant's items is refused with AccessDeniedException, changes nothing, and
// is audited.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DynamoDBClient, CreateTableCommand, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { createFunction, invoke, payload, readZip, startDaemon } from "./lib.mjs";

const ACCOUNT = "000000000000";
const TABLE_ARN = `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/shared`;
let d;
let ddb;

before(async () => {
  d = await startDaemon({
    roles: [{
      RoleName: "orders-app",
      // The identity policy may reach the table; the tenant template scopes every session to
      // its own tenant's leading key.
      Policies: {
        data: { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "dynamodb:*", Resource: TABLE_ARN }] },
      },
      TenantPolicyLayout: { Layout: "leading-key", Table: TABLE_ARN },
    }],
  });
  ddb = new DynamoDBClient({ endpoint: d.endpoint, region: "us-east-1", credentials: d.credentials, maxAttempts: 1 });
  await ddb.send(new CreateTableCommand({
    TableName: "shared",
    AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }, { AttributeName: "sk", AttributeType: "S" }],
    KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }, { AttributeName: "sk", KeyType: "RANGE" }],
    BillingMode: "PAY_PER_REQUEST",
  }));
  await createFunction(d.lambda, {
    FunctionName: "orders",
    Runtime: "nodejs20.x",
    Handler: "index.handler",
    Role: `arn:aws:iam::${ACCOUNT}:role/orders-app`,
    Code: { ZipFile: readZip("tests/functions/tables-node.zip") },
    TenancyConfig: { TenantIsolationMode: "PER_TENANT" },
    Timeout: 30,
  });
});
after(async () => {
  await d?.stop();
});

const call = async (tenant, event) => {
  const r = await invoke(d.lambda, { FunctionName: "orders", TenantId: tenant, Payload: payload(event) });
  assert.equal(r.FunctionError, undefined, r.text);
  return r.json;
};

async function stored(pk, sk) {
  const r = await ddb.send(new GetItemCommand({ TableName: "shared", Key: { pk: { S: pk }, sk: { S: sk } } }));
  return r.Item;
}

test("each tenant writes and reads its own items", async () => {
  for (const t of ["tenant-a", "tenant-b"]) {
    assert.deepEqual(await call(t, { op: "put", pk: t, sk: "1" }), { ok: {} });
    const got = await call(t, { op: "get", pk: t, sk: "1" });
    assert.equal(got.ok.Item.v.S, `written by ${t}`, JSON.stringify(got));
    const q = await call(t, { op: "query", pk: t });
    assert.equal(q.ok.Count, 1);
    const u = await call(t, { op: "update", pk: t, sk: "1" });
    assert.ok(u.ok, JSON.stringify(u));
    const b = await call(t, { op: "batchGet", keys: [[t, "1"]] });
    assert.equal(b.ok.Responses.shared.length, 1);
  }
});

test("tenant A cannot reach tenant B's items, and nothing changes", async () => {
  await ddb.send(new PutItemCommand({ TableName: "shared", Item: { pk: { S: "tenant-b" }, sk: { S: "secret" }, v: { S: "B's data" } } }));
  const attempts = [
    { op: "get", pk: "tenant-b", sk: "secret" },
    { op: "query", pk: "tenant-b" },
    { op: "update", pk: "tenant-b", sk: "secret" },
    { op: "delete", pk: "tenant-b", sk: "secret" },
    { op: "put", pk: "tenant-b", sk: "planted" },
    { op: "batchGet", keys: [["tenant-a", "1"], ["tenant-b", "secret"]] },
    { op: "scan" },
  ];
  for (const a of attempts) {
    const r = await call("tenant-a", a);
    assert.equal(r.error, "AccessDeniedException", `${JSON.stringify(a)} -> ${JSON.stringify(r)}`);
    assert.match(r.message, /^User: arn:aws:sts::000000000000:assumed-role\/orders-app\/tenant-a is not authorized to perform: dynamodb:/);
  }
  const item = await stored("tenant-b", "secret");
  assert.equal(item.v.S, "B's data", "B's item is unchanged");
  assert.equal(await stored("tenant-b", "planted"), undefined, "nothing was planted");

  const audit = readFileSync(join(d.stateDir, "audit.log"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const denied = audit.filter((e) => e.tenant === "tenant-a" && e.action.startsWith("dynamodb:"));
  for (const action of ["GetItem", "Query", "UpdateItem", "DeleteItem", "PutItem", "BatchGetItem", "Scan"]) {
    const e = denied.find((x) => x.action === `dynamodb:${action}`);
    assert.ok(e, `dynamodb:${action} refusal audited`);
    assert.equal(e.resource, TABLE_ARN);
    assert.equal(e.principal, "arn:aws:sts::000000000000:assumed-role/orders-app/tenant-a");
    assert.match(e.environment, /^e\d+\./);
  }
});
