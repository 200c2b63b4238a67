/**
 * The live explorer: one offline HTML page that runs the network with onnxruntime-web (wasm, one thread,
 * the wasm binary inlined) so a reader can silence units and watch per-class accuracy and the confusion matrix change,
 * as the authors' NIMS-Viz did with a server (Meyes et al. 2019, arXiv:1901.08644; 2020, arXiv:2004.01254).
 *
 * Choices:
 * - The page runs the CLI's general ablation path: the prefix graph caches every site's tensors once, then a change
 *   runs only the suffix graph from the earliest silenced site, masks as per-row graph inputs, and only on the rows
 *   where a silenced unit is active (a row where every silenced unit is 0 cannot change). Rows whose top two logits
 *   are within TIE_MARGIN are re-decided by the float64 graph, as `ablate` does, so every prediction is the float64
 *   one and accuracy and per-class accuracy equal `ablate`'s for the same units.
 * - Silencing is zero ablation (the papers' definition); a lesion may span sites when one site's suffix reaches them.
 * - Indicators are computed here by `indicators` (class means, selectivity, single-unit impact) on the page's samples.
 * - Size: the whole data set when the page fits in PAGE_BYTES, else a seeded stratified sample (said on the page).
 */
import type { Dataset } from "../data/types.js";
import { pickSamples } from "../data/pickSamples.js";
import { fail } from "../errors.js";
import { checkData } from "../engine/forward.js";
import { hiddenSites, requireSites, resolveSite, type LesionModel } from "../engine/model.js";
import { createSession } from "../engine/ort.js";
import { TIE_MARGIN } from "../engine/sweep/logits.js";
import { indexGraph, type GraphIndex } from "../onnx/graph.js";
import { scopeName } from "../onnx/sites.js";
import type { NodeProto } from "../onnx/proto.js";
import { layerWeights } from "../onnx/layerWeights.js";
import { seeded, shuffle } from "../random.js";
import { classNames as classNamesOf, evaluate } from "../engine/evaluate.js";
import { indicators } from "../study/indicators.js";
import { populations } from "../study/populations.js";
import { stimulusMap, type StimulusMapOptions } from "../study/stimulusMap.js";
import type { Progress } from "../progress.js";
import { explorerGraphs } from "./explorerGraphs.js";
import { renderExplorer, type ExplorerBlobs, type ExplorerMeta } from "./renderExplorer.js";

/** Options of `explore` (`lesion explore`'s flags). */
export interface ExploreOptions {
  /** Hidden sites shown as columns, in graph order. Default: every site but the classifier output. */
  sites?: string[];
  /**
   * Samples embedded in the page. Default: the whole data set when the page stays under 50 MB and the page's cached
   * activations under 64 MB (so a change stays interactive), else the largest seeded stratified sample that does. Larger than the data set: `bad-option`.
   */
  samples?: number;
  /** Seed of the stratified sample and of the populations' clustering. Default 0. */
  seed?: number;
  /**
   * Compute the functional populations (Meyes et al. 2020: hierarchical clustering of units by class-conditional
   * activation and by single-unit impact profile, `populations`) for the page's population picker. Default false
   * (it adds clustering, embeddings and group ablations: 11 s for the default 3×100 MLP here).
   */
  populations?: boolean;
  /**
   * Draw the stimulus map (`stimulusMap`: PCA + t-SNE of a seeded sample of the page's images, cached per data set)
   * coloured by what the current lesion does to each image: kept, lost, gained. `true` for its defaults (2,000 images).
   * Default false.
   */
  map?: boolean | StimulusMapOptions;
  /** Path of the model as the user gave it, for the `lesion ablate` line the page shows. Default: the model's name. */
  modelPath?: string;
  /** Progress events: phase "explore" (`done` of 3 stages, `detail` the stage), and the phases of the verbs it runs. */
  onProgress?: (event: Progress) => void;
  /** Aborts the run with LesionError `aborted`. */
  signal?: AbortSignal;
}

