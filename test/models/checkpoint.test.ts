import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { zipSync } from "fflate";
import { beforeAll, describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/loadDataset.js";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel } from "../../src/engine/model.js";
import { checkpointFormat } from "../../src/onnx/checkpointFormat.js";
import { decodeModel } from "../../src/onnx/proto.js";
import { evaluate } from "../../src/engine/evaluate.js";
import { importModel } from "../../src/models/importModel.js";
import { errorOf as rejectionOf, randomMlp } from "../helpers.js";
import { LesionError } from "../../src/errors.js";
import { type NumpyArray, type NumpyDtype } from "../../src/models/torch/numpy.js";
import { isKind, unpickle, type PyDict, type PyObject, type PyTuple, type PyValue } from "../../src/models/torch/pickle.js";
import { allowedGlobals, buildObject, readCheckpoint, readStateDict } from "../../src/models/torch/readCheckpoint.js";

const fixture = (name: string) => new URL(`../fixtures/checkpoints/${name}`, import.meta.url);
const shared = (path: string) => new URL(`../fixtures/meyes2019/${path}`, import.meta.url);
const expected = JSON.parse(readFileSync(fixture("expected.json"), "utf8")) as Record<string, Array<{ name: string; shape: number[]; values: number[] }>> & {
  shared: Record<string, Array<{ name: string; shape: number[]; sum: number; first: number }>>;
};

function load(name: string) {
  return readCheckpoint(readFileSync(fixture(name)), name);
}

function errorOf(run: () => unknown): LesionError {
  try {
    run();
  } catch (error) {
    if (error instanceof LesionError) return error;
    throw error;
  }
  throw new Error("no error");
}

describe("readCheckpoint", () => {
  const files = Object.keys(expected).filter((k) => k !== "shared");

  it("the fixtures cover the zip, legacy and safetensors formats", () => {
    expect(files.sort()).toEqual(["cnn_zip.pt", "float64_legacy.pt", "half_zip.pt", "mlp.safetensors", "mlp_legacy.pt", "mlp_zip.pt", "nobias_legacy.pt", "views_zip.pt", "wrapped.pt"]);
  });

  for (const file of files) {
    it(`readCheckpoint(${file}) gives PyTorch's keys, shapes and values in key order`, () => {
      const state = load(file);
      expect(state.map((t) => t.name)).toEqual(expected[file].map((t) => t.name));
      state.forEach((tensor, i) => {
        expect(tensor.shape).toEqual(expected[file][i].shape);
        // float16 values are widened exactly; float32 are compared as float32.
        expect(Array.from(tensor.data, Number)).toEqual(expected[file][i].values.map((v) => (tensor.dtype === "float64" ? v : Math.fround(v))));
      });
    });
  }

  it("readCheckpoint keeps the dtype: float64 stays float64, float16 is read as float16", () => {
    expect(load("float64_legacy.pt")[0].data).toBeInstanceOf(Float64Array);
    expect(load("half_zip.pt")[0].dtype).toBe("float16");
  });

  it("readCheckpoint(a pickle that names os.system) is unsafe-pickle naming it, and runs nothing", () => {
    const error = errorOf(() => load("evil.pt"));
    expect(error.code).toBe("unsafe-pickle");
    expect(error.message).toMatch(/the pickle asks for (posix|os)\.system; lesion loads only tensors, numpy data and plain containers and never runs code/);
    expect(existsSync("/tmp/lesion-pwned-marker")).toBe(false);
  });

  it("readCheckpoint(a truncated .pt) is bad-checkpoint", () => {
    const error = errorOf(() => load("truncated.pt"));
    expect(error.code).toBe("bad-checkpoint");
    expect(error.message).toMatch(/^truncated\.pt: /);
  });

  it("readCheckpoint(bytes of no known format, or an empty file) is bad-checkpoint", () => {
    expect(errorOf(() => readCheckpoint(new TextEncoder().encode("hello world, not a model"), "x.pt")).message).toContain("is not a PyTorch checkpoint");
    expect(errorOf(() => readCheckpoint(new Uint8Array(0), "empty.pt")).code).toBe("bad-checkpoint");
    // A zip archive that is not a checkpoint.
    expect(errorOf(() => readCheckpoint(Uint8Array.from([0x50, 0x4b, 3, 4, 0, 0]), "z.pt")).code).toBe("bad-checkpoint");
  });

  for (const model of ["meyes2019-mlp20", "meyes2019-mlp100x3"]) {
    it(`readCheckpoint(${model}/trained.pt, legacy format${model.endsWith("x3") ? ", saved from cuda:0" : ""}) loads on the CPU`, () => {
      const state = readCheckpoint(readFileSync(shared(`${model}/trained.pt`)), model);
      const reference = expected.shared[model];
      expect(state.map((t) => [t.name, t.shape])).toEqual(reference.map((t) => [t.name, t.shape]));
      state.forEach((tensor, i) => {
        let sum = 0;
        for (const v of tensor.data) sum += v;
        expect(sum).toBeCloseTo(reference[i].sum, 6);
        expect(tensor.data[0]).toBe(Math.fround(reference[i].first));
      });
    });
  }
});

describe("readStateDict: training scripts' layouts", () => {
  const layout = (name: string) => new URL(`../fixtures/checkpoints/layouts/${name}`, import.meta.url);
  const layouts = JSON.parse(readFileSync(layout("expected.json"), "utf8")) as Record<string, { path: string[]; tensors: Array<{ name: string; shape: number[]; values: number[] }> }> & {
    pickles: Record<string, Record<string, unknown>>;
  };
  const read = (name: string) => readStateDict(readFileSync(layout(name)), name);

  for (const file of Object.keys(layouts).filter((k) => k !== "pickles")) {
    it(`readStateDict(${file}) takes checkpoint${layouts[file].path.map((k) => `['${k}']`).join("")} with PyTorch's values, wrapper prefixes removed`, () => {
      const { tensors, path, note } = read(file);
      const reference = layouts[file];
      expect(path).toEqual(reference.path);
      expect(tensors.map((t) => t.name)).toEqual(reference.tensors.map((t) => t.name));
      tensors.forEach((tensor, i) => {
        expect(tensor.shape).toEqual(reference.tensors[i].shape);
        expect(Array.from(tensor.data, Number)).toEqual(reference.tensors[i].values.map(Math.fround));
      });
      expect(note).toContain(`: ${reference.tensors.length} tensors`);
    });
  }

  it("readStateDict notes the dict taken, its tensor count and the prefix removed", () => {
    expect(read("examples_imagenet.pt").note).toBe("took checkpoint['state_dict']: 4 tensors, without the prefix 'module.' every key had");
    expect(read("examples_imagenet.pt").strippedPrefix).toBe("module.");
    expect(read("compiled.pt").strippedPrefix).toBe("_orig_mod.");
    expect(read("ddp_bare.pt").note).toBe("took the top-level dict: 4 tensors, without the prefix 'module.' every key had");
    expect(load("mlp_zip.pt").length).toBe(4);
    expect(readStateDict(readFileSync(fixture("mlp_zip.pt")), "mlp_zip.pt")).toMatchObject({ path: [], strippedPrefix: null, note: "took the top-level dict: 4 tensors" });
  });

  it("readStateDict(a whole model saved with torch.save(model)) is unsafe-pickle naming its class", () => {
    const error = errorOf(() => read("whole_model.pt"));
    expect(error.code).toBe("unsafe-pickle");
    expect(error.message).toBe(
      "whole_model.pt: the pickle asks for __main__.Net; lesion loads only tensors, numpy data and plain containers and never runs code (a whole model saved with torch.save(model): save model.state_dict() instead)",
    );
  });

  it("a whole model whose class lives in the user's own module (models.NamedMLP) is named with the same advice (helper trial 'newuser27')", () => {
    // protocol 2: GLOBAL models.NamedMLP, STOP.
    const pickle = Uint8Array.from([0x80, 2, ...Buffer.from("cmodels\nNamedMLP\n."), 0x2e]);
    const error = errorOf(() => unpickle(pickle, 0, options));
    expect(error.message).toBe("x.pkl: the pickle asks for models.NamedMLP; lesion loads only tensors, numpy data and plain containers and never runs code (a whole model saved with torch.save(model)? then save model.state_dict() instead)");
    // A function is no model: no advice.
    expect(errorOf(() => unpickle(Uint8Array.from([0x80, 2, ...Buffer.from("cos\nsystem\n.")]), 0, options)).message).not.toMatch(/state_dict/);
  });

  const options = { source: "x.pkl", globals: allowedGlobals(), persistentLoad: () => null, build: buildObject };
  for (const file of Object.keys(layouts.pickles)) {
    it(`unpickle(${file}) decodes ${file.startsWith("numpy") ? "numpy scalars, dtypes and arrays" : "namespaces, paths, sets, devices and dtypes"} to the values Python reads`, () => {
      const { value } = unpickle(readFileSync(layout(file)), 0, options);
      expect(plain(value)).toEqual(layouts.pickles[file]);
    });
  }

  it("unpickle(numpy.random.Generator: code, not data) is unsafe-pickle naming it", () => {
    const error = errorOf(() => unpickle(readFileSync(layout("numpy_generator.pkl")), 0, options));
    expect(error.code).toBe("unsafe-pickle");
    expect(error.message).toMatch(/the pickle asks for numpy\.random\._pickle\.__generator_ctor;/);
  });
});

/** A decoded pickle value in the JSON form make_layouts.py writes: arrays as {dtype, shape, values} in C order. */
function plain(value: PyValue): unknown {
  if (typeof value === "bigint") return String(value);
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Uint8Array) return Array.from(value);
  if (isKind(value, "tuple")) return (value as PyTuple).items.map(plain);
  if (isKind(value, "dict")) return Object.fromEntries((value as PyDict).entries.map(([k, v]) => [String(k), plain(v)]));
  if (isKind(value, "global")) return (value as { name: string }).name;
  const object = value as PyObject;
  if (object.type === "namespace") return plain(object.value as PyDict);
  const dtypeText = (d: NumpyDtype) => `${d.byteorder === "=" ? "<" : d.byteorder}${d.kind}${d.kind === "U" ? d.itemsize / 4 : d.itemsize}`;
  if (object.type === "numpy-dtype") return { dtype: dtypeText(object.value as NumpyDtype) };
  if (object.type === "ndarray") {
    const array = object.value as NumpyArray;
    const values = Array.from(array.values as ArrayLike<PyValue>, plain);
    return array.dtype!.kind === "O" ? { shape: array.shape, values } : { dtype: dtypeText(array.dtype!), shape: array.shape, values };
  }
  return object;
}

