/** The worker thread of closedFormLossThread.ts: computes closedFormLoss(workerData) and posts it back with the cache. */
import { parentPort, workerData } from "node:worker_threads";
import { closedFormLoss, type ClosedFormLossInput } from "./closedFormLoss.js";

const input = workerData as ClosedFormLossInput;
const { deltas, rows } = closedFormLoss(input);
parentPort!.postMessage({ deltas, rows, cache: input.cache }, [deltas.buffer as ArrayBuffer]);
