/**
 * Result directories: one per run, every file written atomically, `summary.json` last, so its presence means the run
 * is complete. Matrices go to `.npy` (numpy.load), tables to CSV (pandas.read_csv), everything else to the summary.
 */
import { mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { writeFileAtomic } from "../files.js";
import { encodeNpy } from "./npy.js";

export const SUMMARY_FILE = "summary.json";

export type ResultFile =
  | { name: string; kind: "npy"; data: Float32Array | Float64Array | Int32Array | Uint8Array; shape: number[] }
  | { name: string; kind: "csv"; header: string[]; rows: Array<Array<string | number | null>> }
  | { name: string; kind: "bytes"; data: Uint8Array };

const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

/** The lesion version written into every summary. */
export const LESION_VERSION = version;

/** Writes the files, then the summary; removes a stale summary first so a crash mid-way never looks complete. */
export function writeResultDir(dir: string, files: ResultFile[], summary: object): void {
  mkdirSync(dir, { recursive: true });
  rmSync(join(dir, SUMMARY_FILE), { force: true });
  for (const file of files) {
    const bytes = file.kind === "npy" ? encodeNpy(file.data, file.shape) : file.kind === "csv" ? encodeCsv(file.header, file.rows) : file.data;
    writeFileAtomic(join(dir, file.name), bytes);
  }
  writeFileAtomic(join(dir, SUMMARY_FILE), toJson(summary));
}

/**
 * JSON with typed arrays as plain arrays and non-finite numbers as null. An object's keys go one per line, and an
 * array of objects (conditions, sites) one element per line, each element compact: a summary of 5,250 conditions
 * is then 2.6 MB written in ~40 ms instead of 6 MB indented throughout.
 */
export function toJson(value: unknown): string {
  const replacer = (_key: string, v: unknown) => (ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : typeof v === "number" && !Number.isFinite(v) ? null : v);
  const compact = (v: unknown) => JSON.stringify(v, replacer) ?? "null";
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

/** RFC 4180 CSV; null is an empty field (pandas reads NaN), numbers at full precision. */
export function encodeCsv(header: string[], rows: Array<Array<string | number | null>>): string {
  const field = (v: string | number | null) => {
    if (v === null || (typeof v === "number" && !Number.isFinite(v))) return "";
    if (typeof v === "number") return String(v);
    const text = v;
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [header, ...rows].map((row) => row.map(field).join(",")).join("\n") + "\n";
}

/** A site or class name made safe as part of a file name (`layer3.0.relu` stays as it is). */
export function fileStem(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, "_");
}
