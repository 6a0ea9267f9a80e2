/**
 * What the cross-service tests and benches of a running stack ask it again and again: an answer over REST
 * through the gateway, how many calls one process has served, whether the launcher shows it running. Also
 * the small corpus they ingest and the questions it answers.
 */
import { CATALOGUE, type ServiceName } from "#mesh/catalogue.js";
import type { StackProcess, TestStack } from "./stack.js";

/** The bootstrap admin key the stack tests start identity with (IDENTITY_BOOTSTRAP_ADMIN_KEY). */
export const STACK_ADMIN_KEY = "rag_0123456789ab_bootstrapSecretForTheTests_0123";

/** Three short documents, each fact answerable by one question of HARBOUR_QUESTIONS. */
export const HARBOUR_DOCUMENTS: Record<string, string> = {
  "harbour.md": "# Harbour rules\n\nThe harbour gate closes at 23:00 every night. Boats must moor at pier seven.\n",
  "canteen.md": "# Canteen\n\nThe canteen serves lunch from noon until 14:00. Soup costs three euros.\n",
  "parking.md": "# Parking\n\nVisitors park on level minus two. The car park barrier opens with the blue badge.\n",
};

/** Each question with what its answer must contain. */
export const HARBOUR_QUESTIONS: [string, RegExp][] = [
  ["When does the harbour gate close?", /23:00/],
  ["Where must boats moor?", /pier seven/],
  ["Until when does the canteen serve lunch?", /14:00/],
  ["How much does the soup cost?", /three euros/],
  ["Where do visitors park?", /minus two/],
  ["What opens the car park barrier?", /blue badge/],
];

/** The answer to `question` over POST /v1/query:ask (cache bypassed); anything but 200 throws with the body. */
export async function restAsk(gatewayUrl: string, question: string, opts: { key?: string; timeoutMs?: number } = {}): Promise<string> {
  const res = await fetch(`${gatewayUrl}/v1/query:ask`, {
    method: "POST",
    headers: { "x-api-key": opts.key ?? STACK_ADMIN_KEY, "content-type": "application/json" },
    body: JSON.stringify({ question, options: { bypassCache: true } }),
    signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
  });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${body}`);
  return (JSON.parse(body) as { answer: string }).answer;
}

/** Calls this process has completed for its own service, any method and code (its admin /metrics). */
export async function handledCalls(p: StackProcess): Promise<number> {
  const service = CATALOGUE[p.id.split("#")[0] as ServiceName].grpcService;
  const text = await (await fetch(p.adminUrl, { signal: AbortSignal.timeout(5_000) })).text();
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("grpc_server_handled_total{") && line.includes(`grpc_service="${service}"`)) total += Number(line.split(" ").at(-1));
  }
  return total;
}

/** Whether the launcher shows process `id` ("query#2", "postgres") running now. */
export function isRunning(env: TestStack, id: string): boolean {
  return env.stack.status().find((s) => s.name === id)?.state === "running";
}
