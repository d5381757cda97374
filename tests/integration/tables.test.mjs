// The table service with the real @aws-sdk/client-dynamodb and @aws-sdk/lib-dynamodb: every
// operation, its errors, expressions, paging, batches and transactions.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  DynamoDBClient,
  CreateTableCommand,
  DescribeTableCommand,
  ListTablesCommand,
  DeleteTableCommand,
  PutItemCommand,
  GetItemCommand,
  UpdateItemCommand,
  DeleteItemCommand,
  QueryCommand,
  ScanCommand,
  BatchGetItemCommand,
  BatchWriteItemCommand,
  TransactWriteItemsCommand,
  TransactGetItemsCommand,
} from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand, GetCommand, QueryCommand as DocQuery, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { expectError, startDaemon } from "./lib.mjs";

let d;
let ddb;
let doc;
before(async () => {
  d = await startDaemon();
  ddb = new DynamoDBClient({ endpoint: d.endpoint, region: "us-east-1", credentials: d.credentials, maxAttempts: 1 });
  doc = DynamoDBDocumentClient.from(ddb);
  await ddb.send(new CreateTableCommand({
    TableName: "orders",
    AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }, { AttributeName: "sk", AttributeType: "S" }],
    KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }, { AttributeName: "sk", KeyType: "RANGE" }],
    BillingMode: "PAY_PER_REQUEST",
  }));
  await ddb.send(new CreateTableCommand({
    TableName: "counters",
    AttributeDefinitions: [{ AttributeName: "id", AttributeType: "N" }],
    KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
    BillingMode: "PAY_PER_REQUEST",
  }));
});
after(async () => {
  await d?.stop();
});

test("tables: create, describe, list, delete, and their errors", async () => {
  const desc = await ddb.send(new DescribeTableCommand({ TableName: "orders" }));
  assert.equal(desc.Table.TableName, "orders");
  assert.equal(desc.Table.TableStatus, "ACTIVE");
  assert.equal(desc.Table.TableArn, "arn:aws:dynamodb:us-east-1:000000000000:table/orders");
  assert.deepEqual(desc.Table.KeySchema, [{ AttributeName: "pk", KeyType: "HASH" }, { AttributeName: "sk", KeyType: "RANGE" }]);
  assert.equal(desc.Table.BillingModeSummary.BillingMode, "PAY_PER_REQUEST");
  assert.ok(desc.Table.CreationDateTime instanceof Date);
  await expectError(ddb.send(new CreateTableCommand({
    TableName: "orders",
    AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
    KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
    BillingMode: "PAY_PER_REQUEST",
  })), "ResourceInUseException");
  await expectError(ddb.send(new DescribeTableCommand({ TableName: "nope" })), "ResourceNotFoundException");
  await ddb.send(new CreateTableCommand({
    TableName: "temp",
    AttributeDefinitions: [{ AttributeName: "k", AttributeType: "B" }],
    KeySchema: [{ AttributeName: "k", KeyType: "HASH" }],
    BillingMode: "PAY_PER_REQUEST",
  }));
  const all = await ddb.send(new ListTablesCommand({}));
  assert.deepEqual(all.TableNames, ["counters", "orders", "temp"]);
  const page = await ddb.send(new ListTablesCommand({ Limit: 2 }));
  assert.deepEqual(page.TableNames, ["counters", "orders"]);
  assert.equal(page.LastEvaluatedTableName, "orders");
  const rest = await ddb.send(new ListTablesCommand({ ExclusiveStartTableName: "orders" }));
  assert.deepEqual(rest.TableNames, ["temp"]);
  await ddb.send(new DeleteTableCommand({ TableName: "temp" }));
  await expectError(ddb.send(new DeleteTableCommand({ TableName: "temp" })), "ResourceNotFoundException");
});

