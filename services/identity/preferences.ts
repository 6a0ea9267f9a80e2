import { InvalidArgumentError } from "#mesh/errors.js";
import { checkCollectionName, MAX_ASK_TOP_K, notLongerThan } from "#mesh/rules.js";
import type { UpdatePreferencesRequest } from "#gen/rag/v1/identity.js";
import type { PreferencesRow } from "./store.js";
import { maskPaths } from "./validate.js";

const PATHS = ["default_collection", "default_top_k", "default_model", "language", "history_disabled", "custom"] as const;
type Path = (typeof PATHS)[number];

const LANGUAGE = /^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/;
// The defaults an ask takes from preferences are held to the rules the ask itself is held to.
const LIMITS = { topK: MAX_ASK_TOP_K, model: 200, customEntries: 32, customKey: 64, customValue: 1024 };

/**
 * The preferences after an update: masked paths take the request's value (an empty one resets to the
 * default, which is the empty value); with no mask, every non-empty request field changes.
 */
export function applyPreferences(current: PreferencesRow, req: UpdatePreferencesRequest): Omit<PreferencesRow, "update_time"> {
  const wanted: Record<Path, unknown> = {
    default_collection: req.defaultCollection,
    default_top_k: req.defaultTopK,
    default_model: req.defaultModel,
    language: req.language,
    history_disabled: req.historyDisabled,
    custom: req.custom,
  };
  // Every value sent is held to the rules, masked or not: a field the mask leaves out is ignored, but a bad
  // value in it is still a bad request (as the contract describes each field), not silently dropped.
  validate({ ...current, ...(wanted as unknown as Partial<PreferencesRow>) });
  const masked = maskPaths(req.updateMask, PATHS) as Path[];
  const paths = masked.length > 0 ? masked : PATHS.filter((p) => !isEmpty(wanted[p]));
  const next = { ...current };
  for (const p of paths) (next as Record<Path, unknown>)[p] = wanted[p];
  validate(next);
  const { update_time: _, ...rest } = next;
  return rest;
}

function isEmpty(v: unknown): boolean {
  return v === "" || v === 0 || v === false || (typeof v === "object" && v !== null && Object.keys(v).length === 0);
}

function validate(p: PreferencesRow): void {
  if (p.default_collection !== "") checkCollectionName("default_collection", p.default_collection);
  if (!Number.isInteger(p.default_top_k) || p.default_top_k < 0 || p.default_top_k > LIMITS.topK) {
    throw new InvalidArgumentError("default_top_k", `must be 0-${LIMITS.topK}, got ${p.default_top_k}`);
  }
  notLongerThan("default_model", p.default_model, LIMITS.model);
  if (p.language !== "" && !LANGUAGE.test(p.language)) throw new InvalidArgumentError("language", `${JSON.stringify(p.language)} is not a BCP 47 language tag, e.g. "en" or "de-CH"`);
  const entries = Object.entries(p.custom);
  if (entries.length > LIMITS.customEntries) throw new InvalidArgumentError("custom", `at most ${LIMITS.customEntries} entries, got ${entries.length}`);
  for (const [k, v] of entries) {
    if (k === "" || [...k].length > LIMITS.customKey) throw new InvalidArgumentError("custom", `keys must be 1-${LIMITS.customKey} characters: ${JSON.stringify(k.slice(0, 80))}`);
    if ([...v].length > LIMITS.customValue) throw new InvalidArgumentError("custom", `value of ${JSON.stringify(k)} is longer than ${LIMITS.customValue} characters`);
  }
}
