/**
 * Result directories: one per run, every file written atomically, `summary.json` last, so its presence means the run
 * is complete. Matrices go to `.npy` (numpy.load), tables to CSV (pandas.read_csv), everything else to the summary.
 *
 * A directory never mixes runs: `run.json` names what the run is (command, model SHA-256, data identity, options),
 * written before any work; a run with anything different is refused (`resume-mismatch`, naming what differs) unless
 * told to overwrite, and then the old run's files are removed. Writing removes files of the previous run that the new
 * one does not write. Nor does a run go among other files: a directory that is not empty must hold a lesion run
 * (foreignDir.ts). While a run works in it, `lesion.lock` holds its pid: a second run is refused (`dir-locked`); the
 * lock of a process that no longer exists is taken over.
 */
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync } from "node:fs";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { DataIdentity } from "../data/dataIdentity.js";
import { fail } from "../errors.js";
import { ensureDir, guardWrite, writeFileAtomic } from "../files.js";
import { refuseForeignDir } from "./foreignDir.js";
import { acquireLock } from "./lock.js";
import { encodeNpy } from "./npy.js";

/** The run's result (with provenance), written last: its presence means the run is complete. */
export const SUMMARY_FILE = "summary.json";
/** The run's identity (RunIdentity) and the files it writes, written before any work. */
export const RUN_FILE = "run.json";
/** A sweep's finished conditions so far (src/resumeLog.ts), from which a killed run resumes. */
export const RESUME_LOG_FILE = "resume-log.jsonl";
/** A training run's state after its last finished epoch (`recover`'s `epochState`), from which a killed run resumes. */
export const RESUME_STATE_FILE = "resume-state.json";
/** What a killed run resumes from: kept with the run's identity, removed with its results or once its summary is written. */
const RESUME_FILES = [RESUME_LOG_FILE, RESUME_STATE_FILE];
/** A study's file (runs/study.ts writes it first): it marks a study's directory, which no single run shares. */
export const STUDY_FILE = "study.json";
/** The HTML report of a study or transplant directory. */
export const REPORT_FILE = "report.html";

/** A file of a run, built in memory (`recordFiles`, `ablateFiles`, …) and written by ResultDir.write or writeResultDir. */
export type ResultFile =
  | { name: string; kind: "npy"; data: Float32Array | Float64Array | Int32Array | Uint8Array; shape: number[] }
  /** `floats`: the columns that hold real numbers (encodeCsv writes their whole numbers as `1.0`). */
  | { name: string; kind: "csv"; header: string[]; rows: Array<Array<string | number | null>>; floats?: readonly string[] }
  | { name: string; kind: "bytes"; data: Uint8Array };

const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

/** The lesion version written into every summary. */
export const LESION_VERSION = version;

/**
 * What a run in a result directory is: everything its results depend on. Two runs with equal identities (compared
 * as JSON) may share a directory (a rerun, or a resume); any other pair may not.
 */
export interface RunIdentity {
  /** The verb, or `study:<step>` for a study step. */
  command: string;
  /** SHA-256 of the model file. */
  model: string;
  /** The data's identity (spec, size, SHA-256 of the loaded content). */
  data: DataIdentity;
  /** Every option that changes a result (sites, units, mode, loss, seed, …), JSON-ready. */
  options: Record<string, unknown>;
}

interface RunFile {
  run: RunIdentity;
  /** Files the run writes beside the summary; set once writing starts. */
  files?: string[];
}

/** A claimed result directory (`openResultDir`): holds its lock until `write` or `release`. */
export interface ResultDir {
  /** The directory, as given. */
  dir: string;
  /** At open, the directory held a complete run of exactly this identity (see holdsRun): a rerun may reuse it. */
  finished: boolean;
  /** Writes the files, removes files of an earlier run not among them, then writes the summary; releases the lock. */
  write(files: ResultFile[], summary: object): void;
  /** Releases the lock (idempotent); call in `finally`. */
  release(): void;
}

