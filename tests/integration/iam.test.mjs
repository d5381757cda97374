// IAM roles and STS with the real AWS SDK clients: the role API's shapes and errors, a
// function's Role must exist, AssumeRole with tags and inline policies, GetCallerIdentity,
// session credentials authorized by the role's policies, refusals audited.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  IAMClient,
  CreateRoleCommand,
  GetRoleCommand,
  DeleteRoleCommand,
  ListRolesCommand,
  PutRolePolicyCommand,
  GetRolePolicyCommand,
  DeleteRolePolicyCommand,
  ListRolePoliciesCommand,
  CreatePolicyCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  DeletePolicyCommand,
  ListPoliciesCommand,
} from "@aws-sdk/client-iam";
import { STSClient, AssumeRoleCommand, GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { LambdaClient, ListFunctionsCommand, GetFunctionCommand } from "@aws-sdk/client-lambda";
import { execFileSync } from "node:child_process";
import { createFunction, expectError, invoke, payload, readZip, signedFetch, startDaemon, tenantdBin } from "./lib.mjs";

const ACCOUNT = "000000000000";
const TRUST = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }],
});

let d;
let iam;
let sts;
before(async () => {
  d = await startDaemon();
  const config = { endpoint: d.endpoint, region: "us-east-1", credentials: d.credentials, maxAttempts: 1 };
  iam = new IAMClient(config);
  sts = new STSClient(config);
});
after(async () => {
  await d?.stop();
});

function sessionClients(creds) {
  const config = {
    endpoint: d.endpoint,
    region: "us-east-1",
    maxAttempts: 1,
    credentials: { accessKeyId: creds.AccessKeyId, secretAccessKey: creds.SecretAccessKey, sessionToken: creds.SessionToken },
  };
  return { lambda: new LambdaClient(config), sts: new STSClient(config), iam: new IAMClient(config) };
}

