// The explorer page, loading: the wasm runtime, the samples, the sessions, the cached site tensors, the intact network.
const phases = {};
let phaseStart = performance.now();
function phase(name) {
  const now = performance.now();
  phases[name] = Math.round(now - phaseStart);
  phaseStart = now;
}

async function init() {
  phase("parse");
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = "error";
  ort.env.wasm.wasmBinary = await blob("wasm");
  phase("wasm");
  const options = { executionProviders: ["wasm"], graphOptimizationLevel: "basic" };
  const raw = await blob("images");
  if (meta.imagesDtype === "uint8") {
    // k/255 in float32, as lesion's loaders store 8-bit pixels.
    const table = Float32Array.from({ length: 256 }, (_, b) => b / 255);
    images = new Float32Array(raw.length);
    for (let i = 0; i < raw.length; i++) images[i] = table[raw[i]];
  } else images = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  labels = new Int32Array((await blob("labels")).buffer);
  for (const y of labels) counts[y]++;
  phase("data");
  prefix = await ort.InferenceSession.create(await blob("prefix"), options);
  for (const s of meta.suffixes) suffixes.push({ ...s, session: await ort.InferenceSession.create(await blob(s.blob), options) });
  if (meta.float64) float64 = await ort.InferenceSession.create(await blob("float64"), options);
  phase("sessions");
  // Cache every site's tensors: one run of the whole graph per batch.
  for (const t of meta.tensors) cache.set(t.tensor, new Float32Array(N * prod(t.shape)));
  const B = 1024;
  const input = new Float32Array(B * P);
  for (let start = 0; start < N; start += B) {
    const count = Math.min(B, N - start);
    fillInput(input, start, count);
    const outputs = await prefix.run({ [meta.inputName]: new ort.Tensor("float32", input.subarray(0, count * P), [count, ...meta.inputShape]) });
    for (const t of meta.tensors) cache.get(t.tensor).set(outputs[t.tensor].data, start * prod(t.shape));
    for (const t of Object.values(outputs)) t.dispose?.();
  }
  if (meta.suffixes.some((s) => s.feeds.some((f) => f.tensor === meta.inputName))) {
    const all = new Float32Array(N * P);
    fillInput(all, 0, N);
    cache.set(meta.inputName, all);
  }
  phase("prefix");
  // The intact network through the same suffix graph, masks all ones (as the CLI's masked path does).
  const started = performance.now();
  const none = new Map();
  const decided = await runSuffix(suffixes[0], null, none);
  intactPred = new Int32Array(N);
  intactTie = new Uint8Array(N);
  const ties = [];
  for (let s = 0; s < N; s++) {
    intactPred[s] = decided[s] >= 0 ? decided[s] : -1 - decided[s];
    if (decided[s] < 0) {
      intactTie[s] = 1;
      ties.push(s);
    }
  }
  const settled = await settle(ties, none);
  if (settled) ties.forEach((s, i) => (intactPred[s] = settled[i]));
  unresolved = settled ? 0 : ties.length;
  intact = summarise(intactPred, performance.now() - started, unresolved);
  intact.lost = 0;
  intact.gained = 0;
  phase("intact");
}
