/**
 * Training-step graphs against PyTorch (test/fixtures/torch/make_training_references.py): gradients of every rule
 * (Linear, Conv with stride/padding, MaxPool, AvgPool, ReLU, LeakyReLU, Tanh, Sigmoid, GELU, SiLU, Flatten, cross-entropy,
 * LogSoftmax + NLL), SGD with momentum and Adam with weight decay over three steps; and central finite differences.
 * A residual network (make_residual_training_references.py: torchvision's padded stem max pool, two blocks wired as
 * torchvision's BasicBlock, a strided shortcut conv reading back, global average pooling; a block with the CIFAR
 * ResNets' option A shortcut, a strided Slice and a Pad of zero channels) the same way.
 * BatchNorm (test/fixtures/torch/make_bn_training_references.py): training-mode gradients, steps, the running
 * statistics the steps leave, and eval-mode logits with them. GELU and SiLU: make_activation_training_references.py.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createSession, OrtTensor } from "../../src/engine/ort.js";
import { buffers, parameters, type Network, type NetworkLayer } from "../../src/onnx/network.js";
import { encodeModel } from "../../src/onnx/proto.js";
import { dropoutInput, forwardModel, LOGITS_OUTPUT, LOSS_OUTPUT, maskInput, stateNames, STEP_INPUTS, trainStepModel, updated, type StepOptions } from "../../src/onnx/trainGraph.js";
import { random } from "../helpers.js";

interface Case {
  shape: number[];
  layers: Array<[string, ...Array<string | number | boolean>]>;
  x: number[];
  y: number[];
  parameters: Record<string, { shape: number[]; values: number[] }>;
  loss: number;
  gradients: Record<string, number[]>;
  steps: Record<"sgd" | "adam", Record<string, number[]>>;
  /** BatchNorm case: eval-mode logits (running statistics) after the three steps. */
  evalLogits?: Record<"sgd" | "adam", number[]>;
  /** Layers that read another layer than the one before them: index → the index they read. */
  inputs?: Record<string, number>;
}

const read = (file: string) => JSON.parse(readFileSync(new URL(`../fixtures/torch/${file}`, import.meta.url), "utf8")) as Record<string, Case>;
const cases = { ...read("training.reference.json"), ...read("bn_training.reference.json"), ...read("activation_training.reference.json"), ...read("residual_training.reference.json") };

function network(c: Case): Network {
  const layers = c.layers.map(([op, ...a], i): NetworkLayer & { input?: number } => ({ ...layer(op, a), ...(c.inputs?.[i] === undefined ? {} : { input: c.inputs[i] }) }));
  return { inputShape: c.shape, layers };
}

function layer(op: string, a: Array<string | number | boolean>): NetworkLayer {
  switch (op) {
    case "linear":
      return { op, name: String(a[0]), in: Number(a[1]), out: Number(a[2]), bias: a[3] !== false };
    case "conv":
      return { op, name: String(a[0]), in: Number(a[1]), out: Number(a[2]), kernel: Number(a[3]), stride: Number(a[4]), padding: Number(a[5]), bias: a[6] !== false };
    case "maxpool":
    case "avgpool":
      return { op, kernel: Number(a[0]), stride: Number(a[1]), ...(a[2] ? { padding: Number(a[2]) } : {}) };
    case "leakyrelu":
      return { op, alpha: Number(a[0]) };
    case "batchnorm":
      return { op, name: String(a[0]), channels: Number(a[1]), eps: 1e-5, momentum: 0.1 };
    case "add":
      return { op, name: String(a[0]), from: Number(a[1]) };
    case "subsample":
      return { op, stride: Number(a[0]), axes: a.slice(1).map(Number) };
    case "padchannels":
      return { op, before: Number(a[0]), after: Number(a[1]) };
    default:
      return { op: op as "relu" };
  }
}

const SGD1: StepOptions = { optimizer: "sgd", momentum: 0, weightDecay: 0, betas: [0.9, 0.999], eps: 1e-8, masks: {} };

