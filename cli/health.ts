import { CATALOGUE, SERVICE_NAMES } from "#mesh/catalogue.js";
import { HealthProbe } from "#launcher/health.js";
import type { CliContext } from "./context.js";
import { printJson, printTable } from "./output.js";

/** Asks every service for its grpc.health.v1 status; exits non-zero unless all are SERVING. */
export async function healthCommand(ctx: CliContext): Promise<number> {
  const results = await Promise.all(
    SERVICE_NAMES.map(async (name) => {
      const address = ctx.target(name);
      const probe = new HealthProbe(address);
      try {
        return { name, address, status: await probe.check(CATALOGUE[name].grpcService, 2_000) as string };
      } catch (err) {
        const message = (err as Error).message;
        return { name, address, status: message.includes("ECONNREFUSED") ? "DOWN (nothing listening)" : `DOWN (${message.replace(/^\d+ /, "")})` };
      } finally {
        probe.close();
      }
    }),
  );
  if (ctx.json) printJson(results);
  else printTable(["SERVICE", "ADDRESS", "STATUS"], results.map((r) => [r.name, r.address, r.status]));
  return results.every((r) => r.status === "SERVING") ? 0 : 1;
}
