// Roles as an operator declares them: the roles file, tenant templates through tenantd's IAM
// extension, the tenancy lint at save time (logged, and refused under --strict-tenancy), and a
// function whose role is gone (as a function created before roles existed), which keeps
// working with credentials that allow nothing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  IAMClient,
  CreateRoleCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  ListRolePoliciesCommand,
  PutRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { DynamoDBClient, CreateTableCommand, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { createFunction, expectError, invoke, payload, readZip, signedFetch, sleep, startDaemon, tenantdBin } from "./lib.mjs";

const ACCOUNT = "000000000000";
const TABLE_ARN = `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/shared`;
const TRUST = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }],
});
const DATA_POLICY = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "dynamodb:*", Resource: TABLE_ARN }] };
const SAFE_TEMPLATE = execFileSync(tenantdBin, ["template", "leading-key", "--table", TABLE_ARN]).toString();

// Unsafe tenant templates, one per lint finding the issue names, with the id expected.
const bound = { "ForAllValues:StringEquals": { "dynamodb:LeadingKeys": ["${aws:PrincipalTag/TenantId}"] }, Null: { "dynamodb:LeadingKeys": "false" } };
const stmt = (s) => JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Resource: TABLE_ARN, ...s }] });
const UNSAFE = [
  { id: "TENANCY001", why: "data actions without a LeadingKeys condition", doc: stmt({ Action: ["dynamodb:GetItem", "dynamodb:PutItem"] }) },
  {
    id: "TENANCY002",
    why: "ForAllValues where the key can be missing (Scan)",
    doc: stmt({ Action: ["dynamodb:GetItem", "dynamodb:Scan"], Condition: { "ForAllValues:StringEquals": bound["ForAllValues:StringEquals"] } }),
  },
  { id: "TENANCY003", why: "a wildcard that covers Scan", doc: stmt({ Action: "dynamodb:*", Condition: bound }) },
  {
    id: "TENANCY004",
    why: "a literal tenant id",
    doc: stmt({ Action: "dynamodb:GetItem", Condition: { "ForAllValues:StringEquals": { "dynamodb:LeadingKeys": ["acme"] }, Null: bound.Null } }),
  },
];

let strict; // --strict-tenancy
let lax; // the default: findings are logged only
const iamOf = (d) => new IAMClient({ endpoint: d.endpoint, region: "us-east-1", credentials: d.credentials, maxAttempts: 1 });
const ddbOf = (d) => new DynamoDBClient({ endpoint: d.endpoint, region: "us-east-1", credentials: d.credentials, maxAttempts: 1 });

before(async () => {
  const roles = [{ RoleName: "orders-app", Description: "the orders service", Policies: { data: DATA_POLICY }, TenantPolicyLayout: { Layout: "leading-key", Table: TABLE_ARN } }];
  [strict, lax] = await Promise.all([startDaemon({ roles, args: ["--strict-tenancy"] }), startDaemon({ roles })]);
});
after(async () => {
  await Promise.all([strict?.stop(), lax?.stop()]);
});

// The daemon's log reaches us through a pipe, a moment after the response that followed it.
async function logMatches(d, re, what) {
  for (let i = 0; i < 100 && !re.test(d.stderr); i++) await sleep(50);
  assert.match(d.stderr, re, what);
}

// tenantd's IAM extension (not in @aws-sdk/client-iam): the query protocol, signed for "iam".
async function iamCall(d, params) {
  const body = new URLSearchParams({ Version: "2010-05-08", ...params }).toString();
  const r = await signedFetch(d, "/", {
    method: "POST",
    service: "iam",
    headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
    body,
  });
  return { status: r.status, text: await r.text() };
}