test("items: put, get, update, delete; conditions, projections, return values", async () => {
  await ddb.send(new PutItemCommand({
    TableName: "orders",
    Item: { pk: { S: "t1" }, sk: { S: "o#1" }, total: { N: "10.50" }, tags: { SS: ["a", "b"] }, lines: { L: [{ M: { sku: { S: "x" } } }] }, paid: { BOOL: false }, note: { NULL: true } },
  }));
  const got = await ddb.send(new GetItemCommand({ TableName: "orders", Key: { pk: { S: "t1" }, sk: { S: "o#1" } } }));
  assert.equal(got.Item.total.N, "10.5");
  assert.deepEqual(got.Item.tags.SS.sort(), ["a", "b"]);
  assert.equal(got.Item.lines.L[0].M.sku.S, "x");
  const missing = await ddb.send(new GetItemCommand({ TableName: "orders", Key: { pk: { S: "t1" }, sk: { S: "none" } } }));
  assert.equal(missing.Item, undefined);
  const projected = await ddb.send(new GetItemCommand({
    TableName: "orders",
    Key: { pk: { S: "t1" }, sk: { S: "o#1" } },
    ProjectionExpression: "#t, #l[0].sku", // "lines" is one of DynamoDB's reserved words
    ExpressionAttributeNames: { "#t": "total", "#l": "lines" },
  }));
  assert.deepEqual(Object.keys(projected.Item).sort(), ["lines", "total"]);

  await expectError(ddb.send(new PutItemCommand({
    TableName: "orders",
    Item: { pk: { S: "t1" }, sk: { S: "o#1" } },
    ConditionExpression: "attribute_not_exists(pk)",
  })), "ConditionalCheckFailedException");

  const updated = await ddb.send(new UpdateItemCommand({
    TableName: "orders",
    Key: { pk: { S: "t1" }, sk: { S: "o#1" } },
    UpdateExpression: "SET #tot = #tot + :d, paid = :t, history = list_append(if_not_exists(history, :e), :h) REMOVE note ADD tags :more",
    ConditionExpression: "#tot < :max AND paid = :f",
    ExpressionAttributeNames: { "#tot": "total" }, // "total" is a reserved word
    ExpressionAttributeValues: { ":d": { N: "1.25" }, ":t": { BOOL: true }, ":e": { L: [] }, ":h": { L: [{ S: "paid" }] }, ":more": { SS: ["c"] }, ":max": { N: "100" }, ":f": { BOOL: false } },
    ReturnValues: "ALL_NEW",
  }));
  assert.equal(updated.Attributes.total.N, "11.75");
  assert.equal(updated.Attributes.paid.BOOL, true);
  assert.equal(updated.Attributes.note, undefined);
  assert.deepEqual(updated.Attributes.history.L, [{ S: "paid" }]);
  assert.deepEqual(updated.Attributes.tags.SS.sort(), ["a", "b", "c"]);

  const old = await ddb.send(new UpdateItemCommand({
    TableName: "orders",
    Key: { pk: { S: "t1" }, sk: { S: "o#1" } },
    UpdateExpression: "SET #tot = :z",
    ExpressionAttributeNames: { "#tot": "total" },
    ExpressionAttributeValues: { ":z": { N: "0" } },
    ReturnValues: "UPDATED_OLD",
  }));
  assert.deepEqual(old.Attributes, { total: { N: "11.75" } });

  await expectError(ddb.send(new UpdateItemCommand({
    TableName: "orders",
    Key: { pk: { S: "t1" }, sk: { S: "o#1" } },
    UpdateExpression: "SET pk = :x",
    ExpressionAttributeValues: { ":x": { S: "other" } },
  })), "ValidationException");

  const removed = await ddb.send(new DeleteItemCommand({ TableName: "orders", Key: { pk: { S: "t1" }, sk: { S: "o#1" } }, ReturnValues: "ALL_OLD" }));
  assert.equal(removed.Attributes.total.N, "0");
  await expectError(ddb.send(new DeleteItemCommand({
    TableName: "orders",
    Key: { pk: { S: "t1" }, sk: { S: "o#1" } },
    ConditionExpression: "attribute_exists(pk)",
  })), "ConditionalCheckFailedException");
});

