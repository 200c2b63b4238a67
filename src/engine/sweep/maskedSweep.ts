/**
 * The general ablation path, for any graph: cache what the graph computes upstream of the site once per chunk of
 * samples, then run only the suffix graph (the site onward) on the rows a condition can change, many conditions in
 * one batched run (masks are per-row graph inputs). Rows whose top two logits nearly tie are settled by the float64
 * graph: in onnxruntime where it can run it in float64, else (it has no float64 Conv) in lesion's float64 interpreter
 * (src/onnx/float64). Only a graph with an op neither can compute in float64 leaves them counted as unresolved ties
 * instead of being guessed.
 */
import { fail, yieldThenCheck } from "../../errors.js";
import type { Dataset } from "../../data/types.js";
import { compileFloat64, type Float64Graph } from "../../onnx/float64/evaluate64.js";
import { cutTensors, maskInputName, maskShape, offsetInputName, suffixModel, toFloat64, withMasks, withOutputs, type MaskTarget, type SuffixModel } from "../../onnx/surgery.js";
import { fillInput } from "../input.js";
import { crossEntropy, decide, TIE_MARGIN } from "./logits.js";
import { getSession, unitLayout, type LesionModel, type Site } from "../model.js";
import { OrtTensor, type OrtSession } from "../ort.js";
import type { SweepCondition, SweepResult } from "./types.js";
import { anyActive, tallies, tallyResult } from "./tally.js";

