/**
 * The explorer page: one HTML file holding onnxruntime-web's wasm build (its JS bundle as an inline module, its wasm
 * binary gzipped and base64-encoded, handed over as `env.wasm.wasmBinary`), the graphs, the samples and the
 * indicators. Nothing is fetched: blobs are decoded from inline script elements and gunzipped with
 * DecompressionStream, so the page works from file:// and never makes a request.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { fillInput } from "../engine/input.js";
import { decide } from "../engine/sweep/logits.js";

/** Everything the page script reads from the embedded JSON (see assets/explorer/page/). */
export interface ExplorerMeta {
  model: string;
  modelPath: string;
  modelSha256: string;
  data: string;
  n: number;
  total: number;
  sampled: boolean;
  /** The page's samples as indices into the data set, ascending (a stratified sample); null when it holds them all. */
  samples: number[] | null;
  /** Why a sample: asked for (--samples), the page would pass 50 MB, or its activation cache 64 MB. */
  sampleReason: "asked" | "page" | "memory" | null;
  seed: number;
  classNames: string[];
  imageShape: [number, number, number];
  imagesDtype: "uint8" | "float32";
  inputName: string;
  inputShape: number[];
  outputName: string;
  numClasses: number;
  preprocessing: { layout: string; mean: number[]; std: number[] };
  tieMargin: number;
  /** unitAxis: the units' axis in the batched tensor (1, or the last axis of a channels-last site). */
  sites: Array<{ name: string; tensor: string; kind: "dense" | "conv"; units: number; shape: number[]; unitAxis: number }>;
  /** Other names of the page's sites that the command line takes too (activation node, tensor, module path: `relu0`), each to its site's name. */
  aliases: Record<string, string>;
  tensors: Array<{ tensor: string; shape: number[] }>;
  prefixOutputs: string[];
  suffixes: Array<{ site: string; blob: string; feeds: Array<{ name: string; tensor: string; shape: number[] }>; masked: string[] }>;
  indicators: Array<{
    site: string;
    /** [classes × units], row-major. */
    classMeans: number[];
    /** null below the minimum activity (`minActiveSamples`): undefined, drawn grey. */
    selectivity: Array<number | null>;
    magnitude: number[];
    fractionActive: number[];
    impact: number[];
    impactMaxClass: number[];
  }>;
  /** Per site whose incoming weights are images: the blob of float32 [units × fanIn] and how to draw a row. */
  weights: Record<string, { blob: string; fanIn: number; channels: number; height: number; width: number }>;
  /** Hierarchical groupings per site (by activation and by impact) for the population picker; empty when not computed. */
  populations: Array<{ site: string; by: "activation" | "impact"; populations: Array<{ id: number; units: number[] }> }>;
  /** The stimulus map: indices into the page's samples and their 2-D coordinates; null when not asked for. */
  map: { samples: number[]; x: number[]; y: number[] } | null;
  /** Intact accuracy computed by lesion (float64-exact); the page shows whether its own equals it. */
  baseline: { accuracy: number; perClass: Array<number | null> };
  /** On a sampled page, the intact accuracy on the whole data set (as `lesion eval` gives it); null when not sampled. */
  wholeBaseline: { accuracy: number; perClass: Array<number | null> } | null;
  /** Set by renderExplorer: whether a float64 graph is embedded. */
  float64?: boolean;
}

/** Named binary blobs: prefix, suffixN, float64 (omitted when it cannot run), images, labels (int32), weights:SITE. */
export type ExplorerBlobs = Record<string, Uint8Array>;

const ASSETS = fileURLToPath(new URL("../../assets/explorer/", import.meta.url));

/**
 * The page script's parts in assets/explorer/page/, in the order they are joined: declarations first (metadata and
 * data, the computation, loading, the lesion's state, the two panels), then main.js, which starts the page. They share
 * one module scope, so a part may use what a later part declares only inside a function called after start-up.
 */
export const PAGE_SCRIPTS = ["data.js", "engine.js", "load.js", "state.js", "units.js", "results.js", "main.js"] as const;

/**
 * The engine's own functions the page runs, as their (compiled, self-contained) source: `decide`, the arg max and
 * near-tie rule of every sweep (src/engine/sweep/logits.ts; its TIE_MARGIN read from the page's metadata), and
 * `fillInput`, the input normalisation (src/engine/input.ts, as `engineFillInput`). So the page predicts by the CLI's
 * rules by construction, not by a copy.
 */
function engineFunctions(): string {
  return `const TIE_MARGIN = meta.tieMargin;\n${decide.toString()}\nconst engineFillInput = ${fillInput.toString()};\n`;
}