function auditLines() {
  try {
    return readFileSync(join(d.stateDir, "audit.log"), "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
  } catch {
    return [];
  }
}

test("roles: create, get, list, inline policies, delete, with IAM's shapes and errors", async () => {
  const created = await iam.send(new CreateRoleCommand({ RoleName: "orders", AssumeRolePolicyDocument: TRUST, Description: "order service", Path: "/svc/" }));
  assert.equal(created.Role.RoleName, "orders");
  assert.equal(created.Role.Arn, `arn:aws:iam::${ACCOUNT}:role/svc/orders`);
  assert.match(created.Role.RoleId, /^AROA[A-Z2-7]{17}$/);
  assert.ok(created.Role.CreateDate instanceof Date);
  assert.equal(decodeURIComponent(created.Role.AssumeRolePolicyDocument), TRUST);
  assert.equal(created.Role.MaxSessionDuration, 3600);

  await expectError(iam.send(new CreateRoleCommand({ RoleName: "orders", AssumeRolePolicyDocument: TRUST })), "EntityAlreadyExistsException");
  await expectError(iam.send(new CreateRoleCommand({ RoleName: "bad name!", AssumeRolePolicyDocument: TRUST })), "ValidationError");
  await expectError(iam.send(new GetRoleCommand({ RoleName: "missing" })), "NoSuchEntityException");

  const got = await iam.send(new GetRoleCommand({ RoleName: "orders" }));
  assert.equal(got.Role.RoleId, created.Role.RoleId);
  assert.equal(got.Role.Description, "order service");

  const list = await iam.send(new ListRolesCommand({}));
  assert.deepEqual(list.Roles.map((r) => r.RoleName).sort(), ["orders", "tenantd-test"]);
  const page = await iam.send(new ListRolesCommand({ MaxItems: 1 }));
  assert.equal(page.Roles.length, 1);
  assert.equal(page.IsTruncated, true);
  const next = await iam.send(new ListRolesCommand({ Marker: page.Marker }));
  assert.equal(next.Roles.length, 1);
  assert.notEqual(next.Roles[0].RoleName, page.Roles[0].RoleName);

  const doc = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "lambda:ListFunctions", Resource: "*" }] });
  await iam.send(new PutRolePolicyCommand({ RoleName: "orders", PolicyName: "list", PolicyDocument: doc }));
  const pol = await iam.send(new GetRolePolicyCommand({ RoleName: "orders", PolicyName: "list" }));
  assert.equal(decodeURIComponent(pol.PolicyDocument), doc);
  assert.deepEqual((await iam.send(new ListRolePoliciesCommand({ RoleName: "orders" }))).PolicyNames, ["list"]);
  const bad = await expectError(
    iam.send(new PutRolePolicyCommand({ RoleName: "orders", PolicyName: "bad", PolicyDocument: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Resource":"*"}]}' })),
    "MalformedPolicyDocumentException",
  );
  assert.match(bad.message, /action/i);
  await expectError(iam.send(new DeleteRoleCommand({ RoleName: "orders" })), "DeleteConflictException");
  await iam.send(new DeleteRolePolicyCommand({ RoleName: "orders", PolicyName: "list" }));
  await expectError(iam.send(new DeleteRolePolicyCommand({ RoleName: "orders", PolicyName: "list" })), "NoSuchEntityException");
  await iam.send(new DeleteRoleCommand({ RoleName: "orders" }));
  await expectError(iam.send(new GetRoleCommand({ RoleName: "orders" })), "NoSuchEntityException");
});

test("CreateFunction's Role must name an existing role", async () => {
  const err = await expectError(
    createFunction(d.lambda, { FunctionName: "norole", Role: `arn:aws:iam::${ACCOUNT}:role/nobody`, Code: { ZipFile: readZip("tests/functions/behave.zip") } }),
    "InvalidParameterValueException",
  );
  assert.match(err.message, /cannot be assumed/);
});

test("STS: AssumeRole with tags and an inline policy; GetCallerIdentity; the role's policies decide", async () => {
  await iam.send(new CreateRoleCommand({ RoleName: "reader", AssumeRolePolicyDocument: TRUST }));
  await iam.send(new PutRolePolicyCommand({
    RoleName: "reader",
    PolicyName: "read",
    PolicyDocument: JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Action: ["lambda:ListFunctions", "lambda:GetFunction"], Resource: "*" },
        { Effect: "Allow", Action: "lambda:InvokeFunction", Resource: `arn:aws:lambda:us-east-1:${ACCOUNT}:function:\${aws:PrincipalTag/Team}-*` },
      ],
    }),
  }));
  await createFunction(d.lambda, { FunctionName: "blue-echo", Code: { ZipFile: readZip("tests/functions/behave.zip") } });
  await createFunction(d.lambda, { FunctionName: "red-echo", Code: { ZipFile: readZip("tests/functions/behave.zip") } });

  const me = await sts.send(new GetCallerIdentityCommand({}));
  assert.equal(me.Account, ACCOUNT);
  assert.equal(me.Arn, `arn:aws:iam::${ACCOUNT}:root`);

  const roleArn = `arn:aws:iam::${ACCOUNT}:role/reader`;
  const assumed = await sts.send(new AssumeRoleCommand({
    RoleArn: roleArn,
    RoleSessionName: "alice",
    DurationSeconds: 900,
    Tags: [{ Key: "Team", Value: "blue" }],
  }));
  assert.equal(assumed.AssumedRoleUser.Arn, `arn:aws:sts::${ACCOUNT}:assumed-role/reader/alice`);
  assert.match(assumed.AssumedRoleUser.AssumedRoleId, /^AROA[A-Z2-7]{17}:alice$/);
  assert.match(assumed.Credentials.AccessKeyId, /^ASIA[A-Z2-7]{16}$/);
  const lifetime = assumed.Credentials.Expiration.getTime() - Date.now();
  assert.ok(lifetime > 880_000 && lifetime <= 900_000, `lifetime ${lifetime}`);

  const s = sessionClients(assumed.Credentials);
  const who = await s.sts.send(new GetCallerIdentityCommand({}));
  assert.equal(who.Arn, assumed.AssumedRoleUser.Arn);
  assert.equal(who.UserId, assumed.AssumedRoleUser.AssumedRoleId);

  await s.lambda.send(new ListFunctionsCommand({}));
  const ok = await invoke(s.lambda, { FunctionName: "blue-echo", Payload: payload({ action: "echo" }) });
  assert.equal(ok.StatusCode, 200);
  const denied = await expectError(invoke(s.lambda, { FunctionName: "red-echo", Payload: payload({ action: "echo" }) }), "AccessDeniedException");
  assert.equal(
    denied.message,
    `User: arn:aws:sts::${ACCOUNT}:assumed-role/reader/alice is not authorized to perform: lambda:InvokeFunction on resource: arn:aws:lambda:us-east-1:${ACCOUNT}:function:red-echo because no identity-based policy allows the lambda:InvokeFunction action`,
  );
  await expectError(s.iam.send(new ListRolesCommand({})), "AccessDenied");
  const line = auditLines().find((l) => l.action === "lambda:InvokeFunction");
  assert.ok(line, "the refusal is in audit.log");
  assert.equal(line.principal, assumed.AssumedRoleUser.Arn);
  assert.equal(line.resource, `arn:aws:lambda:us-east-1:${ACCOUNT}:function:red-echo`);
  assert.equal(line.reason, "no identity-based policy allows");

  // An inline session policy narrows: identity ∩ session.
  const narrowed = await sts.send(new AssumeRoleCommand({
    RoleArn: roleArn,
    RoleSessionName: "bob",
    Tags: [{ Key: "Team", Value: "blue" }],
    Policy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "lambda:ListFunctions", Resource: "*" }] }),
  }));
  const n = sessionClients(narrowed.Credentials);
  await n.lambda.send(new ListFunctionsCommand({}));
  const e = await expectError(n.lambda.send(new GetFunctionCommand({ FunctionName: "blue-echo" })), "AccessDeniedException");
  assert.match(e.message, /because no session policy allows the lambda:GetFunction action/);
});

