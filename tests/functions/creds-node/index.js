// creds-node: what an environment's code sees of its credentials (nodejs20.x, index.handler,
// CommonJS so that NODE_PATH finds the SDK in /var/runtime/node_modules).
//   {"action":"whoami"}           STS GetCallerIdentity with the default credential chain
//   {"action":"creds"}            the raw credentials document of AWS_CONTAINER_CREDENTIALS_FULL_URI
//   {"action":"replay","creds":C} GetCallerIdentity with credentials C (from elsewhere)
//   {"action":"init"}             what fetching credentials during init gave
const { STSClient, GetCallerIdentityCommand } = require("@aws-sdk/client-sts");

async function fetchCredentials() {
  const r = await fetch(process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI, {
    headers: { Authorization: process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN },
  });
  return { status: r.status, body: await r.json() };
}

const initOutcome = fetchCredentials().catch((e) => ({ error: String(e) }));

async function callerIdentity(credentials) {
  try {
    const sts = new STSClient(credentials ? { credentials, maxAttempts: 1 } : { maxAttempts: 1 });
    const r = await sts.send(new GetCallerIdentityCommand({}));
    return { Arn: r.Arn, UserId: r.UserId, Account: r.Account };
  } catch (e) {
    return { error: e.name, message: e.message };
  }
}

exports.handler = async (event) => {
  switch (event.action) {
    case "whoami":
      return callerIdentity();
    case "creds":
      return fetchCredentials();
    case "replay":
      return callerIdentity({
        accessKeyId: event.creds.AccessKeyId,
        secretAccessKey: event.creds.SecretAccessKey,
        sessionToken: event.creds.Token,
      });
    case "init":
      return initOutcome;
    case "env":
      return {
        uri: process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI,
        sts: process.env.AWS_ENDPOINT_URL_STS,
        dynamodb: process.env.AWS_ENDPOINT_URL_DYNAMODB,
      };
    default:
      throw new Error(`unknown action ${event.action}`);
  }
};