/** Options of `openResultDir`. */
export interface OpenResultDirOptions {
  /** Replace a run of another identity (its files are removed) instead of refusing. Default false. */
  overwrite?: boolean;
}

/**
 * Claims `dir` for a run before any work: creates it, takes its lock, and checks that it holds no other run.
 * Throws `unwritable-path` (cannot create or write), `dir-locked` (another live process works there) or
 * `resume-mismatch` (another run's results, naming what differs and how to override; a study; or, even with
 * `overwrite`, a directory that is not empty and holds no lesion run: refuseForeignDir).
 */
export function openResultDir(dir: string, run: RunIdentity, options: OpenResultDirOptions = {}): ResultDir {
  // A study's directory (study.json, a directory per step) is not replaced by one command's files, even when asked.
  if (existsSync(join(dir, STUDY_FILE))) fail("resume-mismatch", `${dir} holds a lesion study; choose another output directory`, { path: dir });
  // Nor are its files put loose beside other runs' directories (`-o out` where out/fc1-pairs, out/sweep are).
  const others = runsInside(dir);
  if (others.length > 0 && !readRun(dir)) {
    fail("resume-mismatch", `${dir} holds the directories of other lesion runs (${others.slice(0, 3).join(", ")}${others.length > 3 ? ", …" : ""}); give this run a directory of its own (e.g. ${join(dir, run.command)})`, { path: dir });
  }
  // Nor among a user's own files (`-o ~/Documents`): a directory that is not empty must hold a lesion run.
  refuseForeignDir(dir, [RUN_FILE, SUMMARY_FILE, ...RESUME_FILES], "run");
  const created = !existsSync(dir);
  ensureDir(dir);
  const lock = acquireLock(dir);
  const previous = readRun(dir);
  const finished = holdsRun(dir, run);
  let written = false;
  // A resume log or epoch state already there without a run.json is not known to be this run's: the verb refuses it
  // unless its identity matches, and then adds to it. Each is compared by size and time of change (an epoch state is
  // rewritten whole, at the same size).
  const resumeFiles = () => RESUME_FILES.map((name) => join(dir, name)).map((path) => (existsSync(path) ? `${statSync(path).size}:${statSync(path).mtimeMs}` : "-")).join(",");
  const resumeAtOpen = previous ? null : resumeFiles();
  // A run that fails before writing (bad input found by the verb) leaves nothing it made: not its run.json unless a
  // resume log needs it (one this run started or added to; a trial's refused run had left its run.json beside another
  // run's log, and the next run's message named the wrong model), not a directory it created.
  const release = () => {
    if (!written && !previous && resumeFiles() === resumeAtOpen) rmSync(join(dir, RUN_FILE), { force: true });
    lock.release();
    if (!written && created) {
      try {
        rmdirSync(dir);
      } catch {
        // Not empty: it holds a resume log or another process's files.
      }
    }
  };
  try {
    if (previous && !sameRun(previous.run, run)) {
      if (!options.overwrite) {
        fail("resume-mismatch", `${dir} holds another run (${describeDifference(previous.run, run)}); use \`overwrite\` to replace it, or choose another output directory`, { path: dir, options: ["overwrite"] });
      }
      clearRun(dir);
    } else if (!previous && existsSync(join(dir, SUMMARY_FILE)) && options.overwrite) {
      clearRun(dir);
    } else if (!previous && existsSync(join(dir, SUMMARY_FILE))) {
      fail("resume-mismatch", `${dir} holds results of an unknown run (no ${RUN_FILE}); use \`overwrite\` to replace it, or choose another output directory`, { path: dir, options: ["overwrite"] });
    }
    writeFileAtomic(join(dir, RUN_FILE), toJson({ run, files: previous && sameRun(previous.run, run) ? previous.files : undefined }));
    removeTemporaries(dir);
  } catch (error) {
    release();
    throw error;
  }
  return {
    dir,
    finished,
    write(files, summary) {
      writeFiles(dir, files, summary, run);
      written = true;
      lock.release();
    },
    release,
  };
}

