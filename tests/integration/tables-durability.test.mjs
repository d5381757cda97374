// The table service's durability: every acknowledged write survives kill -9 of the daemon, and
// a transaction is all or nothing across the crash. Writers keep requests in flight while the
// daemon is killed; the next daemon on the same state directory must hold every item whose
// write was acknowledged, and for each transaction either all of its items or none.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DynamoDBClient,
  CreateTableCommand,
  PutItemCommand,
  TransactWriteItemsCommand,
  ScanCommand,
} from "@aws-sdk/client-dynamodb";
import { sleep, startDaemon } from "./lib.mjs";

const clientOf = (d) => new DynamoDBClient({ endpoint: d.endpoint, region: "us-east-1", credentials: d.credentials, maxAttempts: 1 });

async function scanAll(ddb) {
  const items = new Map();
  let start;
  do {
    const r = await ddb.send(new ScanCommand({ TableName: "durable", ExclusiveStartKey: start }));
    for (const it of r.Items) items.set(`${it.pk.S}|${it.sk.S}`, it);
    start = r.LastEvaluatedKey;
  } while (start);
  return items;
}

test("acknowledged writes and whole transactions survive kill -9 of the daemon", async () => {
  const stateDir = mkdtempSync(join(tmpdir(), "tenantd-durable-"));
  let d;
  try {
    d = await startDaemon({ stateDir });
    const ddb = clientOf(d);
    await ddb.send(new CreateTableCommand({
      TableName: "durable",
      AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }, { AttributeName: "sk", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }, { AttributeName: "sk", KeyType: "RANGE" }],
      BillingMode: "PAY_PER_REQUEST",
    }));

    const acked = []; // "pk|sk" of acknowledged single writes
    const txAcked = []; // transaction numbers acknowledged
    let txStarted = 0;
    let stop = false;
    const writer = async (w) => {
      for (let i = 0; !stop; i++) {
        try {
          await ddb.send(new PutItemCommand({ TableName: "durable", Item: { pk: { S: `w${w}` }, sk: { S: String(i) }, v: { S: "x".repeat(200) } } }));
          acked.push(`w${w}|${i}`);
        } catch {
          return; // the daemon is gone
        }
      }
    };
    const transactor = async () => {
      for (let t = 0; !stop; t++) {
        txStarted = t + 1;
        const put = (sk) => ({ Put: { TableName: "durable", Item: { pk: { S: `tx${t}` }, sk: { S: sk } } } });
        try {
          await ddb.send(new TransactWriteItemsCommand({ TransactItems: [put("a"), put("b"), put("c")] }));
          txAcked.push(t);
        } catch {
          return;
        }
      }
    };
    const running = [writer(0), writer(1), writer(2), writer(3), transactor()];
    // Kill while requests are in flight, once a fair number were acknowledged.
    while (acked.length < 300 || txAcked.length < 20) await sleep(5);
    const ackedAtKill = acked.length;
    d.proc.kill("SIGKILL");
    await d.exited;
    stop = true;
    await Promise.all(running);
    assert.ok(ackedAtKill >= 300);

    d = await startDaemon({ stateDir });
    const items = await scanAll(clientOf(d));
    const lost = acked.filter((k) => !items.has(k));
    assert.deepEqual(lost, [], `${lost.length} of ${acked.length} acknowledged writes lost`);
    for (const t of txAcked) for (const sk of ["a", "b", "c"]) assert.ok(items.has(`tx${t}|${sk}`), `transaction ${t} item ${sk} lost`);
    for (let t = 0; t < txStarted; t++) {
      const present = ["a", "b", "c"].filter((sk) => items.has(`tx${t}|${sk}`)).length;
      assert.ok(present === 0 || present === 3, `transaction ${t} is partly there (${present} of 3 items)`);
    }
    // The database is usable after the crash.
    await clientOf(d).send(new PutItemCommand({ TableName: "durable", Item: { pk: { S: "after" }, sk: { S: "1" } } }));
  } finally {
    await d?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
});
