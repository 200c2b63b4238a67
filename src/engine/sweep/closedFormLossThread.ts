/**
 * closedFormLoss (closedFormLoss.ts) on the machine's other core. A sweep of pairs at a site that feeds the output
 * layer computes its loss in JS from cached values while the main thread decides the same conditions' predictions:
 * the loss runs in a worker thread beside it, so the loss costs little more wall time than the predictions alone.
 * The worker imports closedFormLoss.js and nothing else: no onnxruntime (not safe in worker threads) is loaded there.
 */
import { Worker } from "node:worker_threads";
import { closedFormLoss, type ClosedFormLoss, type ClosedFormLossInput } from "./closedFormLoss.js";

/** Fewer pairs than this are computed in place: a worker's start (~30 ms) would not pay for itself. */
const THREAD_PAIRS = 64;

/** The worker gets a copy of the site's values: beyond this size (a wide layer on a large data set), not worth it. */
const THREAD_BYTES = 256 * 2 ** 20;

/**
 * A loss being computed: `result` settles with closedFormLoss's answer; `cancel` stops the worker (for a caller that
 * gives up on the result: it then never settles).
 */
export interface PendingLoss {
  result: Promise<ClosedFormLoss>;
  /** Whether a worker thread computes it (else it was computed in this thread). */
  thread: boolean;
  cancel(): void;
  /** Lets the worker keep the process alive (the default); `unref` lets the process end without waiting for it. */
  ref(): void;
  unref(): void;
}

/**
 * Starts closedFormLoss(input) in a worker thread when the call computes the sums of many pairs, else computes it
 * here; `input.cache` is updated either way. Run from the TypeScript sources (the tests), where no compiled worker
 * exists, or where a worker cannot start, it computes here: the same function, the same numbers.
 */
export function closedFormLossBeside(input: ClosedFormLossInput): PendingLoss {
  const script = new URL("./closedFormLossWorker.js", import.meta.url);
  if (!import.meta.url.endsWith(".js") || !worthAThread(input)) return { result: Promise.resolve(closedFormLoss(input)), thread: false, cancel() {}, ref() {}, unref() {} };
  // Copies of the views: a view's whole underlying buffer would be cloned otherwise.
  const data: ClosedFormLossInput = { ...input, logits: input.logits.slice(), values: input.values.slice(), weight: input.weight.slice(), labels: input.labels.slice() };
  let worker: Worker | null = null;
  const result = new Promise<ClosedFormLoss>((resolve) => {
    let settled = false;
    const here = () => {
      if (settled) return;
      settled = true;
      resolve(closedFormLoss(input));
    };
    try {
      worker = new Worker(script, { workerData: data, transferList: [data.logits.buffer, data.values.buffer, data.weight.buffer, data.labels.buffer] as ArrayBuffer[] });
    } catch {
      here();
      return;
    }
    worker.once("message", (answer: ClosedFormLoss & { cache: ClosedFormLossInput["cache"] }) => {
      settled = true;
      if (input.cache && answer.cache) Object.assign(input.cache, answer.cache);
      resolve({ deltas: answer.deltas, rows: answer.rows });
    });
    // A worker that fails (it should not) leaves the work to this thread.
    worker.once("error", here);
    worker.once("exit", (code) => code !== 0 && here());
  });
  return {
    result,
    thread: true,
    cancel() {
      worker?.removeAllListeners();
      void worker?.terminate();
    },
    ref() {
      worker?.ref();
    },
    unref() {
      worker?.unref();
    },
  };
}

/** Whether the call computes pair sums (a pairs sweep the cache does not hold yet) on data small enough to copy. */
export function worthAThread(input: ClosedFormLossInput): boolean {
  if (input.values.byteLength + input.logits.byteLength > THREAD_BYTES) return false;
  const pairs = input.conditions.filter((c) => c.length === 2 && c[0] !== c[1]);
  if (pairs.length < THREAD_PAIRS) return false;
  const cache = input.cache;
  return !(cache?.pairs && pairs.every((c) => c.every((u) => cache.units![u] === 1)));
}
