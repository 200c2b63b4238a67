/**
 * closedFormLoss (closedFormLoss.ts) on the machine's other cores. A sweep of pairs at a site that feeds the output
 * layer computes its loss in JS from cached values while the main thread decides the same conditions' predictions:
 * the loss runs in worker threads beside it, so the loss costs little more wall time than the predictions alone.
 * The worker imports closedFormLoss.js (and its kernels) and nothing else: no onnxruntime (not safe in worker threads) is
 * loaded there.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { closedFormLoss, isPair, type ClosedFormLoss, type ClosedFormLossInput } from "./closedFormLoss.js";
import type { PairCandidates, PairLossCache } from "./types.js";

/** Fewer pairs than this are computed in place: a worker's start (~30 ms) would not pay for itself. */
const THREAD_PAIRS = 64;

/** The workers get a copy of the site's values: beyond this size (a wide layer on a large data set), not worth it. */
const THREAD_BYTES = 256 * 2 ** 20;

/** Workers at most: each takes a share of the samples. */
const THREADS = 4;

/** Samples a worker's share holds at least. */
const SHARE_SAMPLES = 256;

/**
 * A loss being computed: `wait` settles with closedFormLoss's answer once the workers' shares are in;
 * `cancel` stops the workers (for a caller that gives up on the result: `wait` then never settles).
 */
export interface PendingLoss {
  wait(): Promise<ClosedFormLoss>;
  /** How many worker threads compute it, each a share of the samples (0: it was computed in this thread). */
  threads: number;
  cancel(): void;
  /** Lets the workers keep the process alive (the default); `unref` lets the process end without waiting for them. */
  ref(): void;
  unref(): void;
}

/**
 * Starts closedFormLoss(input) in worker threads when the call computes the sums of many pairs, else computes it
 * here; `input.cache` is updated either way. Every sum it computes runs over the samples, so the samples are split
 * into shares whose sums add up, one per worker: up to THREADS, one per core but the caller's, which keeps working
 * beside them (the sweep's predictions). Run from the TypeScript sources (the tests), where no compiled worker exists,
 * it computes here; a share whose worker fails is computed here: the same function, the same numbers.
 */
export function closedFormLossBeside(input: ClosedFormLossInput): PendingLoss {
  if (!import.meta.url.endsWith(".js") || !worthAThread(input)) {
    const answer = closedFormLoss(input);
    return { wait: async () => answer, threads: 0, cancel() {}, ref() {}, unref() {} };
  }
  const n = input.labels.length;
  // The hidden layer's loss (hiddenLoss.ts) costs more than the predictions beside it: it takes every core, the
  // caller's too, whose predictions finish first.
  const cores = input.hidden ? availableParallelism() : availableParallelism() - 1;
  const count = Math.max(1, Math.min(THREADS, cores, Math.floor(n / SHARE_SAMPLES)));
  const workers: Worker[] = [];
  const starts = Array.from({ length: count }, (_, i) => Math.floor((i * n) / count));
  const shares = starts.map((from, i) => inWorker(() => part(input, from, i + 1 < count ? starts[i + 1] : n), workers));
  let answer: Promise<ClosedFormLoss> | null = null;
  const wait = () => (answer ??= Promise.all(shares).then((answers) => merged(input, answers, starts)));
  return {
    wait,
    threads: shares.length,
    cancel() {
      for (const worker of workers) {
        worker.removeAllListeners();
        void worker.terminate();
      }
    },
    ref() {
      for (const worker of workers) worker.ref();
    },
    unref() {
      for (const worker of workers) worker.unref();
    },
  };
}

/**
 * The shares' answers added up (share i's samples start at starts[i]); their caches (the same units) added into
 * input.cache; their pair candidates one after the other, in sample order.
 */
