/**
 * The dense sweep's general case (src/engine/sweep/denseSweep.ts, step 2): onnxruntime gathers each evaluated row's
 * cached pre-activation of layer l+1, adds the correction of its zeroed units and runs the remaining layers
 * (tailModel.ts); JS lists (sample, −h per unit) per row and reads back each row's logits, or with loss two numbers
 * per row and the logits of the few rows they leave unclear.
 */
import { yieldThenCheck } from "../../errors.js";
import { OUTPUT_NAME } from "../../onnx/build.js";
import { getSession } from "../model.js";
import { OrtTensor } from "../ort.js";
import type { DenseRows } from "./denseRows.js";
import { TIE_MARGIN } from "./logits.js";
import { ACTIVATIONS_INPUT, CLASS_LOGITS_OUTPUT, CLASSES_INPUT, LOG_PROBABILITIES_OUTPUT, NEXT_INPUT, ROWS_INPUT, tailModel, UNITS_INPUT } from "./tailModel.js";

/** Rows per onnxruntime run of the layers after the site: 8-16k ran fastest (shared note). */
const CHUNK_ROWS = 12288;

/** Bound on one run's activations input (rows × slots × 4 bytes), for conditions of many units. */
const CHUNK_BYTES = 64 * 2 ** 20;

/**
 * Distinct units one chunk's rows may zero between them (the width of its correction product): a few pairs, which in
 * a sweep of all pairs share their first unit. A longer condition widens it to its own length.
 */
const CHUNK_UNITS = 8;

/**
 * A row's decision for its intact prediction t is clear (top − runner-up > TIE_MARGIN·max(|top|, |runner-up|, 1), as
 * in decide) where log p_t > CLEAR_LOG_PROBABILITY + CLEAR_SLOPE·max(|top|, 1). Why: if every gap z_t − z_c exceeds
 * δ := TIE_MARGIN·max(|top|, 1)/(1 − TIE_MARGIN) the decision is clear (|runner-up| ≤ max(|top|, 1) + gap), and
 * log p_t > −log(1 + e^−δ) implies it, since one gap ≤ δ puts e^−δ into the sum of e^−gap; −log(1 + e^−δ) ≤ −log 2 + δ/2.
 * Both terms carry 1e-4 for the float32 log-softmax's error (~1e-5: z_t − max is exactly 0 where t leads, and the sum
 * of exponentials lies in [1, k]); rows that miss it read their k logits.
 */
const CLEAR_LOG_PROBABILITY = -Math.LN2 + 1e-4;
const CLEAR_SLOPE = TIE_MARGIN / (1 - TIE_MARGIN) / 2 + 1e-4;

/**
 * Evaluates the rows `sweep.rowsOf` lists for each of its conditions, in chunks of up to CHUNK_ROWS rows (fewer for
 * conditions of many units) whose conditions zero at most CHUNK_UNITS distinct units (or the longest condition's
 * count) between them, and settles each in `sweep`. One graph (one session per site and mode) serves every chunk.
 * Throws `aborted`.
 */