test("STS refusals: unknown role, bad parameters, malformed policy, forged or altered tokens", async () => {
  const roleArn = `arn:aws:iam::${ACCOUNT}:role/reader`;
  await expectError(sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${ACCOUNT}:role/nobody`, RoleSessionName: "x1" })), "AccessDenied");
  await expectError(sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: "x", DurationSeconds: 900 })), "ValidationError");
  await expectError(sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: "ok1", DurationSeconds: 100 })), "ValidationError");
  await expectError(sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: "ok1", DurationSeconds: 7200 })), "ValidationError");
  await expectError(sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: "ok1", Policy: "{nope" })), "MalformedPolicyDocumentException");
  // A TenantId tag must be a tenant id (it is put into the role's tenant template).
  for (const Value of ["", "a*b", "x\"y", "${aws:username}"])
    await expectError(sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: "ok1", Tags: [{ Key: "tenantid", Value }] })), "ValidationError");
  const good = await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: "carol" }));
  const c = good.Credentials;
  // altered token, token of another key, forged key without token
  const altered = { ...c, SessionToken: c.SessionToken.replace(/.$/, (x) => (x === "A" ? "B" : "A")) };
  await expectError(sessionClients(altered).sts.send(new GetCallerIdentityCommand({})));
  const other = await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: "dave" }));
  const swapped = { ...c, SessionToken: other.Credentials.SessionToken };
  await expectError(sessionClients(swapped).sts.send(new GetCallerIdentityCommand({})));
  const noToken = { ...c, SessionToken: undefined };
  await expectError(sessionClients(noToken).lambda.send(new ListFunctionsCommand({})), "UnrecognizedClientException");
  // Deleting the role ends its sessions.
  await iam.send(new DeleteRolePolicyCommand({ RoleName: "reader", PolicyName: "read" }));
  await iam.send(new DeleteRoleCommand({ RoleName: "reader" }));
  await iam.send(new CreateRoleCommand({ RoleName: "reader", AssumeRolePolicyDocument: TRUST }));
  await iam.send(new PutRolePolicyCommand({ RoleName: "reader", PolicyName: "all", PolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] }) }));
  await expectError(sessionClients(c).lambda.send(new ListFunctionsCommand({})), "AccessDeniedException");
});

test("managed policies as AssumeRole PolicyArns: session policies together, identity ∩ session", async () => {
  await iam.send(new CreateRoleCommand({ RoleName: "lister", AssumeRolePolicyDocument: TRUST }));
  await iam.send(new PutRolePolicyCommand({
    RoleName: "lister",
    PolicyName: "broad",
    PolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "lambda:*", Resource: "*" }] }),
  }));
  const doc = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "lambda:ListFunctions", Resource: "*" }] });
  const created = await iam.send(new CreatePolicyCommand({ PolicyName: "list-only", PolicyDocument: doc, Description: "list" }));
  assert.equal(created.Policy.Arn, `arn:aws:iam::${ACCOUNT}:policy/list-only`);
  assert.match(created.Policy.PolicyId, /^ANPA/);
  await expectError(iam.send(new CreatePolicyCommand({ PolicyName: "list-only", PolicyDocument: doc })), "EntityAlreadyExistsException");
  assert.equal((await iam.send(new GetPolicyCommand({ PolicyArn: created.Policy.Arn }))).Policy.DefaultVersionId, "v1");
  const version = await iam.send(new GetPolicyVersionCommand({ PolicyArn: created.Policy.Arn, VersionId: "v1" }));
  assert.equal(decodeURIComponent(version.PolicyVersion.Document), doc);
  assert.deepEqual((await iam.send(new ListPoliciesCommand({ Scope: "Local" }))).Policies.map((p) => p.PolicyName), ["list-only"]);

  const roleArn = `arn:aws:iam::${ACCOUNT}:role/lister`;
  await expectError(sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: "m1", PolicyArns: [{ arn: `arn:aws:iam::${ACCOUNT}:policy/nope` }] })), "InvalidParameterValue");
  const s = await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: "m1", PolicyArns: [{ arn: created.Policy.Arn }] }));
  const c = sessionClients(s.Credentials);
  await c.lambda.send(new ListFunctionsCommand({}));
  const e = await expectError(c.lambda.send(new GetFunctionCommand({ FunctionName: "blue-echo" })), "AccessDeniedException");
  assert.match(e.message, /because no session policy allows the lambda:GetFunction action/);
  // A deleted managed policy allows nothing any more.
  await iam.send(new DeletePolicyCommand({ PolicyArn: created.Policy.Arn }));
  await expectError(c.lambda.send(new ListFunctionsCommand({})), "AccessDeniedException");
});

test("refusals are queryable: GET /tenantd/audit, tenantd audit, and a counter in /tenantd/stats", async () => {
  const all = await (await signedFetch(d, "/tenantd/audit")).json();
  assert.ok(all.Events.length >= 3, JSON.stringify(all));
  assert.equal(all.AccessDeniedTotal, all.Events.length);
  const byAction = await (await signedFetch(d, `/tenantd/audit?action=${encodeURIComponent("lambda:InvokeFunction")}`)).json();
  assert.ok(byAction.Events.length >= 1);
  assert.ok(byAction.Events.every((e) => e.action === "lambda:InvokeFunction"));
  const limited = await (await signedFetch(d, "/tenantd/audit?limit=1")).json();
  assert.deepEqual(limited.Events, all.Events.slice(-1));
  const stats = await (await signedFetch(d, "/tenantd/stats")).json();
  assert.equal(stats.accessDenied, all.Events.length);
  const cli = execFileSync(tenantdBin, ["audit", "--state-dir", d.stateDir, "--action", "lambda:InvokeFunction"], { encoding: "utf8" });
  const lines = cli.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines, byAction.Events);
  const bad = await signedFetch(d, "/tenantd/audit?limit=0");
  assert.equal(bad.status, 400);
});