describe("issue #13 cases: checkpoints as training scripts write them", () => {
  const caseFile = (name: string) => fileURLToPath(new URL(`../fixtures/cases/${name}`, import.meta.url));
  let mnist: Dataset;
  beforeAll(async () => {
    mnist = await loadDataset("mnist:test");
  });

  async function evaluateImport(path: string, arch = "mlp") {
    const imported = await importModel(path, { arch });
    const model = await openModel(imported.bytes, { name: "imported" });
    try {
      return { imported, sites: model.sites.map((s) => [s.name, s.units]), result: await evaluate(model, mnist) };
    } finally {
      await closeModel(model);
    }
  }

  it("importModel(numpy-scalar-in-checkpoint/ckpt_numpy_acc.pth) equals its controls: 10.44 %, loss 2.3191 on mnist:test", async () => {
    const numpy = await evaluateImport(caseFile("numpy-scalar-in-checkpoint/ckpt_numpy_acc.pth"));
    expect(numpy.imported.note).toBe("took checkpoint['model']: 4 tensors");
    expect(numpy.result.accuracy).toBe(0.1044);
    expect(numpy.result.loss).toBeCloseTo(2.3191, 4);
    for (const control of ["ckpt_float_acc.pth", "state_dict.pth"]) {
      const imported = await importModel(caseFile(`numpy-scalar-in-checkpoint/${control}`), { arch: "mlp" });
      expect(Buffer.from(imported.bytes).equals(Buffer.from(numpy.imported.bytes)), control).toBe(true);
    }
  });

  it("importModel(tensor-metric-beside-state-dict/ckpt_tensor_metric.pth.tar) takes 'state_dict' without 'module.': 0.9086, loss 0.293273", async () => {
    const expected = JSON.parse(readFileSync(caseFile("tensor-metric-beside-state-dict/expected.json"), "utf8")) as { accuracy: number; loss: number };
    const { imported, sites, result } = await evaluateImport(caseFile("tensor-metric-beside-state-dict/ckpt_tensor_metric.pth.tar"));
    expect(imported.note).toBe("took checkpoint['state_dict']: 4 tensors, without the prefix 'module.' every key had");
    expect(sites).toEqual([["fc1", 32], ["fc2", 10]]);
    expect(result.accuracy).toBe(0.9086);
    expect(result.accuracy).toBe(expected.accuracy);
    expect(Math.abs(result.loss - expected.loss) / expected.loss).toBeLessThan(1e-6);
  });

  it("openModel(checkpoint-passed-as-model/weights.pth) is bad-model naming it a PyTorch checkpoint; imported, it evaluates to 10.44 %", async () => {
    const error = await openModel(caseFile("checkpoint-passed-as-model/weights.pth")).then(
      () => null,
      (e: unknown) => e as LesionError,
    );
    expect(error?.code).toBe("bad-model");
    expect(error?.message).toBe(
      "weights.pth is a PyTorch checkpoint (a torch.save zip archive), not an ONNX model: it holds weights without an architecture; importModel builds a model from it and an architecture",
    );
    expect(error?.details).toEqual({ name: "weights.pth", checkpoint: "zip" });
    expect((await evaluateImport(caseFile("checkpoint-passed-as-model/weights.pth"))).result.accuracy).toBe(0.1044);
    // A checkpoint is imported as one whatever its file name says.
    const misnamed = join(mkdtempSync(join(tmpdir(), "lesion-ckpt-")), "weights.onnx");
    copyFileSync(caseFile("checkpoint-passed-as-model/weights.pth"), misnamed);
    expect((await evaluateImport(misnamed)).result.accuracy).toBe(0.1044);
  });

  it("checkpointFormat tells torch.save zip and legacy files, .safetensors and other pickles from ONNX models and other bytes", () => {
    const bytes = (name: string) => readFileSync(fixture(name));
    expect(["mlp_zip.pt", "cnn_zip.pt", "mlp_legacy.pt", "float64_legacy.pt", "mlp.safetensors", "evil.pt"].map((f) => checkpointFormat(bytes(f)))).toEqual(["zip", "zip", "legacy", "legacy", "safetensors", "pickle"]);
    expect(checkpointFormat(randomMlp([16, 8, 3], 1))).toBeNull();
    expect(checkpointFormat(new TextEncoder().encode("hello world, not a model"))).toBeNull();
    expect(checkpointFormat(new Uint8Array(0))).toBeNull();
    // A zip archive without data.pkl is not a checkpoint.
    expect(checkpointFormat(zipSync({ "a/readme.txt": new TextEncoder().encode("hi") }))).toBeNull();
    for (const [file, kind] of [["mlp_legacy.pt", "a legacy torch.save file"], ["mlp.safetensors", "a .safetensors file"]]) {
      expect(errorOf(() => decodeModel(bytes(file), file)).message).toMatch(new RegExp(`^${file.replace(".", "\\.")} is a PyTorch checkpoint \\(${kind.replace(".", "\\.")}\\), not an ONNX model`));
    }
    const torchscript = readFileSync(new URL("../fixtures/checkpoints/layouts/torchscript.pt", import.meta.url));
    expect(checkpointFormat(torchscript)).toBe("torchscript");
    expect(errorOf(() => decodeModel(torchscript, "ts.pt")).message).toBe(
      "ts.pt is a TorchScript archive (torch.jit.save), not an ONNX model; lesion reads the network once exported with torch.onnx.export",
    );
    expect(errorOf(() => readStateDict(torchscript, "ts.pt"))).toMatchObject({
      code: "bad-checkpoint",
      message: "ts.pt is a TorchScript archive (torch.jit.save): its weights belong to scripted modules, not a state_dict; export the network with torch.onnx.export, or save model.state_dict()",
    });
    expect(errorOf(() => decodeModel(bytes("evil.pt"), "evil.pt")).message).toBe(
      "evil.pt is a Python pickle, not an ONNX model; lesion reads models from ONNX and weights from torch.save or .safetensors checkpoints",
    );
  });
});

