import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, watch, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isLesionError } from "../../src/errors.js";
import { guardWrite, writeFileAtomic } from "../../src/files.js";
import { describeDifference, encodeCsv, fileStems, openResultDir, toJson, writeResultDir, type RunIdentity } from "../../src/runs/resultDir.js";
import { encodeNpy } from "../../src/runs/npy.js";
import { selectivity } from "../../src/study/unitScores.js";
import { errorOf } from "../helpers.js";

describe("result files", () => {
  it("encodeNpy writes a header numpy reads: magic, version 1.0, 64-byte aligned, descr and shape", () => {
    const bytes = encodeNpy(new Float64Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    expect(Array.from(bytes.slice(0, 8))).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    const headerLength = bytes[8] + 256 * bytes[9];
    expect((10 + headerLength) % 64).toBe(0);
    const header = new TextDecoder().decode(bytes.slice(10, 10 + headerLength));
    expect(header).toContain("'descr': '<f8'");
    expect(header).toContain("'shape': (2, 3)");
    expect(Array.from(new Float64Array(bytes.slice(10 + headerLength).buffer))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(new TextDecoder().decode(encodeNpy(new Int32Array(3), [3]).slice(10, 70))).toContain("'shape': (3,)");
  });

  it("writeFileAtomic writes a name of up to 255 bytes (its temporary is then .lesion.<pid>.tmp) and refuses a longer one in one line; fileStems cuts a stem over 150 characters (helper trial 'newuser62': internal error ENAMETOOLONG)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-long-"));
    const long = join(dir, `${"n".repeat(250)}.onnx`);
    writeFileAtomic(long, "x");
    expect([readFileSync(long, "utf8"), readdirSync(dir).length]).toEqual(["x", 1]);
    const tooLong = join(dir, `${"n".repeat(260)}.onnx`);
    expect(await errorOf(() => writeFileAtomic(tooLong, "x"))).toMatchObject({ code: "unwritable-path", message: `cannot write ${tooLong}: name too long (ENAMETOOLONG)`, details: { errno: "ENAMETOOLONG" } });
    expect(readdirSync(dir).length).toBe(1);
    const site = "x".repeat(300);
    expect(fileStems([site, "fc1"])).toEqual(new Map([[site, `${"x".repeat(150)}-${createHash("sha256").update(site).digest("hex").slice(0, 8)}`], ["fc1", "fc1"]]));
  });

  it("encodeNpy refuses a shape that does not hold the data (numpy could not load the file)", async () => {
    expect(await errorOf(() => encodeNpy(new Float32Array(4), [5]))).toMatchObject({ code: "bad-option", message: "an array of 4 values cannot have shape [5] (5 values)" });
    expect(await errorOf(() => encodeNpy(new Float32Array(4), [2, -2]))).toMatchObject({ code: "bad-option", message: "an array of 4 values cannot have shape [2, -2]" });
    expect(encodeNpy(new Int32Array(6), [2, 3]).length).toBe(128 + 24);
  });

  it("describeDifference names up to four differences, else the first three and how many more (a trial's line of 848 characters)", () => {
    const data: RunIdentity["data"] = { spec: "mnist:test", n: 10, shape: [1, 28, 28], sha256: "0".repeat(64) };
    const run = (options: Record<string, unknown>): RunIdentity => ({ command: "recover", model: "a".repeat(64), data, options });
    expect(describeDifference(run({ a: 1, b: 2 }), run({ a: 1, b: 3 }))).toBe("options.b 2 there, 3 now");
    expect(describeDifference(run({ a: 1, b: 2, c: 3, d: 4 }), run({ a: 5, b: 6, c: 7, d: 8 }))).toBe("options.a 1 there, 5 now; options.b 2 there, 6 now; options.c 3 there, 7 now; options.d 4 there, 8 now");
    expect(describeDifference({ ...run({ a: 1, b: 2, c: 3, d: 4 }), command: "ablate" }, run({ a: 5, b: 6, c: 7, d: 8 }))).toBe("command ablate there, recover now; options.a 1 there, 5 now; options.b 2 there, 6 now; 2 more");
  });

  it("encodeCsv quotes fields with commas and writes null as an empty field", () => {
    expect(encodeCsv(["a", "b"], [["x,y", null], [1.5, 'say "hi"']])).toBe('a,b\n"x,y",\n1.5,"say ""hi"""\n');
  });

  it("encodeCsv writes the whole numbers of float columns with a decimal point, so pandas reads them as float64", () => {
    // pandas infers int64 for a column of "0"s (a class no condition changed); "0.0" is float64. Other columns unchanged.
    expect(encodeCsv(["n", "x", "s"], [[0, 0, "0"], [3, -0, "a"], [1e21, 2.5, null], [Number.NaN, 1e-7, "b"]], ["x", "s"])).toBe("n,x,s\n0,0.0,0\n3,0.0,a\n1e+21,2.5,\n,1e-7,b\n");
    expect(encodeCsv(["x", "y"], [[7, 7]], ["y"])).toBe("x,y\n7,7.0\n");
  });

  it("encodeCsv writes a number repeated across rows the same each time; non-finite ones and null empty", () => {
    expect(encodeCsv(["a", "b", "c"], [[0.1, 1 / 3, -0], [1 / 3, Number.NaN, 0.1], [Number.POSITIVE_INFINITY, 0.1, 0]])).toBe("a,b,c\n0.1,0.3333333333333333,0\n0.3333333333333333,,0.1\n,0.1,0\n");
  });

  it("toJson writes typed arrays as arrays and NaN as null", () => {
    expect(JSON.parse(toJson({ a: new Float32Array([1, 2]), b: Number.NaN }))).toEqual({ a: [1, 2], b: null });
  });

  it("toJson writes typed arrays inside a line's elements as arrays: empty ones, nested ones, beside objects of numbered keys", () => {
    const value = { conditions: [{ id: "a", v: new Int32Array(0) }, { id: "b", w: { x: new Float32Array([3, 4]) } }, { id: "c", o: { "0": 1 }, e: {} }] };
    expect(JSON.parse(toJson(value))).toEqual({ conditions: [{ id: "a", v: [] }, { id: "b", w: { x: [3, 4] } }, { id: "c", o: { "0": 1 }, e: {} }] });
  });

  it("toJson writes one condition per line, compact, and reads back as the value (typed arrays, NaN and ±Infinity as null at any depth)", () => {
    const value = {
      site: "h2",
      baseline: { accuracy: 0.5, perClass: [0.25, null], loss: Number.POSITIVE_INFINITY },
      conditions: [
        { id: "h2/zero/0", units: [0], perClass: new Float64Array([0.5, Number.NaN]), redundancy: null },
        { id: "h2/zero/0+1", units: [0, 1], perClass: [1, 0], redundancy: { overall: 0.1, perClass: [Number.NEGATIVE_INFINITY, 0.2] } },
      ],
      empty: [],
      nothing: {},
    };
    const text = toJson(value);
    expect(JSON.parse(text)).toEqual({
      site: "h2",
      baseline: { accuracy: 0.5, perClass: [0.25, null], loss: null },
      conditions: [
        { id: "h2/zero/0", units: [0], perClass: [0.5, null], redundancy: null },
        { id: "h2/zero/0+1", units: [0, 1], perClass: [1, 0], redundancy: { overall: 0.1, perClass: [null, 0.2] } },
      ],
      empty: [],
      nothing: {},
    });
    const lines = text.split("\n");
    expect(lines.filter((l) => l.trimStart().startsWith('{"id":')).length).toBe(2);
    expect(text.endsWith("\n")).toBe(true);
  });

  it("writeResultDir writes every file and the summary last, leaving no temporary files", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "lesion-results-")), "run");
    mkdirSync(dir);
    // The order names appear in the directory, as the kernel reports them (inotify on Linux delivers events in order).
    const seen: string[] = [];
    const watcher = watch(dir, (_event, name) => name && !name.endsWith(".tmp") && existsSync(join(dir, name)) && !seen.includes(name) && seen.push(name));
    try {
      writeResultDir(dir, [{ name: "m.npy", kind: "npy", data: new Int32Array([1]), shape: [1] }, { name: "t.csv", kind: "csv", header: ["x"], rows: [[1]] }], { ok: true });
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      watcher.close();
    }
    expect(seen).toEqual(["m.npy", "t.csv", "summary.json"]);
    expect(readdirSync(dir).sort()).toEqual(["m.npy", "summary.json", "t.csv"]);
    expect(JSON.parse(readFileSync(join(dir, "summary.json"), "utf8"))).toEqual({ ok: true });
    expect(readFileSync(join(dir, "t.csv"), "utf8")).toBe("x\n1\n");
  });

  it("writeResultDir interrupted by a file it cannot write leaves no summary.json (and removes a stale one first), nor the files it wrote before (a full disk left half a result)", () => {
    const dir = join(mkdtempSync(join(tmpdir(), "lesion-results-")), "run");
    mkdirSync(join(dir, "t.csv"), { recursive: true });
    writeFileSync(join(dir, "t.csv", "keep"), "a directory where the CSV goes: the rename onto it fails");
    writeFileSync(join(dir, "summary.json"), "{}");
    let code = "";
    try {
      writeResultDir(dir, [{ name: "m.npy", kind: "npy", data: new Int32Array([1]), shape: [1] }, { name: "t.csv", kind: "csv", header: ["x"], rows: [[1]] }], { ok: true });
    } catch (error) {
      code = isLesionError(error) ? error.code : String(error);
    }
    expect(code).toBe("unwritable-path");
    expect(existsSync(join(dir, "m.npy"))).toBe(false);
    expect(existsSync(join(dir, "summary.json"))).toBe(false);
    expect(readdirSync(dir)).toEqual(["t.csv"]);
  });
});