/** One step of the graph: returns the loss and every output. */
async function runStep(net: Network, options: StepOptions, c: Case, values: Map<string, Float32Array>, lr: number, extra: Record<string, OrtTensor> = {}, t = 1) {
  const session = await createSession(encodeModel(trainStepModel(net, options)), 1);
  try {
    const state = new Map<string, Float32Array>();
    for (const p of parameters(net)) for (const s of stateNames(options.optimizer, p.name)) state.set(s, new Float32Array(values.get(p.name)!.length));
    let outputs: Record<string, OrtTensor> = {};
    let current = new Map(values);
    for (let step = 1; step <= t; step++) {
      const feeds: Record<string, OrtTensor> = {
        [STEP_INPUTS.x]: new OrtTensor("float32", Float32Array.from(c.x), [c.y.length, ...c.shape]),
        [STEP_INPUTS.y]: new OrtTensor("int32", Int32Array.from(c.y), [c.y.length]),
        [STEP_INPUTS.lr]: new OrtTensor("float32", new Float32Array([lr]), []),
        ...extra,
      };
      if (options.optimizer === "adam") {
        feeds[STEP_INPUTS.c1] = new OrtTensor("float32", new Float32Array([1 / (1 - 0.9 ** step)]), []);
        feeds[STEP_INPUTS.c2] = new OrtTensor("float32", new Float32Array([1 / (1 - 0.999 ** step)]), []);
      }
      for (const p of parameters(net)) {
        feeds[p.name] = new OrtTensor("float32", current.get(p.name)!, p.shape);
        for (const s of stateNames(options.optimizer, p.name)) feeds[s] = new OrtTensor("float32", state.get(s)!, p.shape);
      }
      for (const b of buffers(net)) feeds[b.name] = new OrtTensor("float32", current.get(b.name)!, b.shape);
      outputs = await session.run(feeds);
      current = new Map([...parameters(net), ...buffers(net)].map((p) => [p.name, outputs[updated(p.name)].data as Float32Array]));
      for (const p of parameters(net)) for (const s of stateNames(options.optimizer, p.name)) state.set(s, outputs[updated(s)].data as Float32Array);
    }
    return { loss: (outputs[LOSS_OUTPUT].data as Float32Array)[0], outputs, parameters: current };
  } finally {
    await session.release();
  }
}

/**
 * One SGD step's gradients (its new velocities, momentum 0) at the first, middle and last entry of every parameter
 * equal central finite differences of the step's loss with step h, to 2e-3 + 2 % of the difference. Returns the step.
 */
async function expectFiniteDifferences(net: Network, options: StepOptions, c: Case, start: Map<string, Float32Array>, extra: Record<string, OrtTensor>, h: number) {
  const step = await runStep(net, options, c, start, 1, extra);
  for (const p of parameters(net)) {
    const analytic = step.outputs[updated(stateNames("sgd", p.name)[0])].data as Float32Array;
    for (const i of [0, Math.floor(analytic.length / 2), analytic.length - 1]) {
      const shifted = async (d: number) => {
        const v = new Map(start);
        const copy = Float32Array.from(v.get(p.name)!);
        copy[i] += d;
        v.set(p.name, copy);
        return (await runStep(net, options, c, v, 0, extra)).loss;
      };
      const numeric = ((await shifted(h)) - (await shifted(-h))) / (2 * h);
      expect(Math.abs(analytic[i] - numeric), `${p.name}[${i}]: ${analytic[i]} vs ${numeric}`).toBeLessThan(2e-3 + 2e-2 * Math.abs(numeric));
    }
  }
  return step;
}

function values(c: Case): Map<string, Float32Array> {
  return new Map(Object.entries(c.parameters).map(([k, v]) => [k, Float32Array.from(v.values)]));
}