/** The sub-directories of `dir` that hold a lesion run (run.json) or study (study.json), by name. */
function runsInside(dir: string): string[] {
  if (!existsSync(dir)) return [];
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && (existsSync(join(dir, e.name, RUN_FILE)) || existsSync(join(dir, e.name, STUDY_FILE))))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

/** The identity of the run a directory holds, or null. */
export function readRun(dir: string): RunFile | null {
  const path = join(dir, RUN_FILE);
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, "utf8")) as RunFile;
  } catch {
    return null;
  }
}

/** Whether two identities (a RunIdentity, or another command's, as train's) are the same run (JSON equality, key order aside). */
export function sameRun<T extends object = RunIdentity>(a: T, b: T): boolean {
  return canonical(a) === canonical(b);
}

/** A complete run of exactly this identity is in `dir`: its summary and every file its run.json lists. Reads only; throws nothing. */
export function holdsRun(dir: string, run: RunIdentity): boolean {
  const previous = readRun(dir);
  return previous !== null && sameRun(previous.run, run) && existsSync(join(dir, SUMMARY_FILE)) && (previous.files ?? []).every((f) => existsSync(join(dir, f)));
}

/** The fields in which two identities differ, for a one-line message: "model 1a2b3c4d… vs 5e6f7a8b…, options.site fc1 vs fc2". */
export function describeDifference<T extends object = RunIdentity>(a: T, b: T): string {
  const short = (value: unknown) => {
    // A data identity beside none (train's test data) by its spec: its JSON cut at 40 characters named only "spec".
    const v = value && typeof value === "object" && "spec" in value && "sha256" in value ? (value as DataIdentity).spec : value;
    // Unset is "none" whether the identity holds null or leaves the key out (recover said "null", transplant "none").
    const text = typeof v === "string" ? v : v === null ? "none" : JSON.stringify(v) ?? "none";
    return /^[0-9a-f]{64}$/.test(text) ? `${text.slice(0, 8)}…` : text.length > 40 ? `${text.slice(0, 37)}…` : text;
  };
  const differences: string[] = [];
  const compare = (x: unknown, y: unknown, path: string) => {
    // Unset either way (null here, absent there) is no difference to name ("none there, none now").
    if (canonical(x) === canonical(y) || (x == null && y == null)) return;
    if (x && y && typeof x === "object" && typeof y === "object" && !Array.isArray(x) && !Array.isArray(y)) {
      const keys = [...new Set([...Object.keys(x), ...Object.keys(y)])].sort();
      for (const key of keys) compare((x as Record<string, unknown>)[key], (y as Record<string, unknown>)[key], path ? `${path}.${key}` : key);
      return;
    }
    differences.push(`${path} ${short(x)} there, ${short(y)} now`);
  };
  compare(a, b, "");
  // A run of another command differs in most of its options (a trial's line ran to 848 characters): the first few say it.
  const shown = differences.length > 4 ? [...differences.slice(0, 3), `${differences.length - 3} more`] : differences;
  return shown.join("; ") || "no difference";
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]])) : v,
  );
}

/**
 * Removes the temporary files a killed run left (`name.<pid>.tmp`, writeFileAtomic's and the resume log's, half
 * written): the lock is held, so no live writer owns one.
 */
function removeTemporaries(dir: string): void {
  for (const name of readdirSync(dir)) if (/\.\d+\.tmp$/.test(name)) guardWrite(join(dir, name), () => rmSync(join(dir, name), { force: true }), "cannot remove");
}

/** Removes the files of the run `dir` holds (those its run.json and summary list), its resume log or epoch state, and summary. */
function clearRun(dir: string): void {
  for (const name of [SUMMARY_FILE, ...listedFiles(dir), ...RESUME_FILES, RUN_FILE]) guardWrite(join(dir, name), () => rmSync(join(dir, name), { force: true }), "cannot remove");
}