export interface MaskedSweepInput {
  model: LesionModel;
  site: Site;
  data: Dataset;
  conditions: SweepCondition[];
  /** Per-unit replacement values for mode "mean". */
  means?: Float64Array;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export { TIE_MARGIN };
/**
 * A chunk's cached cut tensors, and a suffix run's rows, in bytes. On a CNN the sessions run without onnxruntime's
 * memory arena (createSession), so a run's tensors are allocated anew each time, and those beyond glibc's mmap
 * threshold (32 MiB at most) are mapped and faulted in page by page on every run: with a 64 MiB run, mean ablations
 * of cnn:small's conv1 on mnist:test (16 conditions) took 119 s and 6.4 million page faults, with 8 MiB 12.7 s and 0.44
 * million (`/usr/bin/time -f "%e s %M KB %R" lesion ablate cnn.onnx --data mnist:test --site conv1 --mode mean`). The
 * chunk stays at 64 MiB: at 32 MiB glibc kept the prefix runs' tensors, and the ResNet-18 fixture's characterize on
 * cifar10:test peaked at 1,901 MiB (1,323 MiB at 64 MiB; 1,226 MiB with the earlier 256 MiB chunks and 64 MiB runs). An MLP's rows are
 * small: its chunks and runs stay whole (data.n, 16,384 rows).
 */
const CACHE_BYTES = 64 * 2 ** 20;
const BATCH_BYTES = 8 * 2 ** 20;

/** The mask target of a site: one mask entry per unit, on the unit axis of its [N, …] tensor. */
export function maskTarget(site: Site): MaskTarget {
  return { name: site.name, tensor: site.tensor, rank: site.shape.length + 1, units: site.units, unitAxis: site.unitAxis };
}

/**
 * The graph after `site`, masked there and fed the `cut` tensors (with `shapes`, from `tensorShapes`). Throws
 * `unsupported-op` naming the tensor it would have to feed but cannot cache (a non-float tensor computed from the data).
 */
export function siteSuffix(model: LesionModel, site: Site, cut: readonly string[], shapes: ReadonlyMap<string, readonly number[]>): SuffixModel {
  const suffix = suffixModel(model.proto, maskTarget(site), shapes, model.outputName);
  if (!suffix) {
    const tensor = cut.find((t) => !shapes.has(t));
    fail("unsupported-op", `site ${site.name}: the graph after it reads ${tensor}, a non-float tensor computed from the data before the site; lesion cannot cache it`, { site: site.name, tensor });
  }
  return suffix;
}

export async function maskedSweep(input: MaskedSweepInput): Promise<SweepResult> {
  const started = performance.now();
  const { model, site, data, conditions } = input;
  const k = model.numClasses;
  const target = maskTarget(site);
  const { inputs: cut, shapeSources } = cutTensors(model.proto, site.tensor);
  const shapes = await tensorShapes(model, cut, shapeSources);
  const suffix = siteSuffix(model, site, cut, shapes);
  const prefix = await getSession(model, `prefix:${site.name}`, () => withOutputs(model.proto, cut));
  const run = await getSession(model, `suffix:${site.name}`, () => suffix.model);
  const sizes = cut.map((t) => shapes.get(t)!.reduce((a, b) => a * b, 1));
  const rowSize = sizes.reduce((a, b) => a + b, 0);
  const layout = unitLayout(site);
  const chunk = Math.max(1, Math.min(data.n, Math.floor(CACHE_BYTES / (rowSize * 4))));
  const batchRows = Math.max(1, Math.min(16384, Math.floor(BATCH_BYTES / (rowSize * 4))));

  const intactPredictions = new Int32Array(data.n);
  const intactLoss = new Float64Array(data.n);
  const intactTie = new Uint8Array(data.n);
  // lossDelta sums (row loss − intact loss) over evaluated rows whose intact loss is finite; rows whose intact loss is
  // not (non-finite weights: a NaN unit that the condition ablates) add their own loss to lossOwn instead.
  const perCondition = tallies(conditions.length);
  const ties: Array<{ condition: number; sample: number }> = [];
  let rowsEvaluated = 0;

  const sampleSize = data.shape[0] * data.shape[1] * data.shape[2];
  const inputBuffer = new Float32Array(chunk * sampleSize);
  const batch = cut.map((_, i) => new Float32Array(batchRows * sizes[i]));
  const maskBuffer = new Float32Array(batchRows * site.units);
  const offsetBuffer = new Float32Array(batchRows * site.units);
  const rowSample = new Int32Array(batchRows);
  const rowCondition = new Int32Array(batchRows);

  for (let start = 0; start < data.n; start += chunk) {
    const count = Math.min(chunk, data.n - start);
    const modelInput = inputBuffer.subarray(0, count * sampleSize);
    fillInput(modelInput, data.images, start, count, data.shape, model.preprocessing);
    const cached = await prefix.run({ [model.inputName]: new OrtTensor("float32", modelInput, [count, ...model.inputShape]) }, cut);
    const cache = cut.map((t) => cached[t].data as Float32Array);
    let filled = 0;
    const flush = async () => {
      if (filled === 0) return;
      const feeds: Record<string, OrtTensor> = {};
      cut.forEach((tensor, i) => {
        feeds[i === 0 ? `${tensor}::in` : tensor] = new OrtTensor("float32", batch[i].subarray(0, filled * sizes[i]), [filled, ...shapes.get(tensor)!]);
      });
      const dims = maskShape(target, filled) as number[];
      feeds[maskInputName(site.name)] = new OrtTensor("float32", maskBuffer.subarray(0, filled * site.units), dims);
      feeds[offsetInputName(site.name)] = new OrtTensor("float32", offsetBuffer.subarray(0, filled * site.units), dims);
      const logits = (await run.run(feeds, [model.outputName]))[model.outputName].data as Float32Array;
      for (let r = 0; r < filled; r++) {
        const row = logits.subarray(r * k, (r + 1) * k);
        const sample = rowSample[r];
        const c = rowCondition[r];
        const decided = decide(row);
        const tied = decided < 0;
        const best = tied ? -1 - decided : decided;
        const loss = crossEntropy(row, data.labels[sample]);
        if (c < 0) {
          intactPredictions[sample] = best;
          intactLoss[sample] = loss;
        } else {
          const own = perCondition[c];
          if (Number.isFinite(intactLoss[sample])) own.lossDelta += loss - intactLoss[sample];
          else {
            own.lossOwn += loss;
            own.ownRows++;
          }
          if (best !== intactPredictions[sample]) perCondition[c].changed.set(sample, best);
        }
        // A sample near a tie in the intact network is decided in float64 under every condition too.
        if (c < 0 && tied) intactTie[sample] = 1;
        if (tied || (c >= 0 && intactTie[sample] === 1)) ties.push({ condition: c, sample });
      }
      rowsEvaluated += filled;
      filled = 0;
    };
    const addRow = async (local: number, condition: number) => {
      cut.forEach((_, i) => batch[i].set(cache[i].subarray(local * sizes[i], (local + 1) * sizes[i]), filled * sizes[i]));
      const mask = maskBuffer.subarray(filled * site.units, (filled + 1) * site.units);
      const offset = offsetBuffer.subarray(filled * site.units, (filled + 1) * site.units);
      mask.fill(1);
      offset.fill(0);
      if (condition >= 0) {
        const spec = conditions[condition];
        for (const unit of spec.units) {
          mask[unit] = 0;
          if (spec.mode === "mean") offset[unit] = input.means![unit];
        }
      }
      rowSample[filled] = start + local;
      rowCondition[filled] = condition;
      filled++;
      if (filled === batchRows) await flush();
    };
    // The intact rows go through the same suffix graph as the ablated ones, mask all ones.
    for (let local = 0; local < count; local++) await addRow(local, -1);
    await flush();
    for (let c = 0; c < conditions.length; c++) {
      await yieldThenCheck(input.signal);
      const spec = conditions[c];
      const site0 = cache[0];
      for (let local = 0; local < count; local++) {
        if (spec.mode === "zero" && !anyActive(site0, local * sizes[0], spec.units, layout)) continue;
        await addRow(local, c);
      }
      await flush();
      input.onProgress?.(Math.min(conditions.length, c + 1) + Math.floor(start / chunk) * conditions.length, conditions.length * Math.ceil(data.n / chunk));
    }
  }

  const unresolvedTies = await settleTies(input, target, ties, intactPredictions, perCondition);
  return tallyResult(k, data, intactPredictions, intactLoss, perCondition, { rowsEvaluated, ties: ties.length, unresolvedTies, started });
}


/**
 * One sample's shape of each tensor, from a run on one zero sample: of the float `fed` tensors (a missing entry makes
 * suffixModel refuse: only float tensors can be cached and fed back) and of every shape source (any type). The graph
 * input's shape is known without a run.
 */
export async function tensorShapes(model: LesionModel, fed: string[], shapeSources: string[]): Promise<Map<string, number[]>> {
  const tensors = [...new Set([...fed, ...shapeSources])].filter((t) => t !== model.inputName);
  const session = await getSession(model, `shapes:${tensors.join(",")}`, () => withOutputs(model.proto, tensors));
  const size = model.inputShape.reduce((a, b) => a * b, 1);
  const outputs = await session.run({ [model.inputName]: new OrtTensor("float32", new Float32Array(size), [1, ...model.inputShape]) }, tensors);
  const shapes = new Map(tensors.filter((t) => outputs[t].type === "float32" || !fed.includes(t)).map((t) => [t, outputs[t].dims.slice(1).map(Number)]));
  shapes.set(model.inputName, model.inputShape);
  return shapes;
}

/**
 * Re-decides near-tied rows with the whole graph in float64 (from the float32 network input, widened). Intact rows
 * first, since a condition's "changed" is relative to the intact prediction. Returns how many stayed unresolved.
 * Also settles the delta path's ties (convSweep.ts).
 */
export async function settleTies(
  input: MaskedSweepInput,
  target: MaskTarget,
  ties: Array<{ condition: number; sample: number }>,
  intact: Int32Array,
  perCondition: Array<{ changed: Map<number, number> }>,
): Promise<number> {
  if (ties.length === 0) return 0;
  const { model, site, data, conditions } = input;
  let session: OrtSession | null = null;
  let interpreter: Float64Graph | null = null;
  try {
    session = await getSession(model, `float64:${site.name}`, () => toFloat64(withMasks(model.proto, [target])));
  } catch {
    // onnxruntime has no float64 kernel for some op here (Conv): lesion's own float64 interpreter, if it has them all.
    interpreter = compileFloat64(withMasks(model.proto, [target]), [model.outputName]).graph;
    if (!interpreter) return ties.length;
  }
  let unresolved = 0;
  const sampleSize = data.shape[0] * data.shape[1] * data.shape[2];
  const one = new Float32Array(sampleSize);
  const ordered = [...ties].sort((a, b) => a.condition - b.condition);
  const k = model.numClasses;
  const BATCH = session ? 256 : 32;
  for (let i = 0; i < ordered.length; i += BATCH) {
    // The interpreter's float64 convolutions are plain JS: a sweep of many near ties (an untrained network) spends
    // a minute here, which a Ctrl-C must be able to stop.
    await yieldThenCheck(input.signal);
    const part = ordered.slice(i, i + BATCH);
    const inputs = new Float64Array(part.length * sampleSize);
    const masks = new Float64Array(part.length * site.units).fill(1);
    const offsets = new Float64Array(part.length * site.units);
    part.forEach(({ condition, sample }, r) => {
      fillInput(one, data.images, sample, 1, data.shape, model.preprocessing);
      inputs.set(one, r * sampleSize);
      if (condition >= 0) {
        for (const unit of conditions[condition].units) {
          masks[r * site.units + unit] = 0;
          if (conditions[condition].mode === "mean") offsets[r * site.units + unit] = input.means![unit];
        }
      }
    });
    const dims = maskShape(target, part.length) as number[];
    let logits: Float64Array;
    if (session) {
      try {
        const outputs = await session.run(
          {
            [model.inputName]: new OrtTensor("float64", inputs, [part.length, ...model.inputShape]),
            [maskInputName(site.name)]: new OrtTensor("float64", masks, dims),
            [offsetInputName(site.name)]: new OrtTensor("float64", offsets, dims),
          },
          [model.outputName],
        );
        logits = outputs[model.outputName].data as Float64Array;
      } catch {
        // A float64 graph onnxruntime accepts but cannot run (its LSTM "does not support double yet": a trial's
        // ablation ended in an internal error): this part and the rest through lesion's interpreter, if it can.
        session = null;
        interpreter = compileFloat64(withMasks(model.proto, [target]), [model.outputName]).graph;
        if (!interpreter) return unresolved + ordered.length - i;
        i -= BATCH;
        continue;
      }
    } else {
      try {
        const outputs = interpreter!.run({
          [model.inputName]: { dims: [part.length, ...model.inputShape], data: inputs },
          [maskInputName(site.name)]: { dims, data: masks },
          [offsetInputName(site.name)]: { dims, data: offsets },
        });
        logits = outputs[model.outputName].data;
      } catch (error) {
        // An attribute or shape the interpreter does not cover: these rows stay float32's, counted, never guessed.
        if ((error as { code?: string }).code !== "unsupported-op") throw error;
        unresolved += part.length;
        continue;
      }
    }
    part.forEach(({ condition, sample }, r) => {
      let best = 0;
      for (let c = 1; c < k; c++) if (logits[r * k + c] > logits[r * k + best]) best = c;
      if (condition < 0) intact[sample] = best;
      else {
        const changed = perCondition[condition].changed;
        if (best !== intact[sample]) changed.set(sample, best);
        else changed.delete(sample);
      }
    });
  }
  return unresolved;
}