describe("a killed run's leftovers (helper trial 'newuser13')", () => {
  const run: RunIdentity = { command: "ablate", model: "a".repeat(64), data: { spec: "d", n: 3, shape: [1, 1, 3], sha256: "b".repeat(64) }, options: { site: "fc1" } };

  it("openResultDir removes the half-written temporaries a kill left (name.<pid>.tmp), and only those", () => {
    const dir = join(mkdtempSync(join(tmpdir(), "lesion-tmp-")), "out");
    openResultDir(dir, run).release();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "resume-log.jsonl"), "{}\n");
    writeFileSync(join(dir, "changes.npy.7733.tmp"), "half");
    writeFileSync(join(dir, "resume-log.jsonl.16622.tmp"), "half");
    writeFileSync(join(dir, "notes.tmp"), "a user's file");
    const claimed = openResultDir(dir, run);
    expect(readdirSync(dir).sort()).toEqual(["lesion.lock", "notes.tmp", "resume-log.jsonl", "run.json"]);
    claimed.release();
  });

  it("write removes the resume log only after summary.json is written (a kill between resumes instead of starting over)", () => {
    const dir = join(mkdtempSync(join(tmpdir(), "lesion-log-")), "out");
    const claimed = openResultDir(dir, run);
    writeFileSync(join(dir, "resume-log.jsonl"), "{}\n");
    // A file the writer cannot write (a directory holds its name) stops it before the summary: the log must still be there.
    mkdirSync(join(dir, "x.csv", "in-the-way"), { recursive: true });
    expect(() => claimed.write([{ name: "x.csv", kind: "csv", header: ["a"], rows: [[1]] }], { ok: true })).toThrow();
    expect(existsSync(join(dir, "resume-log.jsonl"))).toBe(true);
    expect(existsSync(join(dir, "summary.json"))).toBe(false);
    claimed.release();
    rmSync(join(dir, "x.csv"), { recursive: true });
    const again = openResultDir(dir, run);
    again.write([{ name: "x.csv", kind: "csv", header: ["a"], rows: [[1]] }], { ok: true });
    expect(readdirSync(dir).sort()).toEqual(["run.json", "summary.json", "x.csv"]);
  });
});