/** Files the previous run in `dir` wrote: listed in its run.json (from the moment writing began) and in its summary. */
function listedFiles(dir: string): string[] {
  const names = new Set(readRun(dir)?.files ?? []);
  const summary = join(dir, SUMMARY_FILE);
  if (existsSync(summary)) {
    try {
      const files = (JSON.parse(readFileSync(summary, "utf8")) as { files?: unknown }).files;
      const list = Array.isArray(files) ? files : files && typeof files === "object" ? Object.values(files).flat() : [];
      for (const f of list) if (typeof f === "string") names.add(f);
    } catch {
      // A summary that is no JSON lists nothing.
    }
  }
  // Only plain names inside the directory, whatever a damaged file says.
  return [...names].filter((n) => n && !n.includes("/") && !n.includes("\\") && n !== "." && n !== "..");
}

function writeFiles(dir: string, files: ResultFile[], summary: object, run: RunIdentity | null): void {
  ensureDir(dir);
  const stale = listedFiles(dir);
  guardWrite(join(dir, SUMMARY_FILE), () => rmSync(join(dir, SUMMARY_FILE), { force: true }), "cannot remove");
  const names = files.map((f) => f.name);
  // The new list goes on record before the files, so a crash mid-way leaves nothing unaccounted for.
  if (run) writeFileAtomic(join(dir, RUN_FILE), toJson({ run, files: [...new Set([...stale, ...names])] }));
  const written: string[] = [];
  try {
    for (const file of files) {
      const bytes = file.kind === "npy" ? encodeNpy(file.data, file.shape) : file.kind === "csv" ? encodeCsv(file.header, file.rows, file.floats) : file.data;
      writeFileAtomic(join(dir, file.name), bytes);
      written.push(file.name);
    }
    for (const name of stale) if (!names.includes(name)) guardWrite(join(dir, name), () => rmSync(join(dir, name), { force: true }), "cannot remove");
    if (run) writeFileAtomic(join(dir, RUN_FILE), toJson({ run, files: names }));
    writeFileAtomic(join(dir, SUMMARY_FILE), toJson(summary));
  } catch (error) {
    // A write that fails part way (a full disk) leaves none of the run's files: without its summary they would be
    // half a result. What a rerun needs stays: run.json and its resume log or epoch state.
    for (const name of written) rmSync(join(dir, name), { force: true });
    throw error;
  }
  // Only now: a kill before the summary resumes from the log (the verb keeps it: keepResumeLog).
  for (const name of RESUME_FILES) guardWrite(join(dir, name), () => rmSync(join(dir, name), { force: true }), "cannot remove");
}

/**
 * Writes the files, then the summary; removes a stale summary first so a crash mid-way never looks complete. Writes
 * no run.json (the run's identity, which a rerun is checked against): `openResultDir` does, for a run it claims.
 * @throws LesionError `unwritable-path` (a file that cannot be written, naming it).
 */
export function writeResultDir(dir: string, files: ResultFile[], summary: object): void {
  writeFiles(dir, files, summary, null);
}

/**
 * JSON with typed arrays as plain arrays and non-finite numbers as null. An object's keys go one per line, and an
 * array of objects (conditions, sites) one element per line, each element compact: a summary of 5,250 conditions
 * is then 2.6 MB written in ~40 ms instead of 6 MB indented throughout. Ends in a newline. Throws nothing of lesion's own.
 */
