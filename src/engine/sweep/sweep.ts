/**
 * The one door into the sweep engine: `sweep(model, site, data, conditions)` answers, for each condition, which
 * samples change their float64-exact prediction and by how much the loss moves, and picks the path that computes it:
 * - "dense": the site is a layer of a dense chain (src/onnx/chain.ts) and the condition zeroes at most DENSE_UNITS
 *   units: cached pre-activations, rank-k corrections, margin bounds, closed-form loss (denseSweep.ts).
 * - "delta": the site's next linear layer (a Conv, or a Gemm/MatMul after Flatten) is reached through channel-wise
 *   zero-preserving ops only (convPlan.ts) and the condition zeroes at most CONV_UNITS units: cached layer input and
 *   output, the ablated channels' contribution subtracted, the rest of the graph batched (convSweep.ts).
 * - "masked": any other graph or condition: the cached prefix and a masked suffix graph run on the rows a condition
 *   can change (maskedSweep.ts).
 * `planSweep` tells the caller which path each condition takes and how to cut the list into blocks (the unit of a
 * resumable run), so a verb never imports a path itself.
 */
import type { Dataset } from "../../data/types.js";
import { fail } from "../../errors.js";
import { denseChain, type DenseChain } from "../../onnx/chain.js";
import { allInputs } from "../forward.js";
import { memoized, type LesionModel, type Site } from "../model.js";
import { convDelta, convSweep, type ConvDelta } from "./convSweep.js";
import { denseIntact } from "./denseIntact.js";
import { denseLossAhead, denseSweep } from "./denseSweep.js";
import { maskedSweep } from "./maskedSweep.js";
import type { DenseIntact, SweepCondition, SweepResult } from "./types.js";

/** Which engine computes a condition. */
export type SweepPath = "dense" | "delta" | "masked";

/**
 * Largest group the dense engine takes: beyond, its rank-k correction (a pass per unit) lost to the general path's
 * masked suffix here (60 random groups of h0 of mlp100x3: 6 units 0.55 s vs 0.58 s, 8 units 0.76 s vs 0.57 s).
 */
const DENSE_UNITS = 6;

/**
 * Largest group the delta path takes: its delta is a |U|-channel convolution, a small part of the layer for a few
 * channels; larger groups (fractions of a layer) run masked.
 */
const CONV_UNITS = 8;

/**
 * Conditions per block: large on the dense path (a block takes well under a second), small on the masked one, so a
 * kill loses little; the delta path's block also pays one forward pass over the data, so it takes a site's filters in
 * one or a few blocks.
 */
const BLOCK_SIZE: Record<SweepPath, number> = { dense: 2048, delta: 256, masked: 64 };

/**
 * Conditions per block where the dense site feeds the output layer: there a condition's predictions are a closed
 * form (~65 µs each on mlp100x3's h2), and its loss is computed for the whole sweep at once in a worker thread beside
 * them (denseSweep.ts): with the sweep in one block the loss runs beside all of its predictions, not the first
 * block's only, and a kill still loses under a second.
 */
const CLOSED_FORM_BLOCK = 8192;

/** What `planSweep` found: the site's engine and the blocks a resumable run computes one at a time. */
export interface SweepPlan {
  /**
   * The site's engine: "dense" where it is a layer of a dense chain, "delta" where its next layer takes a delta (its
   * small zero ablations run there), else "masked".
   */
  engine: SweepPath;
  /** Indices into the planned conditions, grouped by path (dense first) and cut to the path's block size. */
  blocks: number[][];
}

/** What `sweep` and `sweepAhead` are asked: conditions at one site of an open model, on one data set. */
export interface SweepInput {
  /** The open model (its sessions and per-data caches are reused). */
  model: LesionModel;
  /** The site every condition ablates units of (`resolveSite`). */
  site: Site;
  /** The samples and labels every outcome is counted on. */
  data: Dataset;
  /** Conditions at `site`, in any mix of paths; outcomes come back in the same order. */
  conditions: SweepCondition[];
  /** Compute each condition's summed cross-entropy (SweepOutcome.lossSum). */
  loss: boolean;
  /** Per-unit replacement values of the site, needed when a condition's mode is "mean" ([units], float64). */
  means?: Float64Array;
  /** Conditions finished so far in this call. */
  onProgress?: (done: number) => void;
  /** Aborts the sweep with LesionError `aborted`. */
  signal?: AbortSignal;
}

