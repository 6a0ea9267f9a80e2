/**
 * The repo's layering, read from the import graph of every .ts file (static imports, re-exports, type
 * imports and dynamic `import()` alike): no import cycles; a service never imports another service's
 * code; production code never imports test code; the mesh runtime imports nothing above it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SKIPPED_DIRS = new Set(["node_modules", ".git", ".data", "dist", "coverage", ".venv-fuzz"]);

/** "#mesh/*" → "./mesh/*", from package.json, so the aliases resolve as Node resolves them. */
const ALIASES = Object.entries((JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { imports: Record<string, string> }).imports).map(
  ([from, to]) => ({ prefix: from.replace(/\*$/, ""), target: to.replace(/\*$/, "") }),
);

function tsFiles(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRS.has(entry.name) && !entry.name.startsWith(".")) tsFiles(join(dir, entry.name), out);
    } else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) {
      out.push(relative(ROOT, join(dir, entry.name)));
    }
  }
  return out;
}

/** The repo file `specifier` names from `file`, or undefined for a package (or a file outside the repo). */
function resolveImport(file: string, specifier: string): string | undefined {
  let path: string | undefined;
  if (specifier.startsWith(".")) path = join(dirname(file), specifier);
  else {
    const alias = ALIASES.find((a) => specifier.startsWith(a.prefix));
    if (alias) path = join(alias.target, specifier.slice(alias.prefix.length));
  }
  if (path === undefined) return undefined;
  for (const candidate of [path.replace(/\.js$/, ".ts"), path, `${path}.ts`, join(path, "index.ts")]) {
    if (candidate.endsWith(".ts") && existsSync(join(ROOT, candidate))) return candidate;
  }
  return undefined;
}

function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of tsFiles(ROOT)) {
    const info = ts.preProcessFile(readFileSync(join(ROOT, file), "utf8"), true, true);
    const targets = info.importedFiles.map((f) => resolveImport(file, f.fileName)).filter((t): t is string => t !== undefined);
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** Strongly connected components with more than one file (or a file importing itself): Tarjan's algorithm. */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

const isTest = (file: string) => file.endsWith(".test.ts") || file.startsWith("tests/") || file.startsWith("testing/");

/** Code that runs in production. Test doubles and test helpers live in testing/ (doubles in testing/fakes/). */
function isProduction(file: string): boolean {
  if (isTest(file)) return false;
  if (file.startsWith("services/")) return true;
  if (file.startsWith("gateway/")) return !/\/(testdata|examples)\//.test(file);
  return ["mesh/", "launcher/", "cli/"].some((dir) => file.startsWith(dir));
}

const serviceOf = (file: string) => /^services\/([^/]+)\//.exec(file)?.[1];

function violations(graph: Map<string, string[]>, rule: (from: string, to: string) => boolean): string[] {
  return [...graph].flatMap(([from, targets]) => targets.filter((to) => rule(from, to)).map((to) => `${from} → ${to}`)).sort();
}

const graph = importGraph();

test("layering: the import graph was read", () => {
  assert.ok(graph.size > 100, `only ${graph.size} files found under ${ROOT}`);
  assert.ok((graph.get("mesh/service.ts") ?? []).includes("mesh/runtime.ts"), "imports resolve (mesh/service.ts → mesh/runtime.ts)");
});

test("layering: cycles are found, self-imports included", () => {
  const found = cycles(new Map([["a.ts", ["b.ts"]], ["b.ts", ["c.ts"]], ["c.ts", ["a.ts"]], ["d.ts", ["d.ts"]], ["e.ts", ["a.ts"]]]));
  assert.deepEqual(found, [["a.ts", "b.ts", "c.ts"], ["d.ts"]]);
});

test("layering: no import cycles", () => {
  const found = cycles(graph);
  assert.deepEqual(found, [], `import cycles:\n${found.map((c) => `  ${c.join(" ⇄ ")}`).join("\n")}`);
});

test("layering: a service never imports another service's code", () => {
  const found = violations(graph, (from, to) => {
    const a = serviceOf(from);
    const b = serviceOf(to);
    return a !== undefined && b !== undefined && a !== b;
  });
  assert.deepEqual(found, [], `services importing other services:\n  ${found.join("\n  ")}`);
});

test("layering: production code never imports test code (testing/, tests/)", () => {
  const found = violations(graph, (from, to) => isProduction(from) && (to.startsWith("testing/") || to.startsWith("tests/")));
  assert.deepEqual(found, [], `production code importing test code:\n  ${found.join("\n  ")}`);
});

test("layering: mesh/ imports nothing above it (services, gateway, cli, launcher)", () => {
  const found = violations(graph, (from, to) => from.startsWith("mesh/") && ["services/", "gateway/", "cli/", "launcher/"].some((dir) => to.startsWith(dir)));
  assert.deepEqual(found, [], `mesh importing the layers above it:\n  ${found.join("\n  ")}`);
});