test("validation: keys, expressions, placeholders, sizes", async () => {
  const cases = [
    [new GetItemCommand({ TableName: "orders", Key: { pk: { S: "t1" } } }), /does not match the schema/],
    [new GetItemCommand({ TableName: "orders", Key: { pk: { N: "1" }, sk: { S: "x" } } }), /does not match the schema/],
    [new PutItemCommand({ TableName: "orders", Item: { pk: { S: "" }, sk: { S: "x" } } }), /empty string/],
    [new PutItemCommand({ TableName: "orders", Item: { sk: { S: "x" } } }), /Missing the key pk/],
    [new PutItemCommand({ TableName: "orders", Item: { pk: { S: "a" }, sk: { S: "b" }, n: { N: "abc" } } }), /numeric/],
    [new PutItemCommand({ TableName: "orders", Item: { pk: { S: "a" }, sk: { S: "b" }, big: { S: "x".repeat(410 * 1024) } } }), /Item size has exceeded/],
    [new PutItemCommand({ TableName: "orders", Item: { pk: { S: "a" }, sk: { S: "b" } }, ConditionExpression: "attribute_exists(" }), /Invalid ConditionExpression/],
    [new PutItemCommand({ TableName: "orders", Item: { pk: { S: "a" }, sk: { S: "b" } }, ConditionExpression: "x = :v" }), /:v/],
    [new PutItemCommand({ TableName: "orders", Item: { pk: { S: "a" }, sk: { S: "b" } }, ExpressionAttributeValues: { ":unused": { S: "x" } }, ConditionExpression: "attribute_not_exists(pk)" }), /unused/],
    [new QueryCommand({ TableName: "orders", KeyConditionExpression: "sk = :s", ExpressionAttributeValues: { ":s": { S: "x" } } }), /./],
  ];
  for (const [cmd, message] of cases) {
    const e = await expectError(ddb.send(cmd), "ValidationException");
    assert.match(e.message, message);
  }
  await expectError(ddb.send(new GetItemCommand({ TableName: "nope", Key: { pk: { S: "a" } } })), "ResourceNotFoundException");
});

test("query and scan: key conditions, order, filters, paging, counts", async () => {
  for (let i = 0; i < 30; i++) {
    await ddb.send(new PutItemCommand({
      TableName: "orders",
      Item: { pk: { S: i % 2 ? "q-odd" : "q-even" }, sk: { S: `o#${String(i).padStart(3, "0")}` }, n: { N: String(i) }, blob: { S: "x".repeat(100) } },
    }));
  }
  const even = await ddb.send(new QueryCommand({ TableName: "orders", KeyConditionExpression: "pk = :p", ExpressionAttributeValues: { ":p": { S: "q-even" } } }));
  assert.equal(even.Count, 15);
  assert.deepEqual(even.Items.map((it) => it.sk.S), [...Array(15).keys()].map((k) => `o#${String(k * 2).padStart(3, "0")}`));
  const back = await ddb.send(new QueryCommand({ TableName: "orders", KeyConditionExpression: "pk = :p AND sk BETWEEN :a AND :b", ExpressionAttributeValues: { ":p": { S: "q-even" }, ":a": { S: "o#004" }, ":b": { S: "o#010" } }, ScanIndexForward: false }));
  assert.deepEqual(back.Items.map((it) => it.sk.S), ["o#010", "o#008", "o#006", "o#004"]);
  const prefix = await ddb.send(new QueryCommand({ TableName: "orders", KeyConditionExpression: "pk = :p AND begins_with(sk, :x)", ExpressionAttributeValues: { ":p": { S: "q-odd" }, ":x": { S: "o#01" } } }));
  assert.deepEqual(prefix.Items.map((it) => it.sk.S), ["o#011", "o#013", "o#015", "o#017", "o#019"]);
  const filtered = await ddb.send(new QueryCommand({ TableName: "orders", KeyConditionExpression: "pk = :p", FilterExpression: "n > :m", ExpressionAttributeValues: { ":p": { S: "q-even" }, ":m": { N: "20" } } }));
  assert.equal(filtered.Count, 4);
  assert.equal(filtered.ScannedCount, 15);
  const counted = await ddb.send(new QueryCommand({ TableName: "orders", KeyConditionExpression: "pk = :p", ExpressionAttributeValues: { ":p": { S: "q-even" } }, Select: "COUNT" }));
  assert.equal(counted.Count, 15);
  assert.equal(counted.Items, undefined);
  // pages of Limit items
  const seen = [];
  let start;
  for (let pages = 0; pages < 10; pages++) {
    const page = await ddb.send(new QueryCommand({ TableName: "orders", KeyConditionExpression: "pk = :p", ExpressionAttributeValues: { ":p": { S: "q-odd" } }, Limit: 4, ExclusiveStartKey: start }));
    seen.push(...page.Items.map((it) => it.sk.S));
    start = page.LastEvaluatedKey;
    if (!start) break;
  }
  assert.equal(seen.length, 15);
  assert.equal(new Set(seen).size, 15);
  // scan pages and segments
  const scanned = [];
  start = undefined;
  do {
    const page = await ddb.send(new ScanCommand({ TableName: "orders", Limit: 7, ExclusiveStartKey: start, FilterExpression: "begins_with(pk, :q)", ExpressionAttributeValues: { ":q": { S: "q-" } } }));
    scanned.push(...page.Items);
    start = page.LastEvaluatedKey;
  } while (start);
  assert.equal(scanned.length, 30);
  let segmented = 0;
  for (let s = 0; s < 3; s++) segmented += (await ddb.send(new ScanCommand({ TableName: "orders", Segment: s, TotalSegments: 3, FilterExpression: "begins_with(pk, :q)", ExpressionAttributeValues: { ":q": { S: "q-" } } }))).Count;
  assert.equal(segmented, 30);
});