/** How `sweep` will compute `conditions` at `site`: the engine and resumable blocks. Throws nothing. */
export async function planSweep(model: LesionModel, site: Site, conditions: readonly SweepCondition[]): Promise<SweepPlan> {
  const { engine, chain } = await siteEngine(model, site);
  const feedsOutput = chain !== null && chain.layers.findIndex((l) => l.name === site.name) + 2 === chain.layers.length;
  const blocks: number[][] = [];
  for (const path of ["dense", "delta", "masked"] as const) {
    const indices = takenBy(path, engine, conditions);
    const size = path === "dense" && feedsOutput ? CLOSED_FORM_BLOCK : BLOCK_SIZE[path];
    for (let b = 0; b < indices.length; b += size) blocks.push(indices.slice(b, b + size));
  }
  return { engine, blocks };
}

/**
 * Every condition's outcome against the intact network (Meyes et al. 2019's ablation, units' outputs forced to 0 or
 * their mean), float64-exact (near ties rechecked in float64; see SweepResult.stats.unresolvedTies): per condition the
 * samples whose prediction changes and, with `loss`, the summed cross-entropy (natural log). Picks the dense path for
 * an MLP's layer, the delta path for a conv site it can take, else the masked suffix path (see the module comment).
 * @throws LesionError `bad-units` (no conditions); `unit-out-of-range` (a unit beyond the site); `unsupported-op` (a
 * graph whose suffix cannot be cached); `bad-model` (a graph variant onnxruntime cannot run); `aborted` (input.signal).
 */
export async function sweep(input: SweepInput): Promise<SweepResult> {
  const { model, site, data, conditions, loss } = input;
  const started = performance.now();
  // Nothing to sweep has no intact pass to report either (a library call with no conditions had ended in a TypeError).
  if (conditions.length === 0) fail("bad-units", `no conditions to sweep at site ${site.name}`, { site: site.name });
  const { engine, chain, delta } = await siteEngine(model, site);
  const [dense, conv, masked] = (["dense", "delta", "masked"] as const).map((path) => takenBy(path, engine, conditions));
  const parts: Array<[number[], SweepResult]> = [];
  let done = 0;
  if (dense.length > 0) {
    const siteLayer = chain!.layers.findIndex((l) => l.name === site.name);
    const intact = await intactOf(model, data, chain!);
    const result = await denseSweep({
      model,
      chain: chain!,
      siteLayer,
      inputs: intact.inputs,
      labels: data.labels,
      conditions: dense.map((i) => conditions[i].units),
      loss,
      intact: intact.dense,
      signal: input.signal,
      onProgress: (d) => input.onProgress?.(d),
    });
    parts.push([dense, result]);
    done += dense.length;
  }
  if (conv.length > 0) {
    const result = await convSweep({
      model,
      site,
      data,
      conditions: conv.map((i) => conditions[i]),
      delta: delta!,
      signal: input.signal,
      onProgress: (d, t) => input.onProgress?.(done + Math.floor((d / t) * conv.length)),
    });
    parts.push([conv, result]);
    done += conv.length;
  }
  if (masked.length > 0) {
    const result = await maskedSweep({
      model,
      site,
      data,
      conditions: masked.map((i) => conditions[i]),
      means: input.means,
      signal: input.signal,
      onProgress: (d, t) => input.onProgress?.(done + Math.floor((d / t) * masked.length)),
    });
    parts.push([masked, result]);
  }
  const outcomes = new Array<SweepResult["conditions"][number]>(conditions.length);
  for (const [indices, result] of parts) indices.forEach((i, j) => (outcomes[i] = result.conditions[j]));
  const stats = { rowsEvaluated: 0, rowsFloat64: 0, unresolvedTies: 0, seconds: (performance.now() - started) / 1000 };
  for (const [, result] of parts) {
    stats.rowsEvaluated += result.stats.rowsEvaluated;
    stats.rowsFloat64 += result.stats.rowsFloat64;
    stats.unresolvedTies += result.stats.unresolvedTies;
  }
  return { intact: parts[0][1].intact, conditions: outcomes, stats };
}

