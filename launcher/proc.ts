/**
 * Just enough of Linux /proc to answer "is this process still there, who is its parent, what is it
 * running". Used to judge a leftover postmaster.pid and, in tests, to prove nothing was left behind.
 */
import { readdirSync, readFileSync } from "node:fs";

export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** Kernel state letter: R, S, D, Z (zombie), ... */
  state: string;
  /** Start time in clock ticks since boot: together with the pid it names one process, even after reuse. */
  startTime: number;
  argv: string[];
}

export function processInfo(pid: number): ProcessInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces and parentheses; everything after the last ")" is safe.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((a) => a !== "");
    return { pid, state: fields[0]!, ppid: Number(fields[1]), startTime: Number(fields[19]), argv };
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie. Falls back to kill(0) where /proc is missing. */
export function isAlive(pid: number): boolean {
  const info = processInfo(pid);
  if (info) return info.state !== "Z";
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Every live process below `rootPid` in the process tree (not including it). */
export function descendants(rootPid: number): ProcessInfo[] {
  const all: ProcessInfo[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const info = processInfo(Number(name));
    if (info) all.push(info);
  }
  const found: ProcessInfo[] = [];
  const frontier = [rootPid];
  while (frontier.length > 0) {
    const parent = frontier.pop()!;
    for (const p of all) {
      if (p.ppid === parent) {
        found.push(p);
        frontier.push(p.pid);
      }
    }
  }
  return found;
}
