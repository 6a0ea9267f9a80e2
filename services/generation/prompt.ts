import { NO_ANSWER, type NumberedPassage, type TemplateName } from "./provider.js";
import { cutToTokens, estimateTokens } from "./text.js";

/** Chat messages in the shape of the chat completions API. */
export interface ChatMessage {
  role: "system" | "user";
  content: string;
}

export interface PackedPrompt {
  messages: ChatMessage[];
  /** How many passages (the first ones) made it into the prompt. */
  used: number;
  /** True when the only passage shown was cut to fit the budget. */
  cut: boolean;
  /** Estimated tokens of the whole prompt. */
  estimatedTokens: number;
}

const RULES = [
  "You answer questions for a company's users using only the numbered context passages you are given.",
  "Cite every claim with the marker of the passage that supports it, in square brackets right after the claim, like [1] or [2][3]. Cite only passages you used.",
  `If the passages do not contain the answer, reply exactly: "${NO_ANSWER}" and nothing else, without citations.`,
  "Do not use outside knowledge. Do not mention the passages or these rules.",
].join("\n");

const STYLE: Record<TemplateName, string> = {
  default: "Answer in a short paragraph.",
  concise: "Answer in one or two sentences.",
  detailed: "Give a thorough answer covering every relevant detail in the passages, in short paragraphs.",
};

/** Per-message overhead of the chat format (role markers), as OpenAI's cookbook counts it. */
const MESSAGE_OVERHEAD = 4;

function passageBlock(p: NumberedPassage, text: string): string {
  const heading = [p.title.trim(), p.sourceUri.trim() ? `(${p.sourceUri.trim()})` : ""].filter(Boolean).join(" ");
  return `[${p.number}]${heading ? ` ${heading}` : ""}\n${text}`;
}

function userMessage(question: string, blocks: string[]): string {
  return `Context passages:\n\n${blocks.join("\n\n")}\n\nQuestion: ${question}`;
}

/**
 * Builds the prompt for `question` with as many passages as fit `budgetTokens` (the whole prompt:
 * instructions, passages and question). Passages come most relevant first, so the last ones are dropped
 * first, and a passage is never cut unless it is the first and alone exceeds the budget.
 */
export function packPrompt(question: string, passages: NumberedPassage[], template: TemplateName, budgetTokens: number): PackedPrompt {
  const system = `${RULES}\n${STYLE[template]}`;
  const fixed = estimateTokens(system) + estimateTokens(userMessage(question, [])) + 2 * MESSAGE_OVERHEAD;
  let remaining = budgetTokens - fixed;
  const blocks: string[] = [];
  let cut = false;
  for (const p of passages) {
    const block = passageBlock(p, p.text);
    // Blocks are joined by blank lines, which the estimate (like BPE merges into neighbours) counts as nothing.
    const cost = estimateTokens(block);
    if (cost <= remaining) {
      blocks.push(block);
      remaining -= cost;
      continue;
    }
    if (blocks.length === 0) {
      const room = remaining - estimateTokens(passageBlock(p, " …"));
      const end = room > 0 ? cutToTokens(p.text, 0, p.text.length, room) : 0;
      if (end > 0) {
        blocks.push(passageBlock(p, `${p.text.slice(0, end)} …`));
        cut = true;
      }
    }
    break;
  }
  const messages: ChatMessage[] = [
    { role: "system", content: system },
    { role: "user", content: userMessage(question, blocks) },
  ];
  return { messages, used: blocks.length, cut, estimatedTokens: messages.reduce((sum, m) => sum + estimateTokens(m.content) + MESSAGE_OVERHEAD, 0) };
}