/**
 * Starts now, beside the caller's later work, what a `sweep` of the same input can compute in the background; that
 * sweep then waits for it. Today: the closed-form loss of a dense site's pairs, in a worker thread (denseLossAhead). A
 * caller with several sites calls it for each before the first `sweep`. Does nothing for other inputs.
 * @throws LesionError `bad-model` (a graph onnxruntime cannot run, in the intact pass it needs).
 */
export async function sweepAhead(input: SweepInput): Promise<void> {
  const { model, site, data, conditions, loss } = input;
  if (!loss) return;
  const { engine, chain } = await siteEngine(model, site);
  const dense = takenBy("dense", engine, conditions);
  if (dense.length === 0) return;
  const siteLayer = chain!.layers.findIndex((l) => l.name === site.name);
  // Only where the site feeds the output layer: before building the intact pass for nothing.
  if (siteLayer + 2 !== chain!.layers.length) return;
  const intact = await intactOf(model, data, chain!);
  const units = dense.map((i) => conditions[i].units);
  denseLossAhead({ model, chain: chain!, siteLayer, inputs: intact.inputs, labels: data.labels, conditions: units, loss, intact: intact.dense, signal: input.signal });
}

/** The dense intact pass depends only on the data: one for all sites, blocks and calls while the model is open. */
async function intactOf(model: LesionModel, data: Dataset, chain: DenseChain): Promise<{ inputs: Float32Array; dense: DenseIntact }> {
  return memoized(model, data, "dense-intact", async () => {
    const inputs = await allInputs(model, data);
    return { inputs, dense: await denseIntact(model, chain, inputs, data.labels) };
  });
}

/** The site's engine, with the dense chain or conv delta layer it runs on (null where it is not that engine's). */
async function siteEngine(model: LesionModel, site: Site): Promise<{ engine: SweepPath; chain: DenseChain | null; delta: ConvDelta | null }> {
  const chain = await siteChain(model, site);
  const delta = chain ? null : await siteDelta(model, site);
  return { engine: chain ? "dense" : delta ? "delta" : "masked", chain, delta };
}

/** Indices of the conditions that `path` computes at a site whose engine is `engine`. */
function takenBy(path: SweepPath, engine: SweepPath, conditions: readonly SweepCondition[]): number[] {
  return conditions.flatMap((c, i) => (pathOf(engine, c) === path ? [i] : []));
}

/**
 * The path a condition takes at a site whose engine is `engine`: the dense or delta path for zero ablations of few
 * enough units, else masked (mean ablations, larger groups).
 */
export function pathOf(engine: SweepPath, c: Pick<SweepCondition, "mode" | "units">): SweepPath {
  if (engine === "dense" && c.mode === "zero" && c.units.length <= DENSE_UNITS) return "dense";
  if (engine === "delta" && c.mode === "zero" && c.units.length <= CONV_UNITS) return "delta";
  return "masked";
}

/** The site's delta layer when the delta path can take its zero ablations, else null (convPlan.ts). */
async function siteDelta(model: LesionModel, site: Site): Promise<ConvDelta | null> {
  return memoized(model, model.proto, `conv-delta:${site.name}`, async () => convDelta(model.proto, site));
}

/** The model's dense chain when `site` is one of its layers, else null. */
async function siteChain(model: LesionModel, site: Site): Promise<DenseChain | null> {
  const chain = await memoized(model, model.proto, "dense-chain", async () => denseChain(model.proto));
  return chain && chain.layers.some((l) => l.name === site.name) ? chain : null;
}

