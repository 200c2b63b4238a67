/** Every error code not covered beside its feature: asserted by code and message, before anything is written. */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel, resolveSite } from "../../src/engine/model.js";
import { parseArch } from "../../src/models/arch.js";
import { buildClassifier } from "../../src/onnx/build.js";
import { writeMetadata } from "../../src/onnx/metadata.js";
import { DataType, encodeModel, makeNode, makeTensor, makeValueInfo, onnx } from "../../src/onnx/proto.js";
import { ablate } from "../../src/study/ablate.js";
import { evaluate } from "../../src/engine/evaluate.js";
import { fractions, groups, pairs, singles } from "../../src/study/conditions.js";
import { importModel } from "../../src/models/importModel.js";
import { train } from "../../src/models/train.js";
import { recover } from "../../src/models/recover.js";
import { study } from "../../src/runs/study.js";
import { sweep } from "../../src/engine/sweep/sweep.js";
import { transplant } from "../../src/transplant/transplant.js";
import { info } from "../../src/models/info.js";
import { ablateFiles } from "../../src/runs/ablateFiles.js";
import { provenance } from "../../src/runs/provenance.js";
import { errorOf, random, randomArray, randomMlp } from "../helpers.js";

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/checkpoints/${name}`, import.meta.url));

function randomData(n: number, size: number, classes: number, seed: number): Dataset {
  const rand = random(seed);
  return {
    spec: `random:${seed}`,
    n,
    shape: [1, 1, size],
    images: Float32Array.from({ length: n * size }, () => rand()),
    labels: Int32Array.from({ length: n }, () => Math.floor(rand() * classes)),
    numClasses: classes,
    classNames: Array.from({ length: classes }, (_, i) => String(i)),
    source: "test",
  };
}

describe("errors", () => {
  it("importModel(checkpoint) without --arch is bad-option; a wrong architecture is bad-arch naming the problem", async () => {
    expect((await errorOf(() => importModel(fixture("mlp_zip.pt")))).code).toBe("bad-option");
    const tooMany = await errorOf(() => importModel(fixture("mlp_zip.pt"), { arch: "flatten,linear,relu,linear,relu,linear", inputShape: [1, 1, 4] }));
    expect([tooMany.code, tooMany.message]).toEqual(["bad-arch", "the architecture has more linear layers than the checkpoint has parameter groups (2: fc1, fc2)"]);
    const noFlatten = await errorOf(() => importModel(fixture("cnn_zip.pt"), { arch: "conv,bn,linear", inputShape: [1, 6, 6] }));
    expect(noFlatten.code).toBe("bad-arch");
    expect(noFlatten.message).toContain("add flatten before it");
    expect((await errorOf(() => parseArch("conv,pool(2)"))).message).toContain("unknown layer 'pool'");
  });

  it("importModel(cnn_zip.pt, {arch: 'conv,bn,flatten,linear'}) builds a runnable model with conv and linear sites", async () => {
    const imported = await importModel(fixture("cnn_zip.pt"), { arch: "conv,bn,flatten,linear", inputShape: [1, 6, 6] });
    const model = await openModel(imported.bytes, { name: "cnn" });
    try {
      expect(model.sites.map((s) => [s.name, s.kind, s.units])).toEqual([["0", "conv", 2], ["3", "dense", 3]]);
    } finally {
      await closeModel(model);
    }
  });

  it("openModel(NaN weights) opens with a warning naming the weight, and info() reports it", async () => {
    const weight = randomArray(4 * 6, random(1));
    weight[5] = Number.NaN;
    const proto = buildClassifier({ layers: [{ op: "linear", name: "fc1", weight, shape: [4, 6], bias: null }, { op: "relu" }, { op: "linear", name: "fc2", weight: randomArray(8, random(2)), shape: [2, 4], bias: null }], inputShape: [6] });
    writeMetadata(proto, { preprocessing: { layout: "flat", mean: [0], std: [1], imageShape: [1, 1, 6] }, classNames: null });
    const model = await openModel(encodeModel(proto), { name: "nan" });
    try {
      expect(model.warnings).toEqual(["weight fc1.weight has 1 non-finite value (NaN or infinity)"]);
      expect(info(model).warnings).toEqual(model.warnings);
    } finally {
      await closeModel(model);
    }
  });

  it("ablate aborted before its first block finished keeps nothing and says so: details {kept: 0, of}", async () => {
    const model = await openModel(randomMlp([10, 12, 3], 3), { name: "mlp" });
    const dir = mkdtempSync(join(tmpdir(), "lesion-errors-"));
    try {
      const controller = new AbortController();
      controller.abort();
      const conditions = singles(resolveSite(model, "fc1"));
      const aborted = await errorOf(() => ablate(model, randomData(50, 10, 3, 4), { conditions, resumeLog: join(dir, "log.jsonl"), signal: controller.signal }));
      expect([aborted.code, aborted.details]).toEqual(["aborted", { kept: 0, of: 12, helpers: 0 }]);
    } finally {
      await closeModel(model);
    }
  });

  it("ablate with a resume log from another run is resume-mismatch; an aborted run resumes to the same result, from an earlier version's log too, and recomputes damaged records", async () => {
    const model = await openModel(randomMlp([10, 12, 3], 3), { name: "mlp" });
    const dir = mkdtempSync(join(tmpdir(), "lesion-errors-"));
    try {
      const data = randomData(300, 10, 3, 4);
      const conditions = [...singles(resolveSite(model, "fc1")), ...pairs(resolveSite(model, "fc1"), "mean")];
      const resumeLog = join(dir, "resume-log.jsonl");
      const controller = new AbortController();
      const aborted = await errorOf(() =>
        ablate(model, data, { conditions, resumeLog, signal: controller.signal, onProgress: (e) => e.done > 20 && controller.abort() }),
      );
      expect([aborted.code, aborted.message]).toEqual(["aborted", "run aborted"]);
      const saved = readFileSync(resumeLog, "utf8").trim().split("\n").length;
      expect(saved).toBeGreaterThan(2);
      // The error counts the conditions the log kept (its lines less the header and the intact record), of all the run
      // computes: the 78 asked for and the 12 mean singles the mean pairs' redundancy needs.
      expect(aborted.details).toEqual({ kept: saved - 2, of: conditions.length + 12, helpers: 12 });
      const lines = readFileSync(resumeLog, "utf8");
      const resumed = await ablate(model, data, { conditions, resumeLog });
      const fresh = await ablate(model, data, { conditions });
      expect(resumed.conditions).toEqual(fresh.conditions);
      expect(resumed.changes).toEqual(fresh.changes);
      expect(existsSync(resumeLog)).toBe(false);
      // A log an earlier version wrote holds the changed samples and predictions as JSON arrays, not base64: read too.
      // One logged loss is raised by 1 per sample, to show that the resumed run took the logged outcomes.
      let converted = 0;
      let marked = "";
      const earlier = lines
        .trim()
        .split("\n")
        .map((line) => {
          const record = JSON.parse(line) as { id: string; changed?: unknown; changedPredictions?: unknown; lossSum: number };
          if (typeof record.changed !== "string") return line;
          const numbers = (text: string) => Array.from(new Int32Array(Uint8Array.from(Buffer.from(text, "base64")).buffer));
          converted++;
          if (!marked && conditions.some((c) => c.id === record.id)) {
            marked = record.id;
            record.lossSum += data.n;
          }
          return JSON.stringify({ ...record, changed: numbers(record.changed), changedPredictions: numbers(record.changedPredictions as string) });
        });
      expect(converted).toBeGreaterThan(0);
      writeFileSync(resumeLog, earlier.join("\n") + "\n");
      const fromEarlier = await ablate(model, data, { conditions, resumeLog });
      const at = conditions.findIndex((c) => c.id === marked);
      expect(fromEarlier.conditions[at].loss! - fresh.conditions[at].loss!).toBeCloseTo(1, 6);
      expect(fromEarlier.conditions.filter((_, i) => i !== at)).toEqual(fresh.conditions.filter((_, i) => i !== at));
      expect(fromEarlier.changes).toEqual(fresh.changes);
      // Damaged records are computed again, not taken: arrays of two lengths, text that is no base64, per-class counts
      // that are not the intact ones moved by the changes. Each also has its loss raised by 1 per sample, which would
      // show in the result were it taken; a damaged intact network takes every record with it.
      const base64 = (values: number[]) => Buffer.from(Int32Array.from(values).buffer).toString("base64");
      const numbersOf = (text: string) => Array.from(new Int32Array(Uint8Array.from(Buffer.from(text, "base64")).buffer));
      const damages = [
        (r: { changedPredictions: string }) => (r.changedPredictions = base64(numbersOf(r.changedPredictions).slice(1))),
        (r: { changed: string }) => (r.changed = `!!!!${r.changed.slice(4)}`),
        (r: { correctPerClass: number[] }) => r.correctPerClass[0]++,
      ];
      let damaged = 0;
      const withDamage = (intactToo: boolean) =>
        lines
          .trim()
          .split("\n")
          .map((line) => {
            const record = JSON.parse(line) as { id: string; changed: string; changedPredictions: string; correctPerClass: number[]; lossSum: number; predictions?: number[] };
            if (record.id === "intact" && intactToo) record.predictions = record.predictions!.slice(1);
            if (typeof record.changed !== "string" || numbersOf(record.changed).length < 2 || damaged === damages.length) return line;
            damages[damaged++](record as never);
            record.lossSum += data.n;
            return JSON.stringify(record);
          })
          .join("\n") + "\n";
      for (const intactToo of [false, true]) {
        damaged = 0;
        writeFileSync(resumeLog, withDamage(intactToo));
        expect(damaged).toBe(damages.length);
        const repaired = await ablate(model, data, { conditions, resumeLog });
        expect(repaired.conditions).toEqual(fresh.conditions);
        expect(repaired.changes).toEqual(fresh.changes);
      }
      writeFileSync(resumeLog, `${JSON.stringify({ header: { model: "another" } })}\n`);
      const mismatch = await errorOf(() => ablate(model, data, { conditions, resumeLog }));
      expect(mismatch.code).toBe("resume-mismatch");
      expect(mismatch.message).toContain("belongs to a different run");
    } finally {
      await closeModel(model);
    }
  });

  it("groups() with no units and fractions() outside (0, 1] are bad-groups and bad-fraction", async () => {
    const model = await openModel(randomMlp([4, 5, 2], 1), { name: "mlp" });
    try {
      const site = resolveSite(model, "fc1");
      expect((await errorOf(() => groups(site, { empty: [] }))).message).toBe("group 'empty' for site fc1 has no units");
      expect((await errorOf(() => fractions(site, { fractions: [0] }))).code).toBe("bad-fraction");
      expect((await errorOf(() => singles(site, "zero", [5]))).message).toBe("unit 5 is out of range for site fc1 (0..4)");
    } finally {
      await closeModel(model);
    }
  });

  it("conditions that are not what their content makes, a mode other than zero or mean, pairs of one unit and curves without fractions or with a fractional seed are refused (helper trial 'newuser58')", async () => {
    const model = await openModel(randomMlp([4, 5, 2], 1), { name: "mlp" });
    try {
      const site = resolveSite(model, "fc1");
      const data = randomData(20, 4, 2, 3);
      const run = (c: { id: string; site: string; units: number[]; mode: string; label: string | null }) => errorOf(() => ablate(model, data, { conditions: [c as Parameters<typeof ablate>[2]["conditions"][number]], loss: false }));
      // "max" had run as "zero"; an id naming unit 2 had reported unit 1's ablation as unit 2's.
      expect(await run({ id: "fc1/max/3+4", site: "fc1", units: [3, 4], mode: "max", label: null })).toMatchObject({ code: "bad-option", message: `condition fc1/max/3+4: \`mode\` must be "zero" or "mean", got 'max'` });
      expect(await run({ id: "fc1/zero/2", site: "fc1", units: [1], mode: "zero", label: null })).toMatchObject({ code: "bad-units", message: "condition fc1/zero/2 is not what its site, units, mode and label make (fc1/zero/1): build conditions with condition(), singles(), pairs(), groups() or fractions()" });
      expect(await run({ id: "fc1/zero/3+1", site: "fc1", units: [3, 1], mode: "zero", label: null })).toMatchObject({ code: "bad-units", message: "condition fc1/zero/3+1: its units must be distinct and ascending, got 3, 1 (condition() sorts them)" });
      expect(await errorOf(() => pairs(site, "zero", [3]))).toMatchObject({ code: "bad-units", message: "pairs at site fc1 need at least two units, got 3" });
      expect(await errorOf(() => fractions(site, { fractions: [] }))).toMatchObject({ code: "bad-fraction" });
      expect(await errorOf(() => fractions(site, { fractions: [0.5], seed: 1.5 }))).toMatchObject({ code: "bad-option", message: "`seed` must be a whole number, got 1.5" });
      // A repeated unit had made a pair of itself and repeated pairs.
      expect(pairs(site, "zero", [1, 2, 2]).map((c) => c.id)).toEqual(["fc1/zero/1+2"]);
      // No conditions had ended sweep in a TypeError; confusion files of a result without them, in another.
      expect(await errorOf(() => sweep({ model, site, data, conditions: [], loss: false }))).toMatchObject({ code: "bad-units", message: "no conditions to sweep at site fc1" });
      const result = await ablate(model, data, { conditions: singles(site).slice(0, 2), loss: false });
      expect(await errorOf(() => ablateFiles(result, { site: "fc1", loss: false, confusion: true, provenance: provenance(model, data) }))).toMatchObject({ code: "bad-option", details: { options: ["confusion"] } });
      // The transplant's bootstrap: no resample gave NaN interval ends.
      expect(await errorOf(() => transplant(model, model, data, { test: data, site: "fc1", units: [1], resamples: 0 }))).toMatchObject({ code: "bad-option", message: "`resamples` must be a whole number ≥ 1, got 0" });
      expect(await errorOf(() => transplant(model, model, data, { test: data, site: "fc1", units: [1], level: 95 }))).toMatchObject({ code: "bad-option", message: "`level` must be in (0, 1), got 95" });
      // Every unit of a site held: said (a trial's "recovered 1.86 %" of a site whose output was constant).
      const held = await recover(model, data, { site: "fc1", units: [0, 1, 2, 3, 4], test: data, epochs: 1 });
      expect(held.warnings).toContain("every unit of fc1 (5) is held at zero: nothing passes the site, so retraining can only fit the layers after it to a constant input");
      expect((await recover(model, data, { site: "fc1", units: [0, 1, 2, 3], test: data, epochs: 1 })).warnings.filter((w) => w.startsWith("every unit"))).toEqual([]);
      // A network whose only site is its output layer (a trial's LSTM): study says so, not "--sites is empty".
      const flat = await openModel(randomMlp([4, 2], 2), { name: "flat.onnx" });
      try {
        expect(await errorOf(() => study(flat, data, { dir: mkdtempSync(join(tmpdir(), "lesion-flat-")) }))).toMatchObject({ code: "unknown-site", message: "flat.onnx has no hidden sites to study" });
      } finally {
        await closeModel(flat);
      }
      // Each option at fault alone, with its value (epochs 0 had blamed batchSize too).
      expect(await errorOf(() => train(data, { arch: "mlp:4-3-2", epochs: 0 }))).toMatchObject({ code: "bad-option", message: "`epochs` must be a whole number ≥ 1, got 0", details: { options: ["epochs"], value: 0 } });
    } finally {
      await closeModel(model);
    }
  });

  it("ablate at a site whose downstream reads an integer tensor computed from upstream values (not only shapes) is unsupported-op", async () => {
    // input → fc1 → ReLU (site) → Reshape(to a shape computed from the input's values, not only its shape) → fc2.
    const rand = random(3);
    const nodes = [
      makeNode("Gemm", ["input", "fc1.weight"], ["h"], "/fc1/Gemm", { transB: 1 }),
      makeNode("Relu", ["h"], ["a"], "/relu/Relu"),
      makeNode("ReduceMax", ["input"], ["m"], "/max/ReduceMax", { keepdims: 0 }),
      makeNode("Mul", ["m", "zero"], ["z"], "/zero/Mul"),
      makeNode("Cast", ["z"], ["zi"], "/cast/Cast", { to: DataType.INT64 }),
      makeNode("Shape", ["input"], ["shape"], "/shape/Shape"),
      makeNode("Add", ["shape", "zi"], ["s"], "/shape/Add"),
      makeNode("Reshape", ["a", "s"], ["r"], "/reshape/Reshape"),
      makeNode("Gemm", ["r", "fc2.weight"], ["logits"], "/fc2/Gemm", { transB: 1 }),
    ];
    const graph = onnx.GraphProto.create({
      name: "g",
      node: nodes,
      initializer: [makeTensor("fc1.weight", [4, 4], randomArray(16, rand)), makeTensor("fc2.weight", [3, 4], randomArray(12, rand)), makeTensor("zero", [], Float32Array.of(0))],
      input: [makeValueInfo("input", DataType.FLOAT, ["batch", 4])],
      output: [makeValueInfo("logits", DataType.FLOAT, ["batch", 3])],
    });
    const proto = onnx.ModelProto.create({ irVersion: 8, opsetImport: [onnx.OperatorSetIdProto.create({ domain: "", version: 17 })], graph });
    const model = await openModel(encodeModel(proto), { name: "shape" });
    try {
      const error = await errorOf(() => ablate(model, randomData(20, 4, 3, 1), { conditions: singles(resolveSite(model, "fc1"), "mean") }));
      expect(error.code).toBe("unsupported-op");
      expect(error.message).toContain("site fc1");
    } finally {
      await closeModel(model);
    }
  });

  it("resolveSite(m, 'fc3') is unknown-site naming the closest sites; evaluate() on data of another shape is shape-mismatch; a label beyond the classes is label-out-of-range", async () => {
    const model = await openModel(randomMlp([4, 5, 2], 1), { name: "mlp" });
    try {
      // Both sites are one edit away from 'fc3'; ties go in name order.
      const unknown = await errorOf(() => resolveSite(model, "fc3"));
      expect([unknown.code, unknown.message, unknown.details]).toEqual(["unknown-site", "unknown site 'fc3' in mlp; closest: fc1, fc2 (all: fc1, fc2)", { model: "mlp", site: "fc3", closest: ["fc1", "fc2"] }]);
      // randomMlp's metadata says 1x1x4 images; these are 1x1x5.
      const mismatch = await errorOf(() => evaluate(model, randomData(6, 5, 2, 1)));
      expect([mismatch.code, mismatch.message, mismatch.details]).toEqual(["shape-mismatch", "model mlp takes inputs of shape 4 (images 1x1x4) but data random:1 has 1x1x5 images", { expected: [1, 1, 4], actual: [1, 1, 5] }]);
      const labelled = { ...randomData(4, 4, 2, 2), labels: Int32Array.of(0, 1, 2, 0) };
      const label = await errorOf(() => evaluate(model, labelled));
      expect([label.code, label.message, label.details]).toEqual(["label-out-of-range", "label 2 of sample 2 in random:2 is out of range for model mlp (0..1)", { label: 2, sample: 2, numClasses: 2, source: "random:2" }]);
    } finally {
      await closeModel(model);
    }
  });

  it("a Dataset that does not hold what it says, a fractional unit, zero repeats, a batch size of 0: one error each, not a silently wrong result (trial 'newuser22')", async () => {
    const model = await openModel(randomMlp([6, 5, 3], 4, [1, 1, 6]), { name: "m.onnx" });
    try {
      const data = randomData(40, 6, 3, 5);
      // 10 samples' pixels for n = 40: the rest was read as zeros, 13.25 % for 88.7 %.
      const short = await errorOf(() => evaluate(model, { ...data, images: data.images.subarray(0, 10 * 6) }));
      expect([short.code, short.message]).toEqual(["shape-mismatch", "data random:5 says n = 40 samples of 1x1x6 but holds 60 pixel values (240 expected) and 40 labels"]);
      expect((await errorOf(() => evaluate(model, { ...data, n: 20 }))).code).toBe("shape-mismatch");
      const site = resolveSite(model, "fc1");
      const fractional = await errorOf(() => ablate(model, data, { conditions: [{ site: "fc1", units: [1.5], mode: "zero", id: "fc1/zero/1.5", label: null }] }));
      expect([fractional.code, fractional.message]).toEqual(["bad-units", "unit 1.5 of site fc1 is not a whole number"]);
      expect((await errorOf(() => fractions(site, { fractions: [0.5], repeats: 0 }))).code).toBe("bad-option");
      const zero = await errorOf(() => evaluate(model, data, { batchSize: 0 }));
      expect([zero.code, zero.message]).toEqual(["bad-option", "`batchSize` must be a whole number ≥ 1, got 0"]);
      const negative = await errorOf(() => ablate(model, data, { conditions: singles(site), batchSize: -5 }));
      expect([negative.code, negative.message]).toEqual(["bad-option", "`batchSize` must be a whole number ≥ 1, got -5"]);
    } finally {
      await closeModel(model);
    }
  });
});

describe("ablateFiles", () => {
  it("ablateFiles names the conditions' mode, or 'mixed' for zero and mean conditions in one run", async () => {
    const model = await openModel(randomMlp([6, 5, 3], 4, [1, 1, 6]), { name: "m.onnx" });
    try {
      const data = randomData(40, 6, 3, 5);
      const site = resolveSite(model, "fc1");
      const summaryOf = async (conditions: ReturnType<typeof singles>) => ablateFiles(await ablate(model, data, { conditions, loss: false }), { site: "fc1", loss: false, confusion: false, provenance: provenance(model, data) }).summary;
      expect((await summaryOf(singles(site, "mean"))).mode).toBe("mean");
      expect((await summaryOf([...singles(site, "zero").slice(0, 2), ...singles(site, "mean").slice(0, 2)])).mode).toBe("mixed");
    } finally {
      await closeModel(model);
    }
  });
});