/** The explorer page and what it holds. */
export interface ExploreResult {
  /** The page: one self-contained HTML file. */
  html: string;
  /** Its size in bytes (UTF-8). */
  bytes: number;
  /** Samples in the page, and in the data set. */
  n: number;
  /** Samples in the data set (`data.n`). */
  total: number;
  /** True when the page holds a stratified sample rather than the whole data set. */
  sampled: boolean;
  /** The page's samples as indices into `data`, ascending; null when it holds them all. */
  samples: Int32Array | null;
  /** The sites shown, in graph order. */
  sites: string[];
  /** The intact accuracy on the page's samples (float64-exact), which the page recomputes on opening. */
  baseline: { accuracy: number; perClass: Array<number | null> };
  /** On a sampled page, the intact accuracy on the whole data set (`evaluate`'s); null when the page holds it all. */
  wholeBaseline: { accuracy: number; perClass: Array<number | null> } | null;
}

/** Largest page the default sample size allows. */
export const PAGE_BYTES = 50 * 2 ** 20;
/**
 * Largest in-page activation cache. It also bounds the work of a change, which grows with the cached tensors: a CNN's
 * conv sites on 7,084 MNIST images (512 MB) took 4.5 s per change in single-threaded wasm, on ~850 (64 MB) 0.5 s.
 */
const CACHE_BYTES = 64 * 2 ** 20;

/**
 * Builds the explorer page for `model` on `data`: one offline HTML page that runs the network in onnxruntime-web on a
 * stratified sample of images and ablates units on click (Meyes et al. 2019's single-unit ablations, live), showing
 * accuracy and per-class accuracy (percentages) and the units' activations.
 * @throws LesionError `unknown-site` (a site not in the model, or no hidden site); `bad-option` (samples out of range);
 * `shape-mismatch`, `bad-data`, `label-out-of-range` (data that do not fit the model); `unsupported-op` (a graph after
 * a site that lesion cannot cut); `bad-model` (no sites; with `populations`, NaN or infinite weights); `bad-option`
 * (with `populations`, a site with fewer than 3 active units); `unwritable-path` (with `map`, the map's cache);
 * `aborted` (options.signal).
 */