test("the roles file declares roles, their inline policies and their tenant templates", async () => {
  const iam = iamOf(strict);
  const role = (await iam.send(new GetRoleCommand({ RoleName: "orders-app" }))).Role;
  assert.equal(role.Arn, `arn:aws:iam::${ACCOUNT}:role/orders-app`);
  assert.equal(role.Description, "the orders service");
  assert.deepEqual((await iam.send(new ListRolePoliciesCommand({ RoleName: "orders-app" }))).PolicyNames, ["data"]);
  const data = await iam.send(new GetRolePolicyCommand({ RoleName: "orders-app", PolicyName: "data" }));
  assert.deepEqual(JSON.parse(decodeURIComponent(data.PolicyDocument)), DATA_POLICY);
  const t = await iamCall(strict, { Action: "GetRoleTenantPolicy", RoleName: "orders-app" });
  assert.equal(t.status, 200, t.text);
  // IAM returns policy documents URL-encoded.
  const template = JSON.parse(decodeURIComponent(/<PolicyDocument>([^<]*)</.exec(t.text)[1]));
  assert.deepEqual(template, JSON.parse(SAFE_TEMPLATE));
});

test("--strict-tenancy refuses each unsafe tenant template and accepts the safe one; by default they are logged", async () => {
  for (const d of [strict, lax]) await iamOf(d).send(new CreateRoleCommand({ RoleName: "templated", AssumeRolePolicyDocument: TRUST }));
  for (const u of UNSAFE) {
    const refused = await iamCall(strict, { Action: "PutRoleTenantPolicy", RoleName: "templated", PolicyDocument: u.doc });
    assert.equal(refused.status, 400, `${u.why}: ${refused.text}`);
    assert.match(refused.text, /<Code>MalformedPolicyDocument<\/Code>/, u.why);
    assert.match(refused.text, new RegExp(u.id), `${u.why}: ${refused.text}`);

    const accepted = await iamCall(lax, { Action: "PutRoleTenantPolicy", RoleName: "templated", PolicyDocument: u.doc });
    assert.equal(accepted.status, 200, `${u.why}: ${accepted.text}`);
    await logMatches(lax, new RegExp(`role templated, tenant policy template: tenancy lint:[^]*${u.id}`), u.why);
  }
  // Nothing unsafe was stored by the strict daemon.
  const none = await iamCall(strict, { Action: "GetRoleTenantPolicy", RoleName: "templated" });
  assert.equal(none.status, 404, none.text);
  const safe = await iamCall(strict, { Action: "PutRoleTenantPolicy", RoleName: "templated", PolicyDocument: SAFE_TEMPLATE });
  assert.equal(safe.status, 200, safe.text);
});

test("--strict-tenancy refuses a PER_TENANT function whose role could cross tenants", async () => {
  const iam = iamOf(strict);
  await iam.send(new CreateRoleCommand({ RoleName: "wide", AssumeRolePolicyDocument: TRUST }));
  // An identity policy of a role without a template is linted when it is saved: refused here.
  await expectError(
    iam.send(new PutRolePolicyCommand({ RoleName: "wide", PolicyName: "data", PolicyDocument: JSON.stringify(DATA_POLICY) })),
    "MalformedPolicyDocumentException",
  );
  // The same policy saved by the lax daemon, then a function: logged, not refused.
  const liam = iamOf(lax);
  await liam.send(new CreateRoleCommand({ RoleName: "wide", AssumeRolePolicyDocument: TRUST }));
  await liam.send(new PutRolePolicyCommand({ RoleName: "wide", PolicyName: "data", PolicyDocument: JSON.stringify(DATA_POLICY) }));
  await createFunction(lax.lambda, {
    FunctionName: "wide-fn",
    Role: `arn:aws:iam::${ACCOUNT}:role/wide`,
    Code: { ZipFile: readZip("tests/functions/behave.zip") },
    TenancyConfig: { TenantIsolationMode: "PER_TENANT" },
  });
  await logMatches(lax, /function 'wide-fn', role wide: tenancy lint:[^]*TENANCY00[13]/, "the function's lint");
  // Under --strict-tenancy a role can still come to have findings: its identity policy is not
  // linted while a template scopes it, and the template may be deleted later. A PER_TENANT
  // function on such a role is refused.
  await iam.send(new CreateRoleCommand({ RoleName: "was-scoped", AssumeRolePolicyDocument: TRUST }));
  const put = await iamCall(strict, { Action: "PutRoleTenantPolicy", RoleName: "was-scoped", PolicyDocument: SAFE_TEMPLATE });
  assert.equal(put.status, 200, put.text);
  await iam.send(new PutRolePolicyCommand({ RoleName: "was-scoped", PolicyName: "data", PolicyDocument: JSON.stringify(DATA_POLICY) }));
  const fn = (name) => createFunction(strict.lambda, {
    FunctionName: name,
    Role: `arn:aws:iam::${ACCOUNT}:role/was-scoped`,
    Code: { ZipFile: readZip("tests/functions/behave.zip") },
    TenancyConfig: { TenantIsolationMode: "PER_TENANT" },
  });
  await fn("scoped-fn");
  const del = await iamCall(strict, { Action: "DeleteRoleTenantPolicy", RoleName: "was-scoped" });
  assert.equal(del.status, 200, del.text);
  const e = await expectError(fn("unscoped-fn"), "InvalidParameterValueException");
  assert.match(e.message, /--strict-tenancy/);
  assert.match(e.message, /TENANCY00[13]/);
});