function merged(input: ClosedFormLossInput, answers: Array<ClosedFormLoss & { cache: PairLossCache }>, starts: number[]): ClosedFormLoss {
  const deltas = new Float64Array(input.conditions.length);
  let rows = 0;
  for (const answer of answers) {
    rows += answer.rows;
    for (let c = 0; c < deltas.length; c++) deltas[c] += answer.deltas[c];
  }
  const lists = answers.map((a) => a.candidates ?? null);
  let candidates: PairCandidates | null = null;
  if (lists.every((l) => l !== null)) {
    const size = lists.reduce((sum, l) => sum + l!.cells.length, 0);
    candidates = { cells: new Int32Array(size), samples: new Int32Array(size), classes: new Int32Array(size) };
    let at = 0;
    lists.forEach((l, i) => {
      candidates!.cells.set(l!.cells, at);
      candidates!.classes.set(l!.classes, at);
      for (let r = 0; r < l!.samples.length; r++) candidates!.samples[at + r] = l!.samples[r] + starts[i];
      at += l!.cells.length;
    });
  }
  const caches = answers.map((a) => a.cache);
  // A share leaves its cache empty where the call keeps none.
  if (input.cache && caches[0].units) {
    const add = (pick: (c: PairLossCache) => Float64Array | null) => {
      const first = pick(caches[0]);
      if (!first) return null;
      const sum = new Float64Array(first.length);
      for (const c of caches) pick(c)!.forEach((v, i) => (sum[i] += v));
      return sum;
    };
    Object.assign(input.cache, { units: caches[0].units, singles: add((c) => c.singles), pairs: add((c) => c.pairs) });
    // The shares' candidates (the workers send them beside their caches, not in them).
    input.cache.candidates = input.cache.pairs ? candidates : null;
  }
  return { deltas, rows, candidates };
}

/** The input restricted to samples [from, to), copied (a view's whole buffer would be cloned), with a cache of its own. */
function part(input: ClosedFormLossInput, from: number, to: number): ClosedFormLossInput {
  const { k, units } = input;
  return {
    ...input,
    logits: input.logits.slice(from * k, to * k),
    values: input.values.slice(from * units, to * units),
    weight: input.weight.slice(),
    labels: input.labels.slice(from, to),
    predictions: input.predictions?.slice(from, to),
    hidden: input.hidden && { ...input.hidden, next: input.hidden.next.slice(from * input.hidden.width, to * input.hidden.width), weight: input.hidden.weight.slice() },
    cache: { units: null, singles: null, pairs: null, candidates: null },
  };
}

/** closedFormLoss of a part in a new worker (added to `workers`); computed here, from a new copy, if the worker fails. */
function inWorker(part: () => ClosedFormLossInput, workers: Worker[]): Promise<ClosedFormLoss & { cache: PairLossCache }> {
  return new Promise((resolve) => {
    let settled = false;
    const here = () => {
      if (settled) return;
      settled = true;
      const data = part();
      const { deltas, rows, candidates } = closedFormLoss(data);
      resolve({ deltas, rows, candidates, cache: data.cache! });
    };
    let worker: Worker;
    try {
      const data = part();
      // Transferred, not cloned: the part's copies are the worker's alone.
      const hidden = data.hidden ? [data.hidden.next.buffer, data.hidden.weight.buffer] : [];
      if (data.predictions) hidden.push(data.predictions.buffer);
      worker = new Worker(new URL("./closedFormLossWorker.js", import.meta.url), { workerData: data, transferList: [data.logits.buffer, data.values.buffer, data.weight.buffer, data.labels.buffer, ...hidden] as ArrayBuffer[] });
    } catch {
      here();
      return;
    }
    workers.push(worker);
    worker.once("message", (answer: ClosedFormLoss & { cache: PairLossCache }) => {
      settled = true;
      resolve(answer);
    });
    // A worker that fails (it should not) leaves its part to this thread.
    worker.once("error", here);
    worker.once("exit", (code) => code !== 0 && here());
  });
}

/** Whether the call computes pair sums (a pairs sweep the cache does not hold yet) on data small enough to copy. */
export function worthAThread(input: ClosedFormLossInput): boolean {
  if (input.values.byteLength + input.logits.byteLength > THREAD_BYTES) return false;
  // A share is at least SHARE_SAMPLES samples: a smaller data set is computed here (200 samples made no share at all).
  if (input.labels.length < SHARE_SAMPLES) return false;
  const pairs = input.conditions.filter(isPair);
  if (pairs.length < THREAD_PAIRS) return false;
  const cache = input.cache;
  return !(cache?.pairs && pairs.every((c) => c.every((u) => cache.units![u] === 1)));
}
