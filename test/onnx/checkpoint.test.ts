import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { LesionError } from "../../src/errors.js";
import { readCheckpoint } from "../../src/onnx/checkpoint/readCheckpoint.js";

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
    expect(error.message).toMatch(/the pickle asks for (posix|os)\.system; lesion loads only tensors and plain containers and never runs code/);
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
