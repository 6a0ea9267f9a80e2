// A worker thread's first module. On Node 20 the loader hooks that `--import tsx` installs do not reach
// worker threads (nodejs/node#47747), so a worker registers tsx itself, then loads its TypeScript module.
// Plain JavaScript because nothing can compile this file for it.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.module);
