/**
 * The delta path (issue #14 item 3): zero ablations of a few channels of a site whose next linear layer can take them
 * as a delta (convPlan.ts). Per chunk of samples one forward pass caches the layer's input x and output pre (and any
 * other tensor the rest of the graph reads, such as a residual branch) and the intact logits. Per condition U, only
 * samples on which a channel of U is non-zero in x can change; for those rows the layer's output becomes
 * pre − layer(x[U]; W[U]) and the graph from that output on (the suffix) runs from it. A Conv layer's contribution is
 * computed inside the suffix graph (a |U|-channel convolution with W[:, U] fed as an input), one condition per run; a
 * Gemm/MatMul after Flatten's for every channel at once by a small delta graph (x as [C, rows, P] times B), the
 * suffix then batched over many conditions' rows. When the layer's output is the logits there is no suffix at all. Near ties (TIE_MARGIN) are settled by maskedSweep's
 * float64 code (settleTies), so outcomes are the float64 network's, as on the masked path; the loss is the float32
 * logits' cross-entropy, as there.
 *
 * Not done: margin bounds that skip rows which provably cannot flip (only inactive samples are skipped); the suffix
 * of an early site is most of the network, and no cheap bound crosses several convolutions.
 */
import { fail, yieldThenCheck } from "../../errors.js";
import type { Dataset } from "../../data/types.js";
import { withOutputs } from "../../onnx/surgery.js";
import { fillInput } from "../input.js";
import { getSession, type LesionModel, type Site } from "../model.js";
import { OrtTensor } from "../ort.js";
import { convDelta, DELTA_INPUT, deltaCut, deltaGraph, deltaSuffix, FUSED_W, FUSED_X, weightSlice, type ConvDelta } from "./convPlan.js";
import { crossEntropy, decide } from "./logits.js";
import { maskedSweep, maskTarget, settleTies, tensorShapes } from "./maskedSweep.js";
import type { SweepCondition, SweepResult } from "./types.js";
import { anyActive, tallies, tallyResult } from "./tally.js";

export { convDelta, type ConvDelta };

