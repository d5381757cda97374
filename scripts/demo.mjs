// Deploys the demo functions (or updates their code) and invokes each for two tenants.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  LambdaClient,
  CreateFunctionCommand,
  UpdateFunctionCodeCommand,
  InvokeCommand,
} from "@aws-sdk/client-lambda";
import { IAMClient, CreateRoleCommand } from "@aws-sdk/client-iam";

process.removeAllListeners("warning");
const state = process.argv[2];
const build = process.env.TENANTD_BUILD_DIR;
const endpoint = readFileSync(join(state, "endpoint"), "utf8").trim();
const creds = readFileSync(join(state, "credentials"), "utf8");
const clientConfig = {
  endpoint,
  region: "us-east-1",
  credentials: {
    accessKeyId: /aws_access_key_id\s*=\s*(\S+)/.exec(creds)[1],
    secretAccessKey: /aws_secret_access_key\s*=\s*(\S+)/.exec(creds)[1],
  },
};
const lambda = new LambdaClient(clientConfig);
const iam = new IAMClient(clientConfig);

// The functions' execution role (a function's Role must name an existing role).
try {
  await iam.send(new CreateRoleCommand({
    RoleName: "demo",
    AssumeRolePolicyDocument: JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }],
    }),
  }));
  console.log("created role demo");
} catch (e) {
  if (e.name !== "EntityAlreadyExistsException" && e.name !== "EntityAlreadyExists") throw e;
}

const functions = [
  { name: "demo-isolation-c", runtime: "provided.al2023", handler: "bootstrap", zip: "examples/isolation.zip", label: "C (provided.al2023)" },
  { name: "demo-isolation-node", runtime: "nodejs20.x", handler: "index.handler", zip: "examples/isolation-node.zip", label: "Node.js (nodejs20.x)" },
];

async function deploy(f) {
  const ZipFile = readFileSync(join(build, f.zip));
  try {
    await lambda.send(new CreateFunctionCommand({
      FunctionName: f.name,
      Role: "arn:aws:iam::000000000000:role/demo",
      Runtime: f.runtime,
      Handler: f.handler,
      Code: { ZipFile },
      TenancyConfig: { TenantIsolationMode: "PER_TENANT" },
    }));
    console.log(`deployed ${f.name} (${f.label}, PER_TENANT)`);
  } catch (e) {
    if (e.name !== "ResourceConflictException") throw e;
    await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: f.name, ZipFile }));
    console.log(`updated ${f.name} (${f.label}, PER_TENANT)`);
  }
}

for (const f of functions) await deploy(f);
console.log("");
console.log("function              tenant  call  process instance                   pid    first tenant  calls (memory, /tmp)");
for (const f of functions) {
  for (const call of [1, 2]) {
    for (const tenant of ["acme", "globex"]) {
      const r = await lambda.send(new InvokeCommand({ FunctionName: f.name, TenantId: tenant, Payload: "{}" }));
      const a = JSON.parse(Buffer.from(r.Payload).toString());
      console.log(
        `${f.name.padEnd(22)}${tenant.padEnd(8)}${String(call).padEnd(6)}${a.instance.padEnd(35)}${String(a.pid).padEnd(7)}${String(a.firstTenant).padEnd(14)}${a.memCount}, ${a.tmpCount}`,
      );
    }
  }
}
console.log("\nEach tenant has its own environment (its own process, memory and /tmp): the counters");
console.log("count only that tenant's calls, and no process ever served the other tenant.");