describe("trainStepModel", () => {
  for (const [name, c] of Object.entries(cases)) {
    it(`trainStepModel(${name}) gives PyTorch's loss and gradients (float64 reference, float32 graph)`, async () => {
      const net = network(c);
      const { loss, outputs } = await runStep(net, SGD1, c, values(c), 1);
      expect(loss).toBeCloseTo(c.loss, 5);
      for (const p of parameters(net)) {
        // With momentum 0 the new velocity is the gradient itself.
        const gradient = outputs[updated(stateNames("sgd", p.name)[0])].data as Float32Array;
        const expected = c.gradients[p.name];
        const scale = Math.max(...expected.map(Math.abs), 1e-3);
        gradient.forEach((g, i) => expect(Math.abs(g - expected[i]), `${p.name}[${i}]`).toBeLessThan(1e-5 * scale + 1e-7));
      }
    });

    for (const optimizer of ["sgd", "adam"] as const) {
      it(`trainStepModel(${name}, ${optimizer}) takes the same three steps as torch.optim (momentum / Adam, weight decay)`, async () => {
        const net = network(c);
        const options: StepOptions = { optimizer, momentum: 0.9, weightDecay: 1e-3, betas: [0.9, 0.999], eps: 1e-8, masks: {} };
        const { parameters: after } = await runStep(net, options, c, values(c), optimizer === "sgd" ? 0.1 : 0.01, {}, 3);
        // Parameters, and the running statistics of BatchNorm layers.
        for (const p of [...parameters(net), ...buffers(net)]) {
          const expected = c.steps[optimizer][p.name];
          after.get(p.name)!.forEach((v, i) => expect(Math.abs(v - expected[i]), `${p.name}[${i}]`).toBeLessThan(2e-5 * Math.max(1, Math.abs(expected[i]))));
        }
        if (c.evalLogits) {
          // Evaluation uses the running statistics: PyTorch's eval-mode logits after the steps.
          const session = await createSession(encodeModel(forwardModel(net)), 1);
          try {
            const feeds: Record<string, OrtTensor> = { [STEP_INPUTS.x]: new OrtTensor("float32", Float32Array.from(c.x), [c.y.length, ...c.shape]) };
            for (const p of [...parameters(net), ...buffers(net)]) feeds[p.name] = new OrtTensor("float32", after.get(p.name)!, p.shape);
            const logits = (await session.run(feeds))[LOGITS_OUTPUT].data as Float32Array;
            c.evalLogits[optimizer].forEach((v, i) => expect(Math.abs(logits[i] - v), `logit ${i}`).toBeLessThan(1e-4 * Math.max(1, Math.abs(v))));
          } finally {
            await session.release();
          }
        }
      });
    }
  }

  it("trainStepModel gradients agree with central finite differences, dropout and masks included", async () => {
    const c = cases.cnn;
    const base = network(c);
    // Insert a dropout after the first ReLU and hold channel 1 of the first conv.
    const net: Network = { inputShape: base.inputShape, layers: [...base.layers.slice(0, 2), { op: "dropout", p: 0.5 }, ...base.layers.slice(2)] };
    const rand = random(3);
    const dropMask = Float32Array.from({ length: c.y.length * 3 * 8 * 8 }, () => (rand() < 0.5 ? 2 : 0));
    const extra = {
      [dropoutInput(2)]: new OrtTensor("float32", dropMask, [c.y.length, 3, 8, 8]),
      [maskInput(1)]: new OrtTensor("float32", Float32Array.from([1, 0, 1]), [1, 3, 1, 1]),
    };
    const options = { ...SGD1, masks: { 1: [1] } };
    const start = values(c);
    // Small enough that few ReLU/max-pool kinks are crossed, large enough for float32 losses.
    const { outputs } = await expectFiniteDifferences(net, options, c, start, extra, 2e-3);
    // The held channel passes no gradient to its filter.
    const held = outputs[updated(stateNames("sgd", "0.weight")[0])].data as Float32Array;
    expect(Array.from(held.subarray(9, 18))).toEqual(new Array(9).fill(0));
  });
});

describe("trainStepModel with residual connections", () => {
  it("gradients agree with central finite differences (Tanh for ReLU), a held channel of a block's output included: it passes no gradient back through either branch", async () => {
    const c = cases.residual;
    const base = network(c);
    const net: Network = { inputShape: base.inputShape, layers: base.layers.map((l) => (l.op === "relu" ? { ...l, op: "tanh" } : l)) };
    // Hold channel 1 of the first block's output (layer 7, after its Add): the stem's channel 1 then gets gradient only
    // through the block's conv branch, and b1c2's filter 1 none at all.
    const extra = { [maskInput(7)]: new OrtTensor("float32", Float32Array.from([1, 0, 1]), [1, 3, 1, 1]) };
    const options = { ...SGD1, masks: { 7: [1] } };
    const { outputs } = await expectFiniteDifferences(net, options, c, values(c), extra, 2e-3);
    const gradient = (name: string) => Array.from(outputs[updated(stateNames("sgd", name)[0])].data as Float32Array);
    expect(gradient("b1c2.weight").slice(27, 54)).toEqual(new Array(27).fill(0));
    expect(gradient("b1c2.bias")[1]).toBe(0);
    expect(gradient("b1c2.bias")[0]).not.toBe(0);
  });
});