export interface ConvSweepInput {
  model: LesionModel;
  site: Site;
  data: Dataset;
  /** Zero ablations of channels of `site` (mode "zero"). */
  conditions: SweepCondition[];
  /** The site's delta layer, from convDelta (non-null). */
  delta: ConvDelta;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** onnxruntime's graph optimisation for the delta path's sessions (see createSession). */
export const CONV_OPTIMIZATION = "all";
/**
 * A chunk's cached tensors (layer input and output, extras, logits), in bytes. Kept well under glibc's mmap threshold
 * (32 MiB at most): the sessions run without onnxruntime's arena, and a larger chunk's tensors were mapped and faulted
 * in anew on every prefix run (cnn:small's conv1 on mnist:test, 16 filters: 444,000 page faults and 3.5 s of system
 * time at 64 MiB, 171,000 and 1.3 s at 8 MiB; see maskedSweep.ts).
 */
const CACHE_BYTES = 8 * 2 ** 20;
const BATCH_BYTES = 16 * 2 ** 20;
/** Per block of rows, every channel's contribution to the layer's output ([rows, C, …]) is at most this large. */
const DELTA_BYTES = 64 * 2 ** 20;

/**
 * Every condition's outcome against the intact network, float64-exact like maskedSweep's (same changed samples,
 * predictions and counts; lossSum equal to float32 precision). Throws `unsupported-op` (the graph after the layer
 * reads a non-float tensor computed from the data), `aborted`.
 */
export async function convSweep(input: ConvSweepInput): Promise<SweepResult> {
  const started = performance.now();
  const { model, site, data, conditions, delta } = input;
  const k = model.numClasses;
  const cut = deltaCut(model.proto, delta);
  const shapes = await tensorShapes(model, [delta.input, ...cut.inputs], cut.shapeSources);
  const inShape = shapes.get(delta.input)!;
  const outShape = shapes.get(delta.output)!;
  const last = delta.output === model.outputName;
  // A Conv layer's contribution is computed inside the suffix graph, one condition per run (a |U|-channel Conv);
  // computing every channel's at once and copying them in cost as much as the suffix itself at early sites.
  const fused = delta.kind === "conv" && !last;
  const suffixProto = last ? null : deltaSuffix(model.proto, delta, shapes, model.outputName, fused);
  if (!last && !suffixProto) {
    const tensor = [...cut.inputs, ...cut.shapeSources].find((t) => !shapes.has(t));
    fail("unsupported-op", `site ${site.name}: the graph after it reads ${tensor}, a non-float tensor computed from the data before the site; lesion cannot cache it`, { site: site.name, tensor });
  }
  const extras = cut.inputs.slice(1);
  const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
  const inSize = size(inShape);
  const outSize = size(outShape);
  const extraSizes = extras.map((t) => size(shapes.get(t)!));
  const plane = inSize / site.units;
  // The delta layer's input is NCHW: a channel's positions in a row.
  const channelLayout = { plane, unitStride: plane, step: 1 };
  // The delta graph's layout [C, G, rows, S]: a row of the layer's output is [G, S].
  const groups = delta.kind === "conv" ? outShape[0] : 1;
  const span = outSize / groups;
  // Every channel's contribution for one row: beyond DELTA_BYTES even for a single row, the masked path is cheaper.
  if (4 * site.units * outSize > DELTA_BYTES) return maskedSweep({ model, site, data, conditions, onProgress: input.onProgress, signal: input.signal });
  const cached = [...new Set([delta.input, delta.output, ...extras, model.outputName])];
  // onnxruntime's full optimisation (NCHWc convolutions): float32 rounding differs from "basic", ties go to float64.
  const prefix = await getSession(model, `conv-prefix:${site.name}`, () => withOutputs(model.proto, cached), { optimization: CONV_OPTIMIZATION });
  const deltaRun = fused ? null : await getSession(model, `conv-delta:${site.name}`, () => deltaGraph(model.proto, delta, site.units, inShape, outShape), { optimization: CONV_OPTIMIZATION });
  const suffix = suffixProto ? await getSession(model, `conv-suffix:${site.name}`, () => suffixProto, { optimization: CONV_OPTIMIZATION }) : null;

  const rowBytes = 4 * (inSize + outSize + extraSizes.reduce((a, b) => a + b, 0) + k);
  const chunk = Math.max(1, Math.min(data.n, Math.floor(CACHE_BYTES / rowBytes)));
  const batchRows = Math.max(1, Math.min(16384, Math.floor(BATCH_BYTES / (4 * (outSize + extraSizes.reduce((a, b) => a + b, 0))))));
  const deltaRows = Math.max(1, Math.min(chunk, Math.floor(DELTA_BYTES / (4 * site.units * outSize))));

  const intactPredictions = new Int32Array(data.n);
  const intactLoss = new Float64Array(data.n);
  const intactTie = new Uint8Array(data.n);
  const perCondition = tallies(conditions.length);
  const ties: Array<{ condition: number; sample: number }> = [];
  let rowsEvaluated = 0;

  const sampleSize = data.shape[0] * data.shape[1] * data.shape[2];
  const inputBuffer = new Float32Array(chunk * sampleSize);
  const batch = [outSize, ...extraSizes].map((s) => new Float32Array((suffix ? batchRows : 1) * s));
  const contributions = new Float32Array(suffix && !fused ? batchRows * outSize : outSize);
  const xBatch = new Float32Array(fused ? batchRows * Math.max(...conditions.map((c) => c.units.length)) * plane : 0);
  let xWidth = 0;
  const rowSample = new Int32Array(batchRows);
  const rowCondition = new Int32Array(batchRows);
  const steps = Math.ceil(data.n / chunk) * Math.ceil(chunk / deltaRows);
  let step = 0;

  const decideRow = (logits: Float32Array, from: number, sample: number, c: number) => {
    const decided = decide(logits, from, k);
    const tied = decided < 0;
    const best = tied ? -1 - decided : decided;
    const loss = crossEntropy(logits, data.labels[sample], from, k);
    const own = perCondition[c];
    if (Number.isFinite(intactLoss[sample])) own.lossDelta += loss - intactLoss[sample];
    else {
      own.lossOwn += loss;
      own.ownRows++;
    }
    if (best !== intactPredictions[sample]) own.changed.set(sample, best);
    if (tied || intactTie[sample] === 1) ties.push({ condition: c, sample });
    rowsEvaluated++;
  };

  for (let start = 0; start < data.n; start += chunk) {
    const count = Math.min(chunk, data.n - start);
    const modelInput = inputBuffer.subarray(0, count * sampleSize);
    fillInput(modelInput, data.images, start, count, data.shape, model.preprocessing);
    const outputs = await prefix.run({ [model.inputName]: new OrtTensor("float32", modelInput, [count, ...model.inputShape]) }, cached);
    const x = outputs[delta.input].data as Float32Array;
    const pre = outputs[delta.output].data as Float32Array;
    const extraCache = extras.map((t) => outputs[t].data as Float32Array);
    const intactLogits = outputs[model.outputName].data as Float32Array;
    for (let local = 0; local < count; local++) {
      const sample = start + local;
      const decided = decide(intactLogits, local * k, k);
      intactPredictions[sample] = decided < 0 ? -1 - decided : decided;
      intactLoss[sample] = crossEntropy(intactLogits, data.labels[sample], local * k, k);
      if (decided < 0) {
        intactTie[sample] = 1;
        ties.push({ condition: -1, sample });
      }
    }

    let filled = 0;
    let weights: OrtTensor | null = null;
    const flush = async () => {
      if (filled === 0 || !suffix) return;
      const feeds: Record<string, OrtTensor> = {};
      [delta.output, ...extras].forEach((tensor, i) => {
        feeds[i === 0 ? `${tensor}::in` : tensor] = new OrtTensor("float32", batch[i].subarray(0, filled * [outSize, ...extraSizes][i]), [filled, ...shapes.get(tensor)!]);
      });
      if (fused) {
        feeds[FUSED_X] = new OrtTensor("float32", xBatch.subarray(0, filled * xWidth), [filled, xWidth / plane, ...inShape.slice(1)]);
        feeds[FUSED_W] = weights!;
      } else feeds[DELTA_INPUT] = new OrtTensor("float32", contributions.subarray(0, filled * outSize), [filled, ...outShape]);
      const logits = (await suffix.run(feeds, [model.outputName]))[model.outputName].data as Float32Array;
      for (let r = 0; r < filled; r++) decideRow(logits, r * k, rowSample[r], rowCondition[r]);
      filled = 0;
    };

    for (let c = 0; fused && c < conditions.length; c++) {
      await yieldThenCheck(input.signal);
      const units = conditions[c].units;
      weights = new OrtTensor("float32", weightSlice(delta, units), [delta.weightDims[0], units.length, ...delta.weightDims.slice(2)]);
      xWidth = units.length * plane;
      for (let local = 0; local < count; local++) {
        if (!anyActive(x, local * inSize, units, channelLayout)) continue;
        batch[0].set(pre.subarray(local * outSize, (local + 1) * outSize), filled * outSize);
        units.forEach((u, j) => xBatch.set(x.subarray(local * inSize + u * plane, local * inSize + (u + 1) * plane), filled * xWidth + j * plane));
        extraCache.forEach((cache, i) => batch[i + 1].set(cache.subarray(local * extraSizes[i], (local + 1) * extraSizes[i]), filled * extraSizes[i]));
        rowSample[filled] = start + local;
        rowCondition[filled] = c;
        filled++;
        if (filled === batchRows) await flush();
      }
      // The next condition has other weights.
      await flush();
      input.onProgress?.(Math.floor(((start / chunk) * conditions.length + c + 1) / Math.ceil(data.n / chunk)), conditions.length);
    }
    for (let from = 0; !fused && from < count; from += deltaRows) {
      const rows = Math.min(deltaRows, count - from);
      const xRows = new OrtTensor("float32", x.subarray(from * inSize, (from + rows) * inSize), [rows, ...inShape]);
      const contribution = (await deltaRun!.run({ x: xRows }, ["delta"])).delta.data as Float32Array;
      for (let c = 0; c < conditions.length; c++) {
        await yieldThenCheck(input.signal);
        const units = conditions[c].units;
        for (let r = 0; r < rows; r++) {
          const local = from + r;
          if (!anyActive(x, local * inSize, units, channelLayout)) continue;
          // The layer's output with U zeroed is the cached one less U's contributions: for the logits themselves
          // computed here, else fed to the suffix graph, which starts with the difference (copies, not a JS loop).
          const base = local * outSize;
          // Plain loops: a subarray per (row, condition, group) cost more than the copying itself.
          const sum = filled * outSize;
          for (let g = 0; g < groups; g++) {
            const to = sum + g * span;
            let at = ((units[0] * groups + g) * rows + r) * span;
            for (let i = 0; i < span; i++) contributions[to + i] = contribution[at + i];
            for (let j = 1; j < units.length; j++) {
              at = ((units[j] * groups + g) * rows + r) * span;
              for (let i = 0; i < span; i++) contributions[to + i] += contribution[at + i];
            }
          }
          if (!suffix) {
            const target = batch[0];
            for (let i = 0; i < outSize; i++) target[i] = pre[base + i] - contributions[i];
            decideRow(target, 0, start + local, c);
            continue;
          }
          batch[0].set(pre.subarray(base, base + outSize), filled * outSize);
          extraCache.forEach((cache, i) => batch[i + 1].set(cache.subarray(local * extraSizes[i], (local + 1) * extraSizes[i]), filled * extraSizes[i]));
          rowSample[filled] = start + local;
          rowCondition[filled] = c;
          filled++;
          if (filled === batchRows) await flush();
        }
      }
      input.onProgress?.(Math.floor((++step / steps) * conditions.length), conditions.length);
    }
    await flush();
  }

  const unresolvedTies = await settleTies({ model, site, data, conditions, signal: input.signal }, maskTarget(site), ties, intactPredictions, perCondition);
  return tallyResult(k, data, intactPredictions, intactLoss, perCondition, { rowsEvaluated, ties: ties.length, unresolvedTies, started });
}

