// badhandler-node: its handler module (CommonJS) requires a module that does not exist, so
// loading it fails and aws-lambda-ric reports an init error (POST /runtime/init/error with
// errorType Runtime.ImportModuleError) and exits.
const { missing } = require("./does-not-exist");

exports.handler = async () => missing();