test("a function whose role is gone keeps working, with credentials that allow nothing", async () => {
  const d = lax;
  await ddbOf(d).send(new CreateTableCommand({
    TableName: "shared",
    AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }, { AttributeName: "sk", AttributeType: "S" }],
    KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }, { AttributeName: "sk", KeyType: "RANGE" }],
    BillingMode: "PAY_PER_REQUEST",
  }));
  await ddbOf(d).send(new PutItemCommand({ TableName: "shared", Item: { pk: { S: "a" }, sk: { S: "1" }, v: { S: "kept" } } }));
  const iam = iamOf(d);
  await iam.send(new CreateRoleCommand({ RoleName: "ephemeral", AssumeRolePolicyDocument: TRUST }));
  await iam.send(new PutRolePolicyCommand({ RoleName: "ephemeral", PolicyName: "data", PolicyDocument: JSON.stringify(DATA_POLICY) }));
  await createFunction(d.lambda, {
    FunctionName: "orphan",
    Runtime: "nodejs20.x",
    Handler: "index.handler",
    Role: `arn:aws:iam::${ACCOUNT}:role/ephemeral`,
    Code: { ZipFile: readZip("tests/functions/tables-node.zip") },
    TenancyConfig: { TenantIsolationMode: "PER_TENANT" },
    Timeout: 30,
  });
  const call = async (tenant, event) => {
    const r = await invoke(d.lambda, { FunctionName: "orphan", TenantId: tenant, Payload: payload(event) });
    assert.equal(r.FunctionError, undefined, r.text);
    return r.json;
  };
  // While the role exists, the function reads its tenant's item.
  assert.equal((await call("a", { op: "get", pk: "a", sk: "1" })).ok?.Item?.v?.S, "kept");
  await iam.send(new DeleteRolePolicyCommand({ RoleName: "ephemeral", PolicyName: "data" }));
  await iam.send(new DeleteRoleCommand({ RoleName: "ephemeral" }));
  // The function still runs, for a new tenant too; its credentials allow nothing.
  for (const tenant of ["a", "b"]) {
    const r = await call(tenant, { op: "get", pk: tenant, sk: "1" });
    assert.equal(r.error, "AccessDeniedException", JSON.stringify(r));
    const w = await call(tenant, { op: "put", pk: tenant, sk: "2" });
    assert.equal(w.error, "AccessDeniedException", JSON.stringify(w));
  }
  const item = await ddbOf(d).send(new GetItemCommand({ TableName: "shared", Key: { pk: { S: "b" }, sk: { S: "2" } } }));
  assert.equal(item.Item, undefined);
});
