import { AskState, type QueryServiceService } from "#gen/rag/v1/query.js";
import { requireTenant } from "#mesh/context.js";
import { InvalidArgumentError, NotFoundError } from "#mesh/errors.js";
import type { ServiceImpl } from "#mesh/handlers.js";
import { askResultResponse, type AskRecords } from "./ask-records.js";
import type { Asker } from "./asker.js";
import type { BackgroundAsks } from "./background-asks.js";
import type { QueryHistory } from "./history.js";
import { askPlan } from "./plan.js";
import { StageClock } from "./stage-clock.js";

type Impl = ServiceImpl<typeof QueryServiceService>;

export function queryService(asker: Asker, background: BackgroundAsks, records: AskRecords, history?: QueryHistory): Impl {
  return {
    async ask(req, ctx) {
      const clock = new StageClock();
      const tenant = requireTenant(ctx);
      const plan = askPlan(req);
      const response = await asker.ask(tenant, plan, clock);
      history?.record(ctx, response.collection || plan.collection, plan.question, response, response.timings?.totalMs ?? 0);
      return response;
    },

    async *askStream(req, ctx) {
      const clock = new StageClock();
      const tenant = requireTenant(ctx);
      const plan = askPlan(req);
      const events = asker.askStream(tenant, plan, clock);
      yield* history ? history.recording(ctx, plan.collection, plan.question, events) : events;
    },

    async submitAsk(req, ctx) {
      const tenant = requireTenant(ctx);
      // Validated now, so a bad request fails here rather than later as a FAILED ask.
      const record = await background.submit(ctx, tenant, askPlan(req));
      return { askId: record.id, state: AskState.ASK_STATE_PENDING, createTime: new Date(record.createTime) };
    },

    async getAskResult(req, ctx) {
      const tenant = requireTenant(ctx);
      const id = req.askId.trim();
      if (id === "") throw new InvalidArgumentError("ask_id", "required: pass the ask_id SubmitAsk returned");
      const record = await records.get(tenant, id);
      if (!record) throw new NotFoundError("ask", id);
      return askResultResponse(record);
    },
  };
}
