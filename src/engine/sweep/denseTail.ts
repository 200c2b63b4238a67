/**
 * The dense sweep's general case (src/engine/sweep/denseSweep.ts, step 2): onnxruntime gathers each evaluated row's
 * cached pre-activation of layer l+1, subtracts the rank-k correction of its zeroed units and runs the remaining
 * layers (tailModel.ts); JS only lists (sample, units) per row and reads back two logits per row (all k near a tie).
 */
import { throwIfAborted } from "../../errors.js";
import { OUTPUT_NAME } from "../../onnx/build.js";
import { getSession } from "../model.js";
import { OrtTensor } from "../ort.js";
import type { DenseRows } from "./denseRows.js";
import { DENSE_SESSION } from "./forward64.js";
import { TIE_MARGIN } from "./logits.js";
import { activationInput, LABELS_INPUT, LOSS_OUTPUT, NEXT_INPUT, ROWS_INPUT, RUNNER_UP_OUTPUT, tailModel, TARGETS_INPUT, TOP_OUTPUT, weightsInput } from "./tailModel.js";

/** Rows per onnxruntime run of the layers after the site: 8-16k ran fastest (shared note). */
const CHUNK_ROWS = 12288;

/** Bound on the gathered weight rows of one run (rows × units per condition × width × 4 bytes). */
const CHUNK_BYTES = 64 * 2 ** 20;

/**
 * Evaluates the rows `sweep.rowsOf` lists for each of its conditions, in chunks of up to CHUNK_ROWS rows, and settles
 * each in `sweep`. Conditions of up to `slots` units share a graph (shorter ones padded with a zero weight row).
 * Throws `aborted`.
 */
export async function denseTail(sweep: DenseRows): Promise<void> {
  const { input, n } = sweep;
  const { model, chain, siteLayer, conditions } = input;
  const slots = conditions.reduce((max, c) => Math.max(max, c.length), 1);
  const session = await getSession(model, `dense:tail:${siteLayer}:${slots}:${input.loss ? "loss" : "plain"}`, () => tailModel(chain, siteLayer, slots, input.loss), DENSE_SESSION);
  const width = chain.layers[siteLayer + 1].out;
  const chunkRows = Math.max(256, Math.min(CHUNK_ROWS, Math.floor(CHUNK_BYTES / (4 * slots * width))));
  const chunk: Chunk = {
    samples: new Int32Array(chunkRows),
    activations: Array.from({ length: slots }, () => new Float32Array(chunkRows)),
    weights: Array.from({ length: slots }, () => new Int32Array(chunkRows)),
    conditions: new Int32Array(chunkRows),
    targets: new Int32Array(chunkRows),
    labels: input.loss ? new Int32Array(chunkRows) : null,
    filled: 0,
  };
  const cached = { [NEXT_INPUT]: new OrtTensor("float32", sweep.intact.pre[siteLayer + 1], [n, width]) };
  let queued = 0;
  const flush = async () => {
    const filled = chunk.filled;
    if (filled === 0) return;
    throwIfAborted(input.signal);
    const out = await session.run({
      ...cached,
      [ROWS_INPUT]: new OrtTensor("int32", chunk.samples.subarray(0, filled), [filled]),
      [TARGETS_INPUT]: new OrtTensor("int32", chunk.targets.subarray(0, filled), [filled, 1]),
      ...(chunk.labels ? { [LABELS_INPUT]: new OrtTensor("int32", chunk.labels.subarray(0, filled), [filled, 1]) } : {}),
      ...Object.fromEntries(chunk.activations.map((values, i) => [activationInput(i), new OrtTensor("float32", values.subarray(0, filled), [filled, 1])])),
      ...Object.fromEntries(chunk.weights.map((index, i) => [weightsInput(i), new OrtTensor("int32", index.subarray(0, filled), [filled])])),
    });
    read(sweep, chunk, out[OUTPUT_NAME].data as Float32Array, out[TOP_OUTPUT].data as Float32Array, out[RUNNER_UP_OUTPUT].data as Float32Array, chunk.labels ? (out[LOSS_OUTPUT].data as Float32Array) : null);
    chunk.filled = 0;
    input.onProgress?.(queued, conditions.length);
  };
  for (let c = 0; c < conditions.length; c++) {
    const count = sweep.rowsOf(conditions[c], c);
    for (let r = 0; r < count; ) {
      r = queue(sweep, chunk, c, r, count, chunkRows);
      if (chunk.filled === chunkRows) await flush();
    }
    queued = c + 1;
  }
  await flush();
}

/** Queues sweep.rows[from..count) of condition c until the chunk is full; returns where it stopped. */
function queue(sweep: DenseRows, chunk: Chunk, c: number, from: number, count: number, chunkRows: number): number {
  const { rows, units, siteValues } = sweep;
  const unitsOf = sweep.input.conditions[c];
  const slots = chunk.activations.length;
  const take = Math.min(count - from, chunkRows - chunk.filled);
  const at = chunk.filled;
  chunk.samples.set(rows.subarray(from, from + take), at);
  chunk.conditions.fill(c, at, at + take);
  const predictions = sweep.intact.predictions;
  for (let r = 0; r < take; r++) chunk.targets[at + r] = predictions[rows[from + r]];
  if (chunk.labels) for (let r = 0; r < take; r++) chunk.labels[at + r] = sweep.input.labels[rows[from + r]];
  for (let i = 0; i < slots; i++) {
    const activations = chunk.activations[i];
    if (i < unitsOf.length) {
      const u = unitsOf[i];
      chunk.weights[i].fill(u, at, at + take);
      // −h: siteValues are pre-activations, the ReLU is applied here.
      for (let r = 0; r < take; r++) activations[at + r] = -Math.max(0, siteValues[rows[from + r] * units + u]);
    } else {
      // Padding: 0 against the zero weight row `units` adds nothing.
      chunk.weights[i].fill(units, at, at + take);
      activations.fill(0, at, at + take);
    }
  }
  chunk.filled += take;
  return from + take;
}

/** Reads a chunk's logits: without loss, a clear decision for the intact class changes nothing to record. */
function read(sweep: DenseRows, chunk: Chunk, logits: Float32Array, top: Float32Array, runnerUp: Float32Array, losses: Float32Array | null): void {
  const { k } = sweep;
  const { gaps } = sweep.input;
  const { samples, conditions, filled } = chunk;
  const row = new Float64Array(k);
  for (let r = 0; r < filled; r++) {
    const from = r * k;
    const sample = samples[r];
    if (gaps) sweep.noteGaps(conditions[r], sample, logits, from);
    // A clear decision for the intact class (the test of decide; an equal runner-up is not clear, as the lower
    // class wins a tie) changes no prediction: only the loss is recorded.
    if (top[r] - runnerUp[r] > TIE_MARGIN * Math.max(Math.abs(top[r]), Math.abs(runnerUp[r]), 1)) {
      sweep.evaluated++;
      if (losses) sweep.addLoss(conditions[r], sample, losses[r]);
      continue;
    }
    for (let j = 0; j < k; j++) row[j] = logits[from + j];
    sweep.settle(conditions[r], sample, row, losses ? losses[r] : NaN);
  }
}

/** One onnxruntime run's rows: sample, per slot the unit's activation and weight row, condition, intact prediction. */
interface Chunk {
  samples: Int32Array;
  targets: Int32Array;
  /** With loss: each row's label. */
  labels: Int32Array | null;
  activations: Float32Array[];
  weights: Int32Array[];
  conditions: Int32Array;
  filled: number;
}
