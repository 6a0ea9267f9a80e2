import { parseArgs } from "node:util";
import { authenticate, cliContext } from "./context.js";
import { ASK_USAGE, askCommand } from "./ask.js";
import { DOCS_USAGE, docsCommand } from "./docs.js";
import { healthCommand } from "./health.js";
import { INGEST_USAGE, ingestCommand } from "./ingest.js";
import { print, reportError, UsageError } from "./output.js";

const USAGE = `rag — command-line client for the RAG mesh (talks gRPC to the running stack)

usage:
  rag health                  every service's grpc.health.v1 status
  ${INGEST_USAGE}
  ${ASK_USAGE}
${DOCS_USAGE.split("\n").map((l) => `  ${l}`).join("\n")}

options (before the command):
  --tenant T    tenant to act as with RAG_INTERNAL_SECRET (default: $RAG_TENANT, else "default");
                with RAG_API_KEY the key's own tenant
  --json        machine-readable output

environment:
  RAG_ENDPOINTS  name=host:port,... where the services are (default: the ports "make run" uses)
  RAG_API_KEY    the API key to call with (rag_...); its role decides what you may do
  RAG_TENANT     default tenant`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    options: { tenant: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  // Global options come before the command; everything after it belongs to the command.
  const commandAt = argv.indexOf(positionals[0] ?? "\0");
  const command = positionals[0];
  const rest = commandAt >= 0 ? argv.slice(commandAt + 1) : [];
  if (values.help || !command || command === "help") {
    print(USAGE);
    return 0;
  }
  const base = cliContext({ tenant: values.tenant as string | undefined, json: values.json as boolean | undefined });
  if (command === "health") return healthCommand(base);
  const ctx = await authenticate(base);
  switch (command) {
    case "ingest":
      return ingestCommand(ctx, rest);
    case "ask":
      return askCommand(ctx, rest);
    case "docs":
      await docsCommand(ctx, rest);
      return 0;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

// Whatever escapes (a stream error emitted after its consumer went away, a bug): one clear line and exit
// status 1, never a stack trace from an uncaught exception.
for (const event of ["uncaughtException", "unhandledRejection"] as const) {
  process.on(event, (err: unknown) => process.exit(reportError(err)));
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => process.exit(reportError(err)),
);
