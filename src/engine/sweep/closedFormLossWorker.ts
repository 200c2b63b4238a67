/** The worker thread of closedFormLossThread.ts: computes closedFormLoss(workerData) and posts it back with the cache. */
import { parentPort, workerData } from "node:worker_threads";
import { closedFormLoss, type ClosedFormLossInput } from "./closedFormLoss.js";

const input = workerData as ClosedFormLossInput;
const { deltas, rows, candidates } = closedFormLoss(input);
// The cache's candidates are the answer's: one copy goes back.
parentPort!.postMessage({ deltas, rows, candidates, cache: { ...input.cache, candidates: null } }, [deltas.buffer as ArrayBuffer]);
