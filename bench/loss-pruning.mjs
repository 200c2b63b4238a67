// Why pairs with loss at h0 and h1 of meyes2019-mlp100x3 still evaluate every row where both units are active
// (`npm run build && node bench/loss-pruning.mjs`; prints, writes nothing). Two ways to skip such rows, measured:
// 1. A bound: a pair's loss interaction I = L_ij − L_i − L_j + L is below τ when all four cross-entropies are below τ/2,
//    which holds where the intact class is the label and every gap, after either single and the other unit's bound
//    (LayerBounds.singleMargins, .reach), stays above T = log(18/τ). Counted at T = 10, 16 and 23.6 (τ = 1e-9).
// 2. Linearisation: the pair's logits are the singles' changes added up exactly when no unit of the next layer changes
//    side of 0; counted on every 20th image.
import { fileURLToPath } from "node:url";

const checkpoint = fileURLToPath(new URL("../../shared/models/meyes2019-mlp100x3/trained.pt", import.meta.url));
const { importModel } = await import("../dist/models/importModel.js");
const { loadDataset } = await import("../dist/data/loadDataset.js");
const { openModel } = await import("../dist/engine/model.js");
const { denseChain } = await import("../dist/onnx/chain.js");
const { fillInput } = await import("../dist/engine/input.js");
const { denseIntact } = await import("../dist/engine/sweep/denseIntact.js");
const { denseSweep } = await import("../dist/engine/sweep/denseSweep.js");

const imported = await importModel(checkpoint, { arch: "mlp", activation: "relu", mean: [0.5], std: [0.5] });
const model = await openModel(imported.bytes, { name: "meyes2019-mlp100x3" });
const data = await loadDataset("mnist:test");
const chain = denseChain(model.proto);
const { n } = data;
const k = 10;
const units = 100;
const inputs = new Float32Array(n * 784);
fillInput(inputs, data.images, 0, n, data.shape, model.preprocessing);
const intact = await denseIntact(model, chain, inputs, data.labels);
const pairs = [];
for (let i = 0; i < units; i++) for (let j = i + 1; j < units; j++) pairs.push([i, j]);

for (const layer of [0, 1]) {
  // The pairs without loss record every single's gaps (LayerBounds.singleMargins).
  await denseSweep({ model, chain, siteLayer: layer, inputs, labels: data.labels, conditions: pairs, loss: false, intact });
  const { singleMargins: margin, reach } = intact.bounds.get(layer);
  const h = intact.pre[layer];
  for (const T of [10, 16, 23.6]) {
    let both = 0;
    let skipped = 0;
    for (let s = 0; s < n; s++) {
      let room = Infinity;
      for (let c = 0; c < k; c++) room = Math.min(room, intact.room[s * k + c]);
      const confident = room >= T && data.labels[s] === intact.predictions[s];
      const active = [];
      for (let u = 0; u < units; u++) if (h[s * units + u] > 0) active.push(s * units + u);
      for (let x = 0; x < active.length; x++) {
        for (let y = x + 1; y < active.length; y++) {
          both++;
          const [a, b] = [active[x], active[y]];
          if (confident && margin[a] >= T && margin[b] >= T && (margin[a] - reach[b] >= T || margin[b] - reach[a] >= T)) skipped++;
        }
      }
    }
    console.log(`site ${chain.layers[layer].name}, T = ${T}: ${both} rows with both units active, ${skipped} (${((100 * skipped) / both).toFixed(1)} %) provably below τ = 18·e^−T`);
  }
  const W = chain.layers[layer + 1].weight;
  const next = intact.pre[layer + 1];
  let rows = 0;
  let crossing = 0;
  let crossings = 0;
  for (let s = 0; s < n; s += 20) {
    const active = [];
    for (let u = 0; u < units; u++) if (h[s * units + u] > 0) active.push(u);
    for (let x = 0; x < active.length; x++) {
      for (let y = x + 1; y < active.length; y++) {
        const [i, j] = [active[x], active[y]];
        let c = 0;
        for (let m = 0; m < units; m++) {
          const before = next[s * units + m];
          const after = before - h[s * units + i] * W[m * units + i] - h[s * units + j] * W[m * units + j];
          if (before > 0 !== after > 0) c++;
        }
        rows++;
        if (c > 0) crossing++;
        crossings += c;
      }
    }
  }
  console.log(`site ${chain.layers[layer].name}: ${((100 * crossing) / rows).toFixed(1)} % of ${rows} pair rows (every 20th image) move a unit of the next layer across 0, ${(crossings / rows).toFixed(2)} units per row`);
}