export async function denseTail(sweep: DenseRows): Promise<void> {
  const { input, n, units } = sweep;
  const { model, chain, siteLayer, conditions } = input;
  const slots = conditions.reduce((max, c) => Math.max(max, c.length), CHUNK_UNITS);
  const key = `dense:tail:${siteLayer}:${slots}:${input.loss ? "loss" : "plain"}`;
  const session = await getSession(model, key, () => tailModel(chain, siteLayer, slots, input.loss));
  const width = chain.layers[siteLayer + 1].out;
  const chunkRows = Math.max(256, Math.min(CHUNK_ROWS, Math.floor(CHUNK_BYTES / (4 * slots))));
  const chunk = newChunk(chunkRows, slots, units);
  const cached: Record<string, OrtTensor> = { [NEXT_INPUT]: new OrtTensor("float32", sweep.intact.pre[siteLayer + 1], [n, width]) };
  if (input.loss) {
    const classes = new Int32Array(2 * n);
    for (let s = 0; s < n; s++) {
      classes[2 * s] = input.labels[s];
      classes[2 * s + 1] = sweep.intact.predictions[s];
    }
    cached[CLASSES_INPUT] = new OrtTensor("int32", classes, [n, 2]);
  }
  // Outputs written into buffers kept for the whole sweep, not a new [rows, k] one per run. With loss, a chunk's run
  // returns two numbers per row, and the rows whose decision they leave unclear (3.5% of mlp100x3's h0 pairs) wait in
  // `again` until it is full, then run together for their k logits and their loss: each row's loss and logits from
  // one evaluation. (Fetching every row's logits in the chunk's own run cost as much as a run of its own: ~0.25 ms per
  // 12,288 rows; one run of the unclear rows per chunk had cost ~0.15 ms each, 8% of h0's pairs with loss.)
  const k = sweep.k;
  const logits = new Float32Array(chunkRows * k);
  const again = input.loss ? newChunk(chunkRows, slots, units) : null;
  const probabilities = new Float32Array(2 * chunkRows);
  const classLogits = new Float32Array(2 * chunkRows);
  const unclear = new Int32Array(chunkRows);
  const row = new Float64Array(k);
  const run = (rows: Chunk, outputs: string[]) =>
    session.run(
      {
        ...cached,
        [ROWS_INPUT]: new OrtTensor("int32", rows.samples.subarray(0, rows.filled), [rows.filled]),
        [ACTIVATIONS_INPUT]: new OrtTensor("float32", rows.activations.subarray(0, rows.filled * slots), [rows.filled, slots]),
        [UNITS_INPUT]: new OrtTensor("int32", rows.units, [slots]),
      },
      Object.fromEntries(
        outputs.map((name) => {
          const [buffer, width] = name === OUTPUT_NAME ? [logits, k] : name === LOG_PROBABILITIES_OUTPUT ? [probabilities, 2] : [classLogits, 2];
          return [name, new OrtTensor("float32", buffer.subarray(0, rows.filled * width), [rows.filled, width])];
        }),
      ),
    );
  const runAgain = async () => {
    if (!again || again.filled === 0) return;
    await run(again, [OUTPUT_NAME, LOG_PROBABILITIES_OUTPUT]);
    read(sweep, row, again.samples, again.conditions, again.filled, logits, probabilities);
    emptied(again, units);
  };
  let queued = 0;
  const flush = async () => {
    const filled = chunk.filled;
    if (filled === 0) return;
    await yieldThenCheck(input.signal);
    if (again) {
      await run(chunk, [LOG_PROBABILITIES_OUTPUT, CLASS_LOGITS_OUTPUT]);
      const count = readClear(sweep, chunk.samples, chunk.conditions, filled, probabilities, classLogits, unclear);
      for (let x = 0; x < count; x++) {
        const r = unclear[x];
        const unitsOf = conditions[chunk.conditions[r]];
        if (again.filled === chunkRows || newUnits(again, unitsOf) > slots - again.used) await runAgain();
        moveRow(chunk, r, again, unitsOf);
      }
    } else {
      await run(chunk, [OUTPUT_NAME]);
      read(sweep, row, chunk.samples, chunk.conditions, filled, logits, null);
    }
    emptied(chunk, units);
    input.onProgress?.(queued, conditions.length);
  };
  for (let c = 0; c < conditions.length; c++) {
    const count = sweep.rowsOf(conditions[c], c);
    if (count === 0) {
      queued = c + 1;
      continue;
    }
    if (newUnits(chunk, conditions[c]) > slots - chunk.used) await flush();
    for (let r = 0; r < count; ) {
      r = queue(sweep, chunk, c, r, count);
      if (chunk.filled === chunkRows) await flush();
    }
    queued = c + 1;
  }
  await flush();
  await runAgain();
}

