// tables-node: a tenant's function reaching the table service with the unmodified
// @aws-sdk/client-dynamodb and the environment's own credentials (nodejs20.x, CommonJS so that
// NODE_PATH finds the SDK). The event names an operation on the table "shared":
//   {"op":"put"|"get"|"update"|"delete","pk":P,"sk":S}  {"op":"query","pk":P}
//   {"op":"batchGet","keys":[[P,S],...]}  {"op":"scan"}
// The answer is {"ok":result} or {"error":name,"message":text}.
const {
  DynamoDBClient,
  PutItemCommand,
  GetItemCommand,
  UpdateItemCommand,
  DeleteItemCommand,
  QueryCommand,
  ScanCommand,
  BatchGetItemCommand,
} = require("@aws-sdk/client-dynamodb");

const ddb = new DynamoDBClient({ maxAttempts: 1 });
const TableName = "shared";
const key = (pk, sk) => ({ pk: { S: pk }, sk: { S: sk } });

const ops = {
  put: (e) => new PutItemCommand({ TableName, Item: { ...key(e.pk, e.sk), v: { S: `written by ${e.pk}` } } }),
  get: (e) => new GetItemCommand({ TableName, Key: key(e.pk, e.sk) }),
  update: (e) => new UpdateItemCommand({ TableName, Key: key(e.pk, e.sk), UpdateExpression: "SET v = :v", ExpressionAttributeValues: { ":v": { S: "changed" } } }),
  delete: (e) => new DeleteItemCommand({ TableName, Key: key(e.pk, e.sk) }),
  query: (e) => new QueryCommand({ TableName, KeyConditionExpression: "pk = :p", ExpressionAttributeValues: { ":p": { S: e.pk } } }),
  scan: () => new ScanCommand({ TableName }),
  batchGet: (e) => new BatchGetItemCommand({ RequestItems: { [TableName]: { Keys: e.keys.map(([p, s]) => key(p, s)) } } }),
};

exports.handler = async (event) => {
  try {
    const r = await ddb.send(ops[event.op](event));
    const { $metadata, ...rest } = r;
    return { ok: rest };
  } catch (e) {
    return { error: e.name, message: e.message };
  }
};