test("the 1 MB page rule", async () => {
  const big = "y".repeat(300 * 1024);
  for (let i = 0; i < 5; i++) await ddb.send(new PutItemCommand({ TableName: "orders", Item: { pk: { S: "big" }, sk: { S: `b${i}` }, v: { S: big } } }));
  const page = await ddb.send(new QueryCommand({ TableName: "orders", KeyConditionExpression: "pk = :p", ExpressionAttributeValues: { ":p": { S: "big" } } }));
  assert.ok(page.Count < 5 && page.Count >= 3, `count ${page.Count}`);
  assert.ok(page.LastEvaluatedKey);
});

test("numbers: 38 digits, numeric order and arithmetic", async () => {
  const values = ["-1e10", "-5", "-0.5", "0", "1e-130", "0.5", "2", "10", "99999999999999999999999999999999999999"];
  for (const v of values) await ddb.send(new PutItemCommand({ TableName: "counters", Item: { id: { N: v } } }));
  for (const v of ["1e126", "123456789012345678901234567890123456789"]) {
    await expectError(ddb.send(new PutItemCommand({ TableName: "counters", Item: { id: { N: "1" }, v: { N: v } } })), "ValidationException");
  }
  const r = await ddb.send(new UpdateItemCommand({
    TableName: "counters",
    Key: { id: { N: "2" } },
    UpdateExpression: "ADD hits :one SET score = :a - :b",
    ExpressionAttributeValues: { ":one": { N: "1" }, ":a": { N: "0.3" }, ":b": { N: "0.1" } },
    ReturnValues: "ALL_NEW",
  }));
  assert.equal(r.Attributes.hits.N, "1");
  assert.equal(r.Attributes.score.N, "0.2");
});

test("batches: BatchWriteItem and BatchGetItem", async () => {
  await ddb.send(new BatchWriteItemCommand({
    RequestItems: {
      orders: [
        { PutRequest: { Item: { pk: { S: "b1" }, sk: { S: "1" }, v: { S: "one" } } } },
        { PutRequest: { Item: { pk: { S: "b1" }, sk: { S: "2" }, v: { S: "two" } } } },
        { DeleteRequest: { Key: { pk: { S: "q-odd" }, sk: { S: "o#001" } } } },
      ],
      counters: [{ PutRequest: { Item: { id: { N: "777" } } } }],
    },
  }));
  const got = await ddb.send(new BatchGetItemCommand({
    RequestItems: {
      orders: { Keys: [{ pk: { S: "b1" }, sk: { S: "1" } }, { pk: { S: "b1" }, sk: { S: "2" } }, { pk: { S: "q-odd" }, sk: { S: "o#001" } }] },
      counters: { Keys: [{ id: { N: "777" } }] },
    },
  }));
  assert.deepEqual(got.Responses.orders.map((it) => it.v.S).sort(), ["one", "two"]);
  assert.equal(got.Responses.counters.length, 1);
  assert.deepEqual(got.UnprocessedKeys, {});
  await expectError(ddb.send(new BatchGetItemCommand({ RequestItems: { orders: { Keys: [{ pk: { S: "b1" }, sk: { S: "1" } }, { pk: { S: "b1" }, sk: { S: "1" } }] } } })), "ValidationException");
});