/**
 * Reads one tail run's rows with loss from their log-probabilities and logits at (label, intact prediction t), both
 * [rows, 2] (denseTail.ts): where log p_t shows the decision for t clear (CLEAR_LOG_PROBABILITY), records the loss;
 * lists the other rows in `unclear` (row indices) and returns their count, for a run that returns their k logits.
 */
function readClear(sweep: DenseRows, samples: Int32Array, conditions: Int32Array, filled: number, probabilities: Float32Array, classLogits: Float32Array, unclear: Int32Array): number {
  const { outcomes } = sweep;
  const intactLoss = sweep.intact.loss;
  // A chunk's rows come in runs of one condition: the loss changes of a run's clear rows are summed before they
  // enter its outcome (not when a single's row stores its loss).
  const sum = !sweep.input.losses;
  let c = -1;
  let delta = 0;
  let count = 0;
  for (let r = 0; r < filled; r++) {
    if (conditions[r] !== c) {
      if (c >= 0) outcomes[c].lossDelta += delta;
      c = conditions[r];
      delta = 0;
    }
    if (!(probabilities[2 * r + 1] > CLEAR_LOG_PROBABILITY + CLEAR_SLOPE * Math.max(Math.abs(classLogits[2 * r + 1]), 1))) {
      unclear[count++] = r;
      continue;
    }
    const loss = -probabilities[2 * r];
    if (sum) delta += loss - intactLoss[samples[r]];
    else sweep.addLoss(c, samples[r], loss);
  }
  if (c >= 0) outcomes[c].lossDelta += delta;
  sweep.evaluated += filled - count;
  return count;
}

/**
 * Reads one tail run's rows (denseTail.ts): logits [rows, k] and, with loss, per row the float32 log-softmax at its
 * label (−cross-entropy) and at its intact prediction t. A clear decision for t (the test of decide; an equal
 * runner-up is not clear, as the lower class wins a tie) changes no prediction: only its loss is recorded; other
 * rows are settled. With loss, most rows show their decision clear by log p_t alone (CLEAR_LOG_PROBABILITY), the
 * others by their k logits.
 */
function read(sweep: DenseRows, row: Float64Array, samples: Int32Array, conditions: Int32Array, filled: number, logits: Float32Array, probabilities: Float32Array | null): void {
  const { k, outcomes } = sweep;
  const gaps = sweep.input.gaps;
  const predictions = sweep.intact.predictions;
  const intactLoss = sweep.intact.loss;
  // A chunk's rows come in runs of one condition: the loss changes of a run's clear rows are summed before they
  // enter its outcome (not when a single's row stores its loss).
  const sum = probabilities !== null && !sweep.input.losses;
  let c = -1;
  let delta = 0;
  let clear = 0;
  for (let r = 0, from = 0; r < filled; r++, from += k) {
    if (conditions[r] !== c) {
      if (c >= 0) outcomes[c].lossDelta += delta;
      c = conditions[r];
      delta = 0;
    }
    const sample = samples[r];
    if (gaps) sweep.noteGaps(c, sample, logits, from);
    const t = predictions[sample];
    const top = logits[from + t];
    let isClear = probabilities !== null && probabilities[2 * r + 1] > CLEAR_LOG_PROBABILITY + CLEAR_SLOPE * Math.max(Math.abs(top), 1);
    if (!isClear) {
      // The largest other logit; Math.max propagates NaN (which fails the test).
      let runnerUp = -3.4e38;
      for (let j = from; j < from + t; j++) runnerUp = Math.max(runnerUp, logits[j]);
      for (let j = from + t + 1; j < from + k; j++) runnerUp = Math.max(runnerUp, logits[j]);
      isClear = top - runnerUp > TIE_MARGIN * Math.max(Math.abs(top), Math.abs(runnerUp), 1);
    }
    const loss = probabilities !== null ? -probabilities[2 * r] : NaN;
    if (isClear) {
      clear++;
      if (sum) delta += loss - intactLoss[sample];
      else if (probabilities !== null) sweep.addLoss(c, sample, loss);
      continue;
    }
    for (let j = 0; j < k; j++) row[j] = logits[from + j];
    sweep.settle(c, sample, row, loss);
  }
  if (c >= 0) outcomes[c].lossDelta += delta;
  sweep.evaluated += clear;
}

