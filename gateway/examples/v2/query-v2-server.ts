import { create, fromBinary, toBinary, type DescEnum, type DescMessage, type FileRegistry } from "@bufbuild/protobuf";
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall, type ServiceDefinition } from "@grpc/grpc-js";
import { authorizeCall, type TokenVerifier } from "#mesh/auth/index.js";
import { InvalidArgumentError, toServiceError } from "#mesh/errors.js";
import { answerQuestion, type AnswerFormat, type Passage } from "./answer.js";

/**
 * An example rag.v2.QueryService: a raw grpc-js server whose messages are protobuf-es messages built at run
 * time from the v2 descriptor set (no generated code), so adding a version needs only the .proto and its
 * descriptor set. Like every mesh service it checks the caller's token and the method's permission itself,
 * even though the gateway already did.
 */

export const ASK_PATH = "/rag.v2.QueryService/Ask";

/**
 * The permissions of the v2 RPCs, for `declareMethodPermissions`. Both the service's process and the
 * gateway's must declare them: an RPC without a declared permission is refused.
 */
export const V2_METHOD_PERMISSIONS: Readonly<Record<string, string>> = { [ASK_PATH]: "query.ask" };

const MAX_QUESTIONS = 10;
const MAX_QUESTION_CHARS = 4000;

/** A decoded rag.v2.AskRequest, as the server saw it (the enum by value name). */
export interface ReceivedAsk {
  questions: string[];
  collection: string;
  answerFormat: string;
}

export interface QueryV2Server {
  /** "127.0.0.1:<port>". */
  address: string;
  /** Every request that reached Ask, in arrival order. */
  received: ReceivedAsk[];
  stop(): Promise<void>;
}

export interface QueryV2Options {
  /** A registry holding rag.v2 (e.g. `loadRegistry(["rag-v2.binpb"])`). */
  registry: FileRegistry;
  /** What the server may cite. */
  passages: readonly Passage[];
  /** Default "127.0.0.1"; the port is chosen by the system. */
  host?: string;
  /** Checks the callers' access tokens. */
  verifier: TokenVerifier;
}

function messageOf(registry: FileRegistry, typeName: string): DescMessage {
  const found = registry.getMessage(typeName);
  if (!found) throw new Error(`the registry has no message ${typeName}: give it the rag.v2 descriptor set`);
  return found;
}

function enumOf(registry: FileRegistry, typeName: string): DescEnum {
  const found = registry.getEnum(typeName);
  if (!found) throw new Error(`the registry has no enum ${typeName}: give it the rag.v2 descriptor set`);
  return found;
}

const identity = (b: Buffer): Buffer => b;

export async function startQueryV2Server(opts: QueryV2Options): Promise<QueryV2Server> {
  const askRequest = messageOf(opts.registry, "rag.v2.AskRequest");
  const askResponse = messageOf(opts.registry, "rag.v2.AskResponse");
  const answerFormat = enumOf(opts.registry, "rag.v2.AnswerFormat");
  const formatName = (n: number) => answerFormat.values.find((v) => v.number === n)?.name ?? `${n}`;

  const received: ReceivedAsk[] = [];

  async function ask(call: ServerUnaryCall<Buffer, Buffer>): Promise<Buffer> {
    const authorization = call.metadata.get("authorization")[0];
    await authorizeCall(opts.verifier, ASK_PATH, typeof authorization === "string" ? authorization : undefined);

    const request = fromBinary(askRequest, call.request) as unknown as { questions: string[]; collection: string; answerFormat: number };
    const format = formatName(request.answerFormat);
    received.push({ questions: [...request.questions], collection: request.collection, answerFormat: format });
    validate(request.questions);

    const collection = request.collection || "default";
    const style: AnswerFormat = format === "ANSWER_FORMAT_MARKDOWN" ? "markdown" : "plain";
    const answers = request.questions.map((q) => answerQuestion(q, collection, opts.passages, style));
    return Buffer.from(toBinary(askResponse, create(askResponse, { answers, collection } as never)));
  }

  // Generic definition on raw bytes: (de)serialisation happens in `ask`, against the descriptor set.
  const definition: ServiceDefinition = {
    ask: { path: ASK_PATH, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
  };
  const server = new Server();
  server.addService(definition, {
    ask(call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) {
      ask(call).then(
        (response) => callback(null, response),
        (err: unknown) => callback(toServiceError(err)),
      );
    },
  });

  const host = opts.host ?? "127.0.0.1";
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:0`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    address: `${host}:${port}`,
    received,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

function validate(questions: string[]): void {
  if (questions.length === 0) throw new InvalidArgumentError("questions", "give at least one question");
  if (questions.length > MAX_QUESTIONS) throw new InvalidArgumentError("questions", `at most ${MAX_QUESTIONS} questions per request (got ${questions.length})`);
  questions.forEach((q, i) => {
    if (q.trim() === "") throw new InvalidArgumentError(`questions[${i}]`, "must not be blank");
    if (q.length > MAX_QUESTION_CHARS) throw new InvalidArgumentError(`questions[${i}]`, `at most ${MAX_QUESTION_CHARS} characters (got ${q.length})`);
  });
}