/** The page script: the first part (the metadata), the engine's functions, then the other parts in PAGE_SCRIPTS order. */
export function pageScript(): string {
  const [first, ...rest] = PAGE_SCRIPTS.map((name) => readFileSync(join(ASSETS, "page", name), "utf8"));
  return [first, engineFunctions(), ...rest].join("\n");
}

/** The onnxruntime-web wasm bundle as an inline module prefix (`const ort = {...}` instead of its export line), and the wasm binary. */
function ortWeb(): { script: string; wasm: Uint8Array } {
  const require = createRequire(import.meta.url);
  const wasmPath = require.resolve("onnxruntime-web/ort-wasm-simd-threaded.wasm");
  const bundle = readFileSync(join(dirname(wasmPath), "ort.wasm.bundle.min.mjs"), "utf8").replace(/\n\/\/# sourceMappingURL=\S*\s*$/, "\n");
  const exported = /export\s*\{([^}]*)\};?\s*$/.exec(bundle);
  if (!exported) throw new Error("onnxruntime-web's wasm bundle no longer ends in an export list");
  const members = exported[1].split(",").map((part) => part.trim().split(/\s+as\s+/));
  const object = members.map(([local, name]) => `${JSON.stringify(name ?? local)}: ${local}`).join(", ");
  const script = `${bundle.slice(0, exported.index)}\nconst ort = { ${object} };\n`;
  return { script: script.replace(/<\/(script)/gi, "<\\/$1"), wasm: readFileSync(wasmPath) };
}

function blobElement(name: string, bytes: Uint8Array): string {
  return `<script type="application/octet-stream" data-blob="${name}">${Buffer.from(gzipSync(bytes)).toString("base64")}</script>\n`;
}

/** The page for `meta` and its blobs (HTML text). */
export function renderExplorer(meta: ExplorerMeta, blobs: ExplorerBlobs): string {
  const ort = ortWeb();
  const page = pageScript();
  const style = readFileSync(join(ASSETS, "page.css"), "utf8");
  const json = JSON.stringify({ ...meta, float64: blobs.float64 !== undefined }).replace(/</g, "\\u003c");
  const title = `lesion explorer: ${meta.model} on ${meta.data}`.replace(/[<&]/g, (c) => (c === "<" ? "&lt;" : "&amp;"));
  return [
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
    `<title>${title}</title>\n<style>${style}</style>\n</head><body>\n`,
    '<header><h1>lesion explorer</h1><p id="about"></p><p id="status">loading the network…</p></header>\n',
    '<div id="controls"><label>colour <select id="indicator"></select></label> <label id="class-label">class <select id="klass"></select></label>',
    ' <label id="population-label" hidden>population <select id="population"></select></label> <button id="undo" disabled>undo</button> <button id="reset" disabled>reset</button>',
    ' <span class="hint">click: silence only this unit (again: restore) · shift- or ctrl-click: add to / remove from the group · Tab and Enter work too</span>',
    '<div id="legend">unit colour, each site on its own scale (its ends under the site\'s name): its lowest value<span class="ramp"></span>its highest · grey: undefined (selectivity of a unit too rarely active) · black, red border: silenced</div></div>\n',
    '<div id="cli"><label>the current lesion in the CLI <input id="units" readonly></label> <button id="copy">copy</button><p id="cli-note" class="hint" hidden></p></div>\n',
    '<main><div id="left"><section id="network"></section><div id="tip" hidden></div></div><section id="results"><p id="overall"></p><svg id="bars"></svg>',
    '<h2>confusion matrix <span class="hint">(rows: true class, columns: predicted; outlined where the lesion changed the count: red worse, fewer right or more wrong, green better; hover a cell for its intact count)</span></h2><div id="confusion"></div>',
    '<div id="map-box" hidden><h2>stimulus map <span class="hint">(t-SNE of the images; colour: what the lesion does to each)</span></h2><canvas id="map" width="420" height="420"></canvas><p id="map-legend"></p></div></section></main>\n',
        `<script type="application/json" id="lesion-meta">${json}</script>\n`,
    blobElement("wasm", ort.wasm),
    ...Object.entries(blobs).map(([name, bytes]) => blobElement(name, bytes)),
    // The page script in its own block: the minified bundle's top-level names stay out of its way.
    `<script type="module">\n${ort.script}\n{\n${page.replace(/<\/(script)/gi, "<\\/$1")}\n}\n</script>\n`,
    "</body></html>\n",
  ].join("");
}