/** An empty chunk of `rows` rows and `slots` slots, for a site of `units` units. */
function newChunk(rows: number, slots: number, units: number): Chunk {
  return {
    samples: new Int32Array(rows),
    activations: new Float32Array(rows * slots),
    units: new Int32Array(slots).fill(units),
    slotOf: new Int32Array(units + 1).fill(-1),
    used: 0,
    conditions: new Int32Array(rows),
    filled: 0,
  };
}

/** Empties a chunk after its run: no rows, no units (the site's width in every slot: the zero weight row). */
function emptied(chunk: Chunk, units: number): void {
  chunk.activations.fill(0, 0, chunk.filled * chunk.units.length);
  for (let i = 0; i < chunk.used; i++) chunk.slotOf[chunk.units[i]] = -1;
  chunk.units.fill(units);
  chunk.used = 0;
  chunk.filled = 0;
}

/** Appends row r of `from` (condition `unitsOf`) to `to`, its −h moved into `to`'s slots for the same units (the caller made room). */
function moveRow(from: Chunk, r: number, to: Chunk, unitsOf: number[]): void {
  const slots = from.units.length;
  const x = to.filled++;
  to.samples[x] = from.samples[r];
  to.conditions[x] = from.conditions[r];
  for (const u of unitsOf) to.activations[x * slots + slotFor(to, u)] = from.activations[r * slots + from.slotOf[u]];
}

/** Unit u's slot in the chunk, given the next free one where it has none yet (the caller made room). */
function slotFor(chunk: Chunk, u: number): number {
  let slot = chunk.slotOf[u];
  if (slot < 0) {
    slot = chunk.slotOf[u] = chunk.used++;
    chunk.units[slot] = u;
  }
  return slot;
}

/** How many of a condition's units the chunk has no slot for yet. */
function newUnits(chunk: Chunk, unitsOf: number[]): number {
  let count = 0;
  for (let i = 0; i < unitsOf.length; i++) if (chunk.slotOf[unitsOf[i]] < 0 && unitsOf.indexOf(unitsOf[i]) === i) count++;
  return count;
}

/** Queues sweep.rows[from..count) of condition c until the chunk is full; returns where it stopped. */
function queue(sweep: DenseRows, chunk: Chunk, c: number, from: number, count: number): number {
  const { rows, n } = sweep;
  const active = sweep.activeByUnit();
  const unitsOf = sweep.input.conditions[c];
  const slots = chunk.units.length;
  const take = Math.min(count - from, chunk.samples.length - chunk.filled);
  const at = chunk.filled;
  chunk.samples.set(rows.subarray(from, from + take), at);
  chunk.conditions.fill(c, at, at + take);
  const { activations } = chunk;
  for (const u of unitsOf) {
    const slot = slotFor(chunk, u);
    // −h. Set, not added: a unit named twice is zeroed once.
    const base = u * n;
    for (let r = 0, to = at * slots + slot; r < take; r++, to += slots) activations[to] = -active[base + rows[from + r]];
  }
  chunk.filled += take;
  return from + take;
}

/** One onnxruntime run's rows: sample, condition, per slot −h (0 where the row's condition does not zero the unit). */
interface Chunk {
  samples: Int32Array;
  /** [rows, slots] row-major. */
  activations: Float32Array;
  /** Slot → unit (the site's width where unused: the zero weight row). */
  units: Int32Array;
  /** Unit → slot, −1 where none. */
  slotOf: Int32Array;
  used: number;
  conditions: Int32Array;
  filled: number;
}