export async function explore(model: LesionModel, data: Dataset, options: ExploreOptions = {}): Promise<ExploreResult> {
  checkData(model, data);
  requireSites(model);
  const names = options.sites ?? hiddenSites(model).map((s) => s.name);
  if (names.length === 0) fail("unknown-site", `${model.name} has no hidden sites to explore`, { model: model.name, site: null, closest: [] });
  const chosen = new Set(names.map((name) => resolveSite(model, name).name));
  const sites = model.sites.filter((s) => chosen.has(s.name));
  if (options.samples !== undefined && (!Number.isInteger(options.samples) || options.samples < 1 || options.samples > data.n)) {
    fail("bad-option", `\`samples\` must be a whole number from 1 to ${data.n} (the data set's size), got ${options.samples}`, { options: ["samples"], value: options.samples });
  }
  options.onProgress?.({ phase: "explore", done: 0, total: 3, detail: "graphs" });
  const graphs = await explorerGraphs(model, sites);
  const exactBytes = isBytes(data.images);
  const [c, h, w] = data.shape;
  const base = 6 * 2 ** 20 + (graphs.prefix.graph.length + graphs.float64.length + graphs.suffixes.reduce((a, s) => a + s.graph.length, 0)) * 1.4;
  // Base64 of the raw bytes: a bound, the page stores them gzipped.
  const perSample = (c * h * w * (exactBytes ? 1 : 4) + 1) * (4 / 3);
  const cachePerSample = graphs.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1) * 4, 0);
  const fits = Math.max(1, Math.min(Math.floor((PAGE_BYTES - base) / perSample), Math.floor(CACHE_BYTES / cachePerSample)));
  const n = options.samples ?? Math.min(data.n, fits);
  const indices = n === data.n ? null : stratifiedSample(data, n, options.seed ?? 0);
  const subset = indices ? pickSamples(data, Array.from(indices), data.spec) : data;

  options.onProgress?.({ phase: "explore", done: 1, total: 3, detail: "indicators" });
  const found = await indicators(model, subset, { sites: sites.map((s) => s.name), onProgress: options.onProgress, signal: options.signal });
  // On a sample, the page's accuracies are the sample's; the whole set's intact accuracy (`lesion eval`'s) goes beside them.
  const whole = indices ? await evaluate(model, data, { signal: options.signal }) : null;
  const map = options.map ? await stimulusMap(subset, { seed: options.seed ?? 0, ...(options.map === true ? {} : options.map) }, { onProgress: options.onProgress, signal: options.signal }) : null;
  const groups = options.populations ? await populations(model, subset, found, { seed: options.seed ?? 0, signal: options.signal }) : [];
  options.onProgress?.({ phase: "explore", done: 2, total: 3, detail: "page" });

  const pixels = c * h * w;
  const weights: ExplorerMeta["weights"] = {};
  const blobs: ExplorerBlobs = {
    prefix: graphs.prefix.graph,
    images: exactBytes ? Uint8Array.from(subset.images, (v) => Math.round(v * 255)) : new Uint8Array(subset.images.buffer, subset.images.byteOffset, subset.images.byteLength),
    labels: new Uint8Array(Int32Array.from(subset.labels).buffer),
  };
  graphs.suffixes.forEach((s, i) => (blobs[`suffix${i}`] = s.graph));
  // onnxruntime has no float64 Conv: where the CLI cannot settle ties in float64, the page does not try either.
  if (await runsInFloat64(graphs.float64)) blobs.float64 = graphs.float64;
  const graphIndex = indexGraph(model.proto.graph!);
  for (const site of sites) {
    const layer = site.layer ? layerWeights(model.proto, site.layer) : null;
    // The first layer's incoming weights are images: the unit's receptive field (a dense row, or a conv filter).
    if (!layer) continue;
    // Only a layer that reads the image: a dense layer after convs may have as many inputs as the image has pixels.
    if (!readsImage(model, site.layer!, graphIndex)) continue;
    const side = Math.sqrt(layer.fanIn / c);
    const image = layer.fanIn === pixels ? [h, w] : site.kind === "conv" && Number.isInteger(side) ? [side, side] : null;
    if (!image) continue;
    blobs[`weights:${site.name}`] = new Uint8Array(Float32Array.from(layer.weight).buffer);
    weights[site.name] = { blob: `weights:${site.name}`, fanIn: layer.fanIn, channels: c, height: image[0], width: image[1] };
  }
  const meta: ExplorerMeta = {
    model: model.name,
    modelPath: options.modelPath ?? model.name,
    modelSha256: model.sha256,
    data: data.spec,
    n,
    total: data.n,
    sampled: indices !== null,
    samples: indices && Array.from(indices),
    sampleReason: indices === null ? null : options.samples !== undefined ? "asked" : Math.floor((PAGE_BYTES - base) / perSample) < data.n ? "page" : "memory",
    seed: options.seed ?? 0,
    classNames: classNamesOf(model, subset),
    imageShape: [c, h, w],
    imagesDtype: exactBytes ? "uint8" : "float32",
    inputName: model.inputName,
    inputShape: model.inputShape,
    outputName: model.outputName,
    numClasses: model.numClasses,
    preprocessing: { layout: model.preprocessing.layout, mean: model.preprocessing.mean, std: model.preprocessing.std },
    tieMargin: TIE_MARGIN,
    sites: sites.map((s) => ({ name: s.name, tensor: s.tensor, kind: s.kind, units: s.units, shape: s.shape, unitAxis: s.unitAxis })),
    aliases: siteAliases(model, sites.map((s) => s.name)),
    tensors: graphs.tensors,
    prefixOutputs: graphs.prefix.outputs,
    suffixes: graphs.suffixes.map((s, i) => ({ site: s.site, blob: `suffix${i}`, feeds: s.feeds, masked: s.masked })),
    indicators: found.sites.map((s) => ({
      site: s.site,
      classMeans: Array.from(s.classMeans.data),
      selectivity: s.selectivity,
      magnitude: s.magnitude,
      fractionActive: s.fractionActive,
      impact: s.impact,
      impactMaxClass: s.impactMaxClass,
    })),
    weights,
    populations: groups.flatMap((p) =>
      p.groupings.filter((g) => g.method === "hierarchical").map((g) => ({ site: p.site, by: g.by, populations: g.populations.map((q) => ({ id: q.id, units: q.units })) })),
    ),
    baseline: found.baseline,
    wholeBaseline: whole && { accuracy: whole.accuracy, perClass: whole.perClass },
    map: map && {
      samples: map.samples,
      x: Array.from({ length: map.samples.length }, (_, i) => Number(map.coordinates.data[2 * i])),
      y: Array.from({ length: map.samples.length }, (_, i) => Number(map.coordinates.data[2 * i + 1])),
    },
  };
  const html = renderExplorer(meta, blobs);
  options.onProgress?.({ phase: "explore", done: 3, total: 3, detail: "page" });
  return { html, bytes: Buffer.byteLength(html), n, total: data.n, sampled: indices !== null, samples: indices, sites: sites.map((s) => s.name), baseline: found.baseline, wholeBaseline: meta.wholeBaseline };
}

