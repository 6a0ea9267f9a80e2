import type { DescMessage } from "@bufbuild/protobuf";
import { checkRequestText } from "../text-rule.js";
import type { ServerMiddleware } from "./server-call.js";

/** The request's text fields follow the contract's text rule (text-rule.ts) before any handler sees them. */
export function checkText(request: DescMessage): ServerMiddleware {
  return async (call, next) => {
    checkRequestText(request, call.request);
    await next();
  };
}
