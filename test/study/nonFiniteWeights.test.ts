/**
 * Zero ablation of a unit whose incoming weights are NaN: its output is forced to exactly 0 (issue 13), so the
 * ablated network equals the network with that unit's incoming weights and bias zeroed, scored by a plain forward
 * pass (`evaluate`). `ablate` and `recover` warn about the non-finite weights as `evaluate` does.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel, resolveSite } from "../../src/engine/model.js";
import { buildClassifier } from "../../src/onnx/build.js";
import { writeMetadata } from "../../src/onnx/metadata.js";
import { encodeModel } from "../../src/onnx/proto.js";
import { ablate } from "../../src/study/ablate.js";
import { groups, pairs, singles } from "../../src/study/conditions.js";
import { evaluate } from "../../src/engine/evaluate.js";
import { encodeNpy } from "../../src/runs/npy.js";
import { recover } from "../../src/models/recover.js";
import { errorOf, random, randomArray } from "../helpers.js";
import { BIN } from "../lesionCli.js";

const [D, H, K] = [16, 8, 4];
const NAN_UNIT = 2;

/** An MLP 16-8-4 over 4x4 images; `zeroed` units get all-zero incoming weights and bias, `nan` units NaN ones. */
function mlp(zeroed: number[], nan: number[]): Uint8Array {
  const rand = random(5);
  const w1 = randomArray(H * D, rand, 0.6);
  const b1 = randomArray(H, rand, 0.2);
  const w2 = randomArray(K * H, rand, 0.8);
  const b2 = randomArray(K, rand, 0.1);
  for (const u of zeroed) (w1.fill(0, u * D, (u + 1) * D), (b1[u] = 0));
  for (const u of nan) (w1.fill(Number.NaN, u * D, (u + 1) * D), (b1[u] = Number.NaN));
  const model = buildClassifier({
    inputShape: [1, 4, 4],
    layers: [
      { op: "flatten" },
      { op: "linear", name: "fc1", weight: w1, shape: [H, D], bias: b1 },
      { op: "relu" },
      { op: "linear", name: "fc2", weight: w2, shape: [K, H], bias: b2 },
    ],
  });
  writeMetadata(model, { preprocessing: { layout: "nchw", mean: [0.5], std: [0.5], imageShape: [1, 4, 4] }, classNames: null });
  return encodeModel(model);
}

function dataset(n: number, seed: number): Dataset {
  const rand = random(seed);
  return {
    spec: `random:${seed}`,
    n,
    shape: [1, 4, 4],
    images: Float32Array.from({ length: n * D }, () => rand()),
    labels: Int32Array.from({ length: n }, () => Math.floor(rand() * K)),
    numClasses: K,
    classNames: ["0", "1", "2", "3"],
    source: "test",
  };
}

describe("zero ablation with non-finite weights", () => {
  const data = dataset(600, 11);
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "lesion-nan-"));
    writeFileSync(join(dir, "nan.onnx"), mlp([], [NAN_UNIT]));
    writeFileSync(join(dir, "x.npy"), encodeNpy(data.images, [data.n, 1, 4, 4]));
    writeFileSync(join(dir, "y.npy"), encodeNpy(data.labels, [data.n]));
  });

  /** Accuracy and per-class accuracy of the model with these units' incoming weights and bias zeroed. */
  async function zeroedScore(units: number[]): Promise<{ accuracy: number; perClass: Array<number | null>; loss: number }> {
    const model = await openModel(mlp(units, []), { name: "zeroed" });
    try {
      const { accuracy, perClass, loss } = await evaluate(model, data);
      return { accuracy, perClass, loss };
    } finally {
      await closeModel(model);
    }
  }

  it("ablate(model with NaN weights into fc1:2, singles, pairs and a group with it) equals the network with those units' weights zeroed", async () => {
    const model = await openModel(join(dir, "nan.onnx"));
    try {
      const site = resolveSite(model, "fc1");
      const conditions = [...singles(site, "zero", [NAN_UNIT, 5]), ...pairs(site, "zero", [NAN_UNIT, 5, 6]), ...groups(site, { all: [0, 1, 2, 3, 4, 5, 6, 7] })];
      const result = await ablate(model, data, { conditions });
      expect(result.engine.fc1).toBe("masked");
      expect(result.warnings).toEqual(["weight fc1.weight has 16 non-finite values (NaN or infinity)", "weight fc1.bias has 1 non-finite value (NaN or infinity)"]);
      for (const c of result.conditions) {
        const expected = await zeroedScore(c.units.includes(NAN_UNIT) ? c.units : [...c.units, NAN_UNIT]);
        if (c.units.includes(NAN_UNIT)) {
          expect([c.id, c.accuracy, c.perClass]).toEqual([c.id, expected.accuracy, expected.perClass]);
          expect(c.loss).toBeCloseTo(expected.loss, 5);
        }
      }
      // The ablated conditions are not the intact (NaN) network's numbers.
      const single = result.conditions.find((c) => c.id === `fc1/zero/${NAN_UNIT}`)!;
      const intact = await evaluate(model, data);
      // Its NaN weights, and (every logit NaN, so every image class 0) the warning that it is at chance.
      expect(intact.warnings.length).toBe(3);
      expect(intact.warnings[2]).toMatch(/^nan\.onnx scores \d+\.\d\d% on .*, no better than always answering its most frequent class/);
      expect(Number.isFinite(single.loss)).toBe(true);
      expect(Number.isFinite(intact.loss)).toBe(false);
      // Its mean over the data is NaN: a mean ablation would have replaced it by NaN, the intact network again.
      expect(await errorOf(() => ablate(model, data, { conditions: singles(site, "mean", [NAN_UNIT, 5]) }))).toMatchObject({ code: "bad-option", message: `mean ablation of fc1:${NAN_UNIT} needs their mean over the data, which is not finite (the model's non-finite weights reach them); ablate them with mode zero` });
    } finally {
      await closeModel(model);
    }
  });

  it("recover(model with NaN weights into fc1:2, held) starts from the network with them zeroed and warns", async () => {
    const model = await openModel(join(dir, "nan.onnx"));
    try {
      const result = await recover(model, dataset(256, 12), { site: "fc1", units: [NAN_UNIT], test: data, epochs: 1, seed: 1 });
      expect(result.warnings.length).toBe(2);
      expect(result.ablated.accuracy).toBe((await zeroedScore([NAN_UNIT])).accuracy);
      expect(Number.isFinite(result.epochs[0].accuracy)).toBe(true);
      expect(result.epochs[0].accuracy).toBeGreaterThan(0);
    } finally {
      await closeModel(model);
    }
  });

  it("lesion ablate nan.onnx --site fc1 --units 2 warns on stderr about the NaN weights and exits 0", () => {
    const run = spawnSync(process.execPath, [BIN, "ablate", "nan.onnx", "--data", "npy:x.npy,y.npy", "--site", "fc1", "--units", String(NAN_UNIT), "-o", "out"], { cwd: dir, encoding: "utf8" });
    expect(run.status).toBe(0);
    expect(run.stderr).toBe("lesion: warning: weight fc1.weight has 16 non-finite values (NaN or infinity)\nlesion: warning: weight fc1.bias has 1 non-finite value (NaN or infinity)\n");
  });
});