async function runsInFloat64(graph: Uint8Array): Promise<boolean> {
  try {
    await (await createSession(graph, 1)).release();
    return true;
  } catch {
    return false;
  }
}

/** Whether every pixel is k/255 in float32 (8-bit images), so the page can hold one byte per pixel. */
function isBytes(images: Float32Array): boolean {
  for (let i = 0; i < images.length; i++) if (Math.fround(Math.round(images[i] * 255) / 255) !== images[i]) return false;
  return true;
}

/** Ops between the input and a first layer that keep each pixel where it is (flattening, normalising by constants). */
const PIXEL_PRESERVING = new Set(["Flatten", "Reshape", "Identity", "Squeeze", "Unsqueeze", "Cast", "Sub", "Div", "Mul", "Add"]);

/**
 * Whether `layer` (a MatMul, Gemm or Conv node's name) reads the model's input image in channel-first order, as the
 * page draws it: its data input traces back to the graph input through PIXEL_PRESERVING ops whose other inputs are
 * constants, and a channels-last input (Keras, tf2onnx) through its Transpose to channels first.
 */
function readsImage(model: LesionModel, layer: string, index: GraphIndex): boolean {
  let tensor = (model.proto.graph!.node ?? []).find((n) => n.name === layer)?.input?.[0];
  let channelsFirst = model.preprocessing.layout !== "nhwc";
  for (let steps = 0; tensor !== undefined && steps < 16; steps++) {
    // A channels-last image flattened as it is has its weights in [H, W, C] order: not a picture of [C, H, W].
    if (tensor === model.inputName) return channelsFirst || model.inputShape[model.inputShape.length - 1] === 1;
    const node = index.producer.get(tensor);
    if (node?.opType === "Transpose" && isToChannelsFirst(node)) {
      channelsFirst = true;
      tensor = node.input![0];
      continue;
    }
    if (!node || !PIXEL_PRESERVING.has(node.opType!)) return false;
    const data = (node.input ?? []).filter((i) => i && !index.initializers.has(i));
    // Reshape's shape may be computed (Shape → Gather → Concat): only its first input carries the pixels.
    tensor = node.opType === "Reshape" ? node.input![0] : data.length === 1 ? data[0] : undefined;
  }
  return false;
}

/** A Transpose from NHWC to NCHW (perm [0, 3, 1, 2]). */
function isToChannelsFirst(node: NodeProto): boolean {
  const perm = node.attribute?.find((a) => a.name === "perm")?.ints?.map(Number);
  return perm !== undefined && perm.join(",") === "0,3,1,2";
}

/**
 * A seeded stratified sample of `n` indices, ascending: each class keeps its share (largest remainders get the
 * leftover places), samples within a class drawn by a seeded shuffle. `n` is at most `data.n`. Throws nothing.
 */
export function stratifiedSample(data: Dataset, n: number, seed: number): Int32Array {
  const byClass: number[][] = Array.from({ length: data.numClasses }, () => []);
  data.labels.forEach((label, i) => byClass[label].push(i));
  const quota = byClass.map((members) => (members.length * n) / data.n);
  const take = quota.map(Math.floor);
  const order = quota.map((q, c) => [q - Math.floor(q), c]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let i = 0, left = n - take.reduce((a, b) => a + b, 0); left > 0; i++, left--) take[order[i][1]]++;
  const rand = seeded(seed);
  const chosen = byClass.flatMap((members, c) => shuffle([...members], rand).slice(0, take[c]));
  return Int32Array.from(chosen.sort((a, b) => a - b));
}


/**
 * The names other than its own by which the command line finds each of `names` (resolveSite: its activation node, its
 * tensor, its module path), so that the page's `lesionExplorer.ablate("relu0", …)` takes what `lesion ablate --site
 * relu0` does (a trial's page had refused it).
 */
function siteAliases(model: LesionModel, names: string[]): Record<string, string> {
  const aliases: Record<string, string> = {};
  for (const site of model.sites.filter((s) => names.includes(s.name))) {
    for (const alias of [site.node, site.tensor, scopeName(site.node, site.op)]) {
      if (!alias || alias === site.name || names.includes(alias)) continue;
      try {
        if (resolveSite(model, alias).name === site.name) aliases[alias] = site.name;
      } catch {
        // Not a name of this site alone (a module applied more than once).
      }
    }
  }
  return aliases;
}