/** A .safetensors file of float32 tensors, as the format's spec lays it out (8-byte header length, JSON, data). */
function safetensors(tensors: Record<string, number[]>): Uint8Array {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, shape] of Object.entries(tensors)) {
    const bytes = 4 * shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype: "F32", shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const text = Buffer.from(JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  return out;
}

describe("malformed .safetensors (helper trial 'newuser62')", () => {
  it("tensors whose bytes overlap are refused (they had loaded as wrong weights); a file of no tensors says so (not 'Invalid string length')", () => {
    const file = safetensors({ "fc.weight": [2, 3], "fc.bias": [2] });
    const header = JSON.parse(Buffer.from(file.subarray(8, 8 + Number(new DataView(file.buffer).getBigUint64(0, true)))).toString());
    expect(header["fc.bias"].data_offsets).toEqual([24, 32]);
    // fc.bias moved inside fc.weight's bytes; the header keeps its length (both offsets two digits).
    const overlapping = Buffer.from(file);
    overlapping.write(JSON.stringify({ ...header, "fc.bias": { ...header["fc.bias"], data_offsets: [16, 24] } }), 8);
    expect(errorOf(() => readStateDict(overlapping, "overlap.safetensors"))).toMatchObject({ code: "bad-checkpoint", message: "overlap.safetensors: truncated or corrupt checkpoint (tensors fc.weight and fc.bias overlap in the data)" });
    const empty = safetensors({});
    expect(errorOf(() => readStateDict(empty, "empty.safetensors"))).toMatchObject({ code: "bad-checkpoint", message: "empty.safetensors is a safetensors file that holds no tensors" });
  });
});

describe("a state_dict that is no chain of layers (helper trial 'newuser27')", () => {
  const dir = mkdtempSync(join(tmpdir(), "lesion-chain-"));
  const write = (name: string, tensors: Record<string, number[]>) => {
    const path = join(dir, name);
    writeFileSync(path, safetensors(tensors));
    return path;
  };

  it("an LSTM's tensors are refused by name, also with --input-shape (the chain had been built from the linear head alone)", async () => {
    const path = write("lstm.safetensors", { "lstm.weight_ih_l0": [128, 28], "lstm.weight_hh_l0": [128, 32], "lstm.bias_ih_l0": [128], "lstm.bias_hh_l0": [128], "fc.weight": [10, 32], "fc.bias": [10] });
    for (const inputShape of [undefined, [1, 1, 32] as [number, number, number]]) {
      const error = await rejectionOf(() => importModel(path, { arch: "mlp", inputShape }));
      expect(error.code).toBe("bad-arch");
      expect(error.message).toBe(`${path} has tensors no linear, conv or batch-norm layer takes: lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0; a layer list cannot build that module (a recurrent layer, an embedding, …): export the model to ONNX (torch.onnx.export) instead`);
    }
  });

  it("a residual network's blocks (torchvision's layerN.M names, a downsample or shortcut module) are refused: a chain would be another network", async () => {
    const resnet = write("resnet.safetensors", { "conv1.weight": [8, 1, 3, 3], "layer1.0.conv1.weight": [8, 8, 3, 3], "layer1.0.conv2.weight": [8, 8, 3, 3], "fc.weight": [10, 8], "fc.bias": [10] });
    const shortcut = write("shortcut.safetensors", { "conv1.weight": [8, 1, 3, 3], "block.conv.weight": [16, 8, 3, 3], "block.shortcut.0.weight": [16, 8, 1, 1], "fc.weight": [10, 16], "fc.bias": [10] });
    for (const [path, first] of [[resnet, "layer1.0.conv1.weight"], [shortcut, "block.shortcut.0.weight"]]) {
      const error = await rejectionOf(() => importModel(path, { arch: "conv,relu,conv,relu,conv,flatten,linear" }));
      expect(error.code).toBe("bad-arch");
      expect(error.message).toContain(`holds a residual network's blocks (${first}`);
      expect(error.message).toContain("export the model to ONNX");
    }
  });
});