test("transactions: all or nothing, cancellation reasons in request order", async () => {
  await ddb.send(new TransactWriteItemsCommand({
    TransactItems: [
      { Put: { TableName: "orders", Item: { pk: { S: "tx" }, sk: { S: "a" }, v: { N: "1" } } } },
      { Put: { TableName: "orders", Item: { pk: { S: "tx" }, sk: { S: "b" }, v: { N: "2" } } } },
    ],
  }));
  const e = await expectError(ddb.send(new TransactWriteItemsCommand({
    TransactItems: [
      { Update: { TableName: "orders", Key: { pk: { S: "tx" }, sk: { S: "a" } }, UpdateExpression: "SET v = :n", ExpressionAttributeValues: { ":n": { N: "100" } } } },
      { ConditionCheck: { TableName: "orders", Key: { pk: { S: "tx" }, sk: { S: "b" } }, ConditionExpression: "v = :x", ExpressionAttributeValues: { ":x": { N: "999" } } } },
      { Delete: { TableName: "orders", Key: { pk: { S: "tx" }, sk: { S: "c" } } } },
    ],
  })), "TransactionCanceledException");
  assert.deepEqual(e.CancellationReasons.map((r) => r.Code), ["None", "ConditionalCheckFailed", "None"]);
  const a = await ddb.send(new GetItemCommand({ TableName: "orders", Key: { pk: { S: "tx" }, sk: { S: "a" } } }));
  assert.equal(a.Item.v.N, "1", "nothing was written");
  await expectError(ddb.send(new TransactWriteItemsCommand({
    TransactItems: [
      { Put: { TableName: "orders", Item: { pk: { S: "tx" }, sk: { S: "a" } } } },
      { Delete: { TableName: "orders", Key: { pk: { S: "tx" }, sk: { S: "a" } } } },
    ],
  })), "ValidationException");
  const both = await ddb.send(new TransactGetItemsCommand({
    TransactItems: [
      { Get: { TableName: "orders", Key: { pk: { S: "tx" }, sk: { S: "a" } } } },
      { Get: { TableName: "orders", Key: { pk: { S: "tx" }, sk: { S: "zz" } } } },
    ],
  }));
  assert.equal(both.Responses[0].Item.v.N, "1");
  assert.equal(both.Responses[1].Item, undefined);
});

test("the document client (lib-dynamodb)", async () => {
  await doc.send(new PutCommand({ TableName: "orders", Item: { pk: "doc", sk: "1", nested: { list: [1, "two", { three: 3 }] }, set: new Set(["x", "y"]) } }));
  const got = await doc.send(new GetCommand({ TableName: "orders", Key: { pk: "doc", sk: "1" } }));
  assert.deepEqual(got.Item.nested, { list: [1, "two", { three: 3 }] });
  assert.deepEqual([...got.Item.set].sort(), ["x", "y"]);
  await doc.send(new UpdateCommand({ TableName: "orders", Key: { pk: "doc", sk: "1" }, UpdateExpression: "SET nested.#l[1] = :v", ExpressionAttributeNames: { "#l": "list" }, ExpressionAttributeValues: { ":v": "TWO" } }));
  const q = await doc.send(new DocQuery({ TableName: "orders", KeyConditionExpression: "pk = :p", ExpressionAttributeValues: { ":p": "doc" } }));
  assert.equal(q.Items[0].nested.list[1], "TWO");
});