export function toJson(value: unknown): string {
  const replacer = (_key: string, v: unknown) => (ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : typeof v === "number" && !Number.isFinite(v) ? null : v);
  // JSON.stringify writes non-finite numbers as null itself; the replacer (2–3× slower) is needed only for typed
  // arrays, which it writes as objects: `{"0":…}`, or `{}` when empty. Text without either had none; text with one
  // (or with such an object of its own) is written again with the replacer. A search of the text is cheaper than
  // walking the value for typed arrays first (a summary of 5,250 conditions: 36 → 24 ms).
  const compact = (v: unknown) => {
    const text = JSON.stringify(v) ?? "null";
    return text.includes('{"0":') || text.includes("{}") ? (JSON.stringify(v, replacer) ?? "null") : text;
  };
  const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v) && !ArrayBuffer.isView(v);
  const lines = (v: unknown, indent: string, depth: number): string => {
    if (depth < 2 && isRecord(v)) {
      const entries = Object.entries(v).filter(([, x]) => x !== undefined && typeof x !== "function");
      if (entries.length === 0) return "{}";
      const inner = `${indent}  `;
      return `{\n${entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${lines(x, inner, depth + 1)}`).join(",\n")}\n${indent}}`;
    }
    if (Array.isArray(v) && v.length > 0 && v.every(isRecord)) {
      const inner = `${indent}  `;
      return `[\n${v.map((x) => `${inner}${compact(x)}`).join(",\n")}\n${indent}]`;
    }
    return compact(replacer("", v));
  };
  return `${lines(replacer("", value), "", 0)}\n`;
}

/**
 * RFC 4180 CSV, one line per row after the header, ending in a newline; null (and a NaN or infinite number) is an empty
 * field (pandas reads NaN), numbers at full precision. The columns named in `floats`
 * write a whole number as `1.0` (shortest round trip plus `.0`), so pandas reads such a column as float64 even where
 * every row is whole (a class no condition changed read as int64, its deltas all `0`). Throws nothing.
 */
export function encodeCsv(header: string[], rows: Array<Array<string | number | null>>, floats: readonly string[] = []): string {
  // Each distinct number is formatted once: a sweep's per-class accuracies and deltas repeat (each is a count over its
  // class's size), and formatting is most of the cost.
  const texts = new Map<number, string>();
  const realTexts = new Map<number, string>();
  const real = header.map((name) => floats.includes(name));
  const field = (v: string | number | null, column: number) => {
    if (v === null) return "";
    if (typeof v === "number") {
      const cache = real[column] ? realTexts : texts;
      let text = cache.get(v);
      if (text === undefined) cache.set(v, (text = !Number.isFinite(v) ? "" : real[column] && Number.isInteger(v) && Math.abs(v) < 1e21 ? `${v}.0` : String(v)));
      return text;
    }
    return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
  };
  return [header, ...rows].map((row) => row.map(field).join(",")).join("\n") + "\n";
}

/**
 * A site or class name made safe as part of a file name (`layer3.0.relu` stays as it is): runs of other characters
 * become `_`, and so does a leading dot (`..\\x` would have been a hidden `.._x.csv`, which `ls` and `glob` skip).
 */
export function fileStem(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^\./, "_");
}

/**
 * The file stems of the sites of one run, by name: `fileStem` of each, and where two names would meet in one stem
 * (`a/b` and `a_b`: one's files had overwritten the other's), each of them gets the first 8 hex digits of its name's
 * SHA-256 appended (`a_b-1c2d3e4f`). A stem over MAX_STEM characters is cut there and gets them too: with its longest
 * suffix (`.embedding_umap.npy`) it stays under the file system's 255 bytes (a 300-character site name had failed
 * the run at its last write). The summary's `files` say which is which.
 */
/** The longest file stem a site keeps whole (fileStems). */
const MAX_STEM = 150;

export function fileStems(names: readonly string[]): Map<string, string> {
  const byStem = new Map<string, Set<string>>();
  for (const name of names) {
    const stem = fileStem(name);
    if (!byStem.has(stem)) byStem.set(stem, new Set());
    byStem.get(stem)!.add(name);
  }
  const stems = new Map<string, string>();
  const hashed = (stem: string, name: string) => `${stem.slice(0, MAX_STEM)}-${createHash("sha256").update(name).digest("hex").slice(0, 8)}`;
  for (const [stem, owners] of byStem) for (const name of owners) stems.set(name, owners.size === 1 && stem.length <= MAX_STEM ? stem : hashed(stem, name));
  return stems;
}

/** The study step that ablates every pair of `site`'s units: `pairs-<stem>`, stems over the study's `sites` (fileStems). */
export function pairsStep(site: string, sites: readonly string[]): string {
  return `pairs-${fileStems(sites).get(site) ?? fileStem(site)}`;
}
