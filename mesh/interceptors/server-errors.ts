import { status } from "@grpc/grpc-js";
import { toServiceError } from "../errors.js";
import { errorFields, log } from "../logger.js";
import type { ServerMiddleware } from "./server-call.js";

const INTERNAL_FALLBACK = { code: status.INTERNAL, details: "internal error: the result could not be sent" };

/**
 * Sends the call's final status: OK, or whatever the handler (or a middleware) threw, mapped by
 * toServiceError. Whatever happens while sending, nothing throws out of here: the call path must never
 * throw out of a handler's promise chain, where nothing would catch it and the process would die with it.
 */
export function sendStatus(): ServerMiddleware {
  return async (call, next) => {
    let failure: { err: unknown } | undefined;
    try {
      await next();
    } catch (err) {
      failure = { err };
    }
    try {
      if (failure) call.reply.error(toServiceError(failure.err));
      else call.reply.ok();
    } catch (err) {
      log.error("could not send a call's result; answering INTERNAL", { rpc: call.method.path, ...errorFields(err) });
      try {
        call.reply.error(INTERNAL_FALLBACK);
      } catch (again) {
        log.error("could not answer the call at all", { rpc: call.method.path, ...errorFields(again) });
      }
    }
  };
}