describe("selectivity", () => {
  it("selectivity(classMeans, units) is (max − mean of rest)/(max + mean of rest), 0 for a silent unit", () => {
    // Two units, three classes: unit 0 answers class 1 only; unit 1 is silent.
    const means = [0, 0, 3, 0, 0, 0];
    const [a, b] = selectivity(means, 2);
    expect(a).toBeCloseTo(1, 12);
    expect(b).toBe(0);
    const [c] = selectivity([1, 2, 3], 1);
    expect(c).toBeCloseTo((3 - 1.5) / (3 + 1.5), 12);
  });
});

describe("openResultDir", () => {
  const identity = (site: string, model = "a".repeat(64)): RunIdentity => ({ command: "ablate", model, data: { spec: "npy:x,y", n: 3, shape: [1, 2, 2], sha256: "b".repeat(64) }, options: { site, loss: true } });
  const lesionError = (f: () => unknown): { code: string; message: string; details: unknown } => {
    try {
      f();
    } catch (error) {
      expect(isLesionError(error)).toBe(true);
      return error as { code: string; message: string; details: unknown };
    }
    throw new Error("no error thrown");
  };

  it("openResultDir(d, other run) refuses with resume-mismatch naming what differs; {overwrite: true} removes the old run's files", () => {
    const dir = join(mkdtempSync(join(tmpdir(), "lesion-open-")), "out");
    const first = openResultDir(dir, identity("fc1"));
    first.write([{ name: "fc1.csv", kind: "csv", header: ["x"], rows: [[1]] }], { files: ["fc1.csv"] });
    writeFileSync(join(dir, "notes.txt"), "the user's own file");
    const refused = lesionError(() => openResultDir(dir, identity("fc2", "c".repeat(64))));
    expect(refused.code).toBe("resume-mismatch");
    expect(refused.message).toBe(`${dir} holds another run (model aaaaaaaa… there, cccccccc… now; options.site fc1 there, fc2 now); use \`overwrite\` to replace it, or choose another output directory`);
    expect(refused.details).toEqual({ path: dir, options: ["overwrite"] });
    expect(existsSync(join(dir, "lesion.lock"))).toBe(false);
    const second = openResultDir(dir, identity("fc2"), { overwrite: true });
    // Cleared before the work: nothing of the old run looks complete.
    expect(readdirSync(dir).sort()).toEqual(["lesion.lock", "notes.txt", "run.json"]);
    second.write([{ name: "fc2.csv", kind: "csv", header: ["x"], rows: [[2]] }], { files: ["fc2.csv"] });
    expect(readdirSync(dir).sort()).toEqual(["fc2.csv", "notes.txt", "run.json", "summary.json"]);
  });

  it("a run that stops without writing beside a resume log it did not start or add to removes its run.json (a trial's refused run left its run.json beside another model's log, and the next refusal named the wrong model)", () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-orphan-log-"));
    writeFileSync(join(dir, "resume-log.jsonl"), '{"header":"model A"}\n');
    // Refused by the verb: the log is untouched.
    openResultDir(dir, identity("fc1")).release();
    expect(readdirSync(dir).sort()).toEqual(["resume-log.jsonl"]);
    // Matched and added to, then stopped: the run.json stays for the rerun to resume.
    const resumed = openResultDir(dir, identity("fc1"));
    appendFileSync(join(dir, "resume-log.jsonl"), '{"id":"fc1/zero/0"}\n');
    resumed.release();
    expect(readdirSync(dir).sort()).toEqual(["resume-log.jsonl", "run.json"]);
  });

  it("writing a rerun of the same run removes files of the earlier write that the new one does not write", () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-rewrite-"));
    openResultDir(dir, identity("fc1")).write([{ name: "a.npy", kind: "npy", data: new Int32Array([1]), shape: [1] }, { name: "b.npy", kind: "npy", data: new Int32Array([1]), shape: [1] }], { files: ["a.npy", "b.npy"] });
    openResultDir(dir, identity("fc1")).write([{ name: "a.npy", kind: "npy", data: new Int32Array([2]), shape: [1] }], { files: ["a.npy"] });
    expect(readdirSync(dir).sort()).toEqual(["a.npy", "run.json", "summary.json"]);
  });

  it("openResultDir on a directory locked by a live process refuses with dir-locked naming the pid; a dead pid's lock is taken over", () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-lock-"));
    const held = openResultDir(dir, identity("fc1"));
    const refused = lesionError(() => openResultDir(dir, identity("fc1")));
    expect(refused.code).toBe("dir-locked");
    expect(refused.message).toBe(`${dir} is in use by another lesion run (pid ${process.pid}, ${join(dir, "lesion.lock")}); wait for it to finish or choose another output directory`);
    held.release();
    expect(existsSync(join(dir, "lesion.lock"))).toBe(false);
    const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
    writeFileSync(join(dir, "lesion.lock"), `${dead}\n`);
    const taken = openResultDir(dir, identity("fc1"));
    expect(readFileSync(join(dir, "lesion.lock"), "utf8")).toBe(`${process.pid}\n`);
    taken.release();
  });

  // Runs started together on a killed run's directory all read the dead pid: only one may take the lock over (a trial's
  // six processes released at once had two owners in 8 of 15 tries, the second removing the first's new lock).
  it("a dead pid's lock taken over by six processes at once has exactly one owner; the others are refused", async () => {
    const lock = join(process.cwd(), "dist/runs/lock.js");
    const child = `import { acquireLock } from ${JSON.stringify(lock)};
      const [dir, at] = [process.argv[1], Number(process.argv[2])];
      while (Date.now() < at) {}
      try { const held = acquireLock(dir); const t = Date.now(); while (Date.now() - t < 300) {} console.log("got"); held.release(); }
      catch (error) { console.log(error.code); }`;
    for (let round = 0; round < 4; round++) {
      const dir = mkdtempSync(join(tmpdir(), "lesion-lock-race-"));
      writeFileSync(join(dir, "lesion.lock"), `${spawnSync(process.execPath, ["-e", ""]).pid}\n`);
      const at = Date.now() + 1500;
      const outputs = await Promise.all(
        Array.from({ length: 6 }, () => new Promise<string>((resolve) => {
          const run = spawn(process.execPath, ["--input-type=module", "-e", child, dir, String(at)], { stdio: ["ignore", "pipe", "inherit"] });
          let text = "";
          run.stdout.on("data", (chunk: Buffer) => (text += chunk.toString()));
          run.on("close", () => resolve(text.trim()));
        })),
      );
      expect(outputs.filter((o) => o === "got")).toHaveLength(1);
      expect(outputs.filter((o) => o === "dir-locked")).toHaveLength(5);
      expect(existsSync(join(dir, "lesion.lock.takeover"))).toBe(false);
    }
  }, 60_000);

  // A killed run's process can linger as a zombie until its parent reaps it (kill -9 under a slow init): signal 0
  // still reaches it, but it holds nothing. Linux only (/proc).
  it.runIf(existsSync("/proc/self/stat"))("openResultDir takes over the lock of a zombie process; a live one's still refuses", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-lock-zombie-"));
    // bash forks `sleep 0.1`, prints its pid, then becomes `sleep 30`, which never reaps it: a zombie after 0.1 s.
    const parent = spawn("bash", ["-c", "sleep 0.1 & echo $!; exec sleep 30"], { stdio: ["ignore", "pipe", "ignore"] });
    try {
      const zombie = Number((await new Promise<string>((resolve) => parent.stdout.once("data", (chunk: Buffer) => resolve(chunk.toString())))).trim());
      const state = () => readFileSync(`/proc/${zombie}/stat`, "utf8").split(") ")[1][0];
      for (let wait = 0; state() !== "Z" && wait < 100; wait++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(state()).toBe("Z");
      expect(() => process.kill(zombie, 0)).not.toThrow();
      writeFileSync(join(dir, "lesion.lock"), `${parent.pid}\n`);
      expect(lesionError(() => openResultDir(dir, identity("fc1"))).code).toBe("dir-locked");
      writeFileSync(join(dir, "lesion.lock"), `${zombie}\n`);
      const taken = openResultDir(dir, identity("fc1"));
      expect(readFileSync(join(dir, "lesion.lock"), "utf8")).toBe(`${process.pid}\n`);
      taken.release();
    } finally {
      parent.kill("SIGKILL");
    }
  });

  it("writeFileAtomic on a full disk (/dev/full) and under a file: unwritable-path naming the path, no temporary left", () => {
    const full = lesionError(() => guardWrite("/dev/full", () => writeFileSync("/dev/full", "x")));
    expect(full.code).toBe("unwritable-path");
    expect(full.message).toBe("cannot write /dev/full: no space left on device (ENOSPC)");
    const dir = mkdtempSync(join(tmpdir(), "lesion-under-"));
    writeFileSync(join(dir, "file"), "x");
    const under = lesionError(() => writeFileAtomic(join(dir, "file", "summary.json"), "{}"));
    expect(under.code).toBe("unwritable-path");
    expect(under.message).toBe(`cannot create directory ${join(dir, "file")}: it is a file, not a directory (EEXIST)`);
    expect(readdirSync(dir)).toEqual(["file"]);
  });
});
