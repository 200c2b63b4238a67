// The lesion explorer page script, in parts: src/explore/renderExplorer.ts joins the files of this folder, in the order
// of its PAGE_SCRIPTS, into one module after onnxruntime-web's bundle (which defines `ort`), so they share one scope.
// It runs the same computation as lesion's general ablation path (src/engine/sweep/maskedSweep.ts): cached site
// tensors, the suffix graph from the earliest silenced site with masks as per-row inputs, near ties re-decided in
// float64. This part: the embedded metadata, the inline blobs, and the samples as the model's input.
/* global ort */
const $ = (id) => document.getElementById(id);
const meta = JSON.parse($("lesion-meta").textContent);
const K = meta.numClasses;
const N = meta.n;
const prod = (shape) => shape.reduce((a, b) => a * b, 1);
const siteByName = new Map(meta.sites.map((s) => [s.name, s]));
const indicatorsBySite = new Map(meta.indicators.map((s) => [s.site, s]));

function fromBase64(text) {
  if (Uint8Array.fromBase64) return Uint8Array.fromBase64(text);
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

async function blob(name) {
  const element = document.querySelector(`script[data-blob="${name}"]`);
  if (!element) throw new Error(`the page lacks its blob ${name}`);
  const stream = new Blob([fromBase64(element.textContent.trim())]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// ---- data ------------------------------------------------------------------------------------------------------
const [C, H, W] = meta.imageShape;
const P = C * H * W;
let images = null; // Float32Array of [0,1] pixels, NCHW
let labels = null;
const counts = new Array(K).fill(0);

/** Samples start .. start+count−1 of the page's images as the model's input: the engine's own fillInput. */
function fillInput(out, start, count) {
  engineFillInput(out, images, start, count, meta.imageShape, meta.preprocessing);
}