describe("trainStepModel with BatchNorm", () => {
  it("gradients through batch statistics agree with central finite differences; a held channel after BN and its activation passes none", async () => {
    const c = cases.cnn_bn;
    // Tanh for ReLU: the loss is then smooth where finite differences look (with ReLUs, batch statistics put kinks
    // within 1e-4 of these parameters: a float64 PyTorch difference with h = 5e-4 is off by 15 %).
    const base = network(c);
    const net: Network = { inputShape: base.inputShape, layers: base.layers.map((l) => (l.op === "relu" ? { op: "tanh" } : l)) };
    // Site of conv 0 is after its BatchNorm and activation (layer 2); hold channel 1 there.
    const extra = { [maskInput(2)]: new OrtTensor("float32", Float32Array.from([1, 0, 1]), [1, 3, 1, 1]) };
    const options = { ...SGD1, masks: { 2: [1] } };
    const start = values(c);
    const { outputs } = await expectFiniteDifferences(net, options, c, start, extra, 2e-3);
    const gradient = (name: string) => Array.from(outputs[updated(stateNames("sgd", name)[0])].data as Float32Array);
    expect(gradient("0.weight").slice(18, 36)).toEqual(new Array(18).fill(0));
    expect(gradient("1.weight")[1]).toBe(0);
    expect(gradient("1.bias")[1]).toBe(0);
    expect(gradient("1.weight")[0]).not.toBe(0);
  });
});

describe("trainStepModel with BatchNorm frozen (transplant)", () => {
  it("trainStepModel({frozenBatchNorm}): gradients through the running statistics agree with central finite differences, and the statistics come out unchanged", async () => {
    const c = cases.cnn_bn;
    const base = network(c);
    const net: Network = { inputShape: base.inputShape, layers: base.layers.map((l) => (l.op === "relu" ? { op: "tanh" } : l)) };
    const start = values(c);
    // Statistics unlike any batch's, so a graph that normalised by the batch would give other gradients.
    const bn = net.layers.find((l) => l.op === "batchnorm") as { name: string; channels: number };
    start.set(`${bn.name}.running_mean`, Float32Array.from({ length: bn.channels }, (_, i) => 0.3 - 0.2 * i));
    start.set(`${bn.name}.running_var`, Float32Array.from({ length: bn.channels }, (_, i) => 0.5 + 0.7 * i));
    const { outputs } = await expectFiniteDifferences(net, { ...SGD1, frozenBatchNorm: true }, c, start, {}, 2e-3);
    for (const name of [`${bn.name}.running_mean`, `${bn.name}.running_var`]) expect(Array.from(outputs[updated(name)].data as Float32Array)).toEqual(Array.from(start.get(name)!));
  });
});

describe("trainStepModel with BatchNorm on a batch of one", () => {
  it("a BatchNorm1d step on one sample leaves running_var = 0.9·old (batch variance 0, no 1/(M−1) blow-up) and a finite loss", async () => {
    const net: Network = { inputShape: [4], layers: [{ op: "linear", name: "fc1", in: 4, out: 3, bias: true }, { op: "batchnorm", name: "bn1", channels: 3, eps: 1e-5, momentum: 0.1 }, { op: "relu" }, { op: "linear", name: "fc2", in: 3, out: 2, bias: true }] };
    const c = { shape: [4], x: [0.1, 0.2, 0.3, 0.4], y: [1] } as unknown as Case;
    const start = new Map<string, Float32Array>([
      ["fc1.weight", Float32Array.from({ length: 12 }, (_, i) => (i - 6) / 10)],
      ["fc1.bias", new Float32Array(3)],
      ["bn1.weight", new Float32Array(3).fill(1)],
      ["bn1.bias", new Float32Array(3)],
      ["bn1.running_mean", new Float32Array(3)],
      ["bn1.running_var", new Float32Array(3).fill(1)],
      ["fc2.weight", Float32Array.from({ length: 6 }, (_, i) => i / 10)],
      ["fc2.bias", new Float32Array(2)],
    ]);
    const { loss, parameters: after } = await runStep(net, SGD1, c, start, 0);
    expect(Number.isFinite(loss)).toBe(true);
    expect(Array.from(after.get("bn1.running_var")!)).toEqual(new Array(3).fill(Math.fround(0.9)));
    // fc1's output is W·x: rows (−0.6, −0.5, −0.4, −0.3)·x = −0.5 etc.; the running mean moves a tenth of the way.
    const z = [0, 1, 2].map((r) => [0, 1, 2, 3].reduce((s, k) => s + ((r * 4 + k - 6) / 10) * c.x[k], 0));
    Array.from(after.get("bn1.running_mean")!).forEach((v, r) => expect(v).toBeCloseTo(0.1 * z[r], 6));
  });
});
