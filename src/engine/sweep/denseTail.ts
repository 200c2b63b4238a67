/**
 * The dense sweep's general case (src/engine/sweep/denseSweep.ts, step 2): onnxruntime gathers each evaluated row's
 * cached pre-activation of layer l+1, adds the correction of its zeroed units and runs the remaining layers
 * (tailModel.ts); JS lists (sample, −h per unit) per row and reads back each row's logits (and loss).
 */
import { throwIfAborted } from "../../errors.js";
import { OUTPUT_NAME } from "../../onnx/build.js";
import { getSession } from "../model.js";
import { OrtTensor } from "../ort.js";
import type { DenseRows } from "./denseRows.js";
import { ACTIVATIONS_INPUT, CLASSES_INPUT, LOG_PROBABILITIES_OUTPUT, NEXT_INPUT, ROWS_INPUT, tailModel, UNITS_INPUT } from "./tailModel.js";

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
 * Evaluates the rows `sweep.rowsOf` lists for each of its conditions, in chunks of up to CHUNK_ROWS rows (fewer for conditions of many units) whose
 * conditions zero at most CHUNK_UNITS distinct units (or the longest condition's count) between them, and settles each
 * in `sweep`. One graph (one session per site and mode) serves every chunk. Throws `aborted`.
 */
export async function denseTail(sweep: DenseRows): Promise<void> {
  const { input, n, units } = sweep;
  const { model, chain, siteLayer, conditions } = input;
  const slots = conditions.reduce((max, c) => Math.max(max, c.length), CHUNK_UNITS);
  const session = await getSession(model, `dense:tail:${siteLayer}:${slots}:${input.loss ? "loss" : "plain"}`, () => tailModel(chain, siteLayer, slots, input.loss));
  const width = chain.layers[siteLayer + 1].out;
  const chunkRows = Math.max(256, Math.min(CHUNK_ROWS, Math.floor(CHUNK_BYTES / (4 * slots))));
  const chunk: Chunk = {
    samples: new Int32Array(chunkRows),
    activations: new Float32Array(chunkRows * slots),
    units: new Int32Array(slots).fill(units),
    slotOf: new Int32Array(units + 1).fill(-1),
    used: 0,
    conditions: new Int32Array(chunkRows),
    filled: 0,
  };
  const cached: Record<string, OrtTensor> = { [NEXT_INPUT]: new OrtTensor("float32", sweep.intact.pre[siteLayer + 1], [n, width]) };
  if (input.loss) {
    const classes = new Int32Array(2 * n);
    for (let s = 0; s < n; s++) {
      classes[2 * s] = input.labels[s];
      classes[2 * s + 1] = sweep.intact.predictions[s];
    }
    cached[CLASSES_INPUT] = new OrtTensor("int32", classes, [n, 2]);
  }
  const unitsTensor = new OrtTensor("int32", chunk.units, [slots]);
  // Outputs written into buffers kept for the whole sweep: onnxruntime would allocate a new [rows, k] one per run.
  const k = sweep.k;
  const logits = new Float32Array(chunkRows * k);
  const probabilities = input.loss ? new Float32Array(2 * chunkRows) : null;
  let queued = 0;
  const flush = async () => {
    const filled = chunk.filled;
    if (filled === 0) return;
    throwIfAborted(input.signal);
    await session.run({
      ...cached,
      [ROWS_INPUT]: new OrtTensor("int32", chunk.samples.subarray(0, filled), [filled]),
      [ACTIVATIONS_INPUT]: new OrtTensor("float32", chunk.activations.subarray(0, filled * slots), [filled, slots]),
      [UNITS_INPUT]: unitsTensor,
    }, {
      [OUTPUT_NAME]: new OrtTensor("float32", logits.subarray(0, filled * k), [filled, k]),
      ...(probabilities ? { [LOG_PROBABILITIES_OUTPUT]: new OrtTensor("float32", probabilities.subarray(0, 2 * filled), [filled, 2]) } : {}),
    });
    sweep.read(chunk.samples, chunk.conditions, filled, logits, probabilities);
    chunk.activations.fill(0, 0, filled * slots);
    for (let i = 0; i < chunk.used; i++) chunk.slotOf[chunk.units[i]] = -1;
    chunk.units.fill(units);
    chunk.used = 0;
    chunk.filled = 0;
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
  const { activations, slotOf } = chunk;
  for (const u of unitsOf) {
    let slot = slotOf[u];
    if (slot < 0) {
      slot = slotOf[u] = chunk.used++;
      chunk.units[slot] = u;
    }
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
