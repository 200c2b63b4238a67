/**
 * The state a training run saves after every epoch so that a killed run resumes where it stopped (`train`'s
 * `epochState`, `recover`'s): a header naming everything the run depends on, and float32 values as base64. A state is
 * resumed only by a run with the same header; any other is refused, naming what differs.
 */
import { existsSync, readFileSync } from "node:fs";
import type { DataIdentity } from "../data/dataIdentity.js";
import { fail } from "../errors.js";

/**
 * The saved state at `path` if there is one, its header equals `header` (compared key by key, and inside an `options`
 * object option by option) and it holds no more than `epochs` epochs (`done` counts them: more epochs may be asked for
 * than were saved, not fewer); null where there is none.
 * @throws LesionError `resume-mismatch` (unreadable, the state of another run, naming what differs, or holding more
 * epochs than asked for; `what` names the kind of run: "a training run"). A trial had resumed states saved under
 * another --mean, --std, --test or a larger --epochs: models and histories that mixed two runs.
 */
export function readEpochState<T extends { header: object }>(path: string, header: T["header"], what: string, epochs: number, done: (state: T) => number): T | null {
  if (!existsSync(path)) return null;
  let state: T;
  try {
    state = JSON.parse(readFileSync(path, "utf8")) as T;
  } catch {
    fail("resume-mismatch", `${path} is not a readable epoch state of ${what}; remove it to start over`, { path });
  }
  const saved = (state?.header ?? {}) as Record<string, unknown>;
  const now = header as Record<string, unknown>;
  const differences: string[] = [];
  for (const [key, value] of Object.entries(now)) {
    if (key === "options" && value && typeof value === "object") {
      for (const [option, v] of Object.entries(value)) {
        const there = (saved.options as Record<string, unknown> | undefined)?.[option];
        if (JSON.stringify(there) !== JSON.stringify(v)) differences.push(`${option} ${describe(there)} there, ${describe(v)} now`);
      }
    } else if (JSON.stringify(saved[key]) !== JSON.stringify(value)) differences.push(`${key} ${describe(saved[key])} there, ${describe(value)} now`);
  }
  const kind = what.replace(/^an? /, "");
  if (differences.length > 0) fail("resume-mismatch", `${path} belongs to a different ${kind} (${differences.join("; ")}); remove it or choose another path`, { path });
  const held = done(state);
  if (held > epochs) fail("resume-mismatch", `${path} holds ${held} epochs of this ${kind}, more than the ${epochs} asked for; ask for at least ${held}, or remove it to start over`, { path, options: ["epochs"] });
  return state;
}

/** A header value as a message shows it: a data identity by its spec and hash. */
function describe(value: unknown): string {
  if (value === undefined || value === null) return "none";
  if (typeof value === "object" && "spec" in value && "sha256" in value) return `${(value as DataIdentity).spec} (${(value as DataIdentity).sha256.slice(0, 12)}…)`;
  return JSON.stringify(value);
}

/** Float32 values by name as base64 strings (a saved state's parameters and optimizer state). */
export function encodeValues(values: Map<string, Float32Array>): Record<string, string> {
  return Object.fromEntries([...values].map(([k, v]) => [k, Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64")]));
}

/** The inverse of encodeValues. */
export function decodeValues(values: Record<string, string>): Map<string, Float32Array> {
  return new Map(Object.entries(values).map(([k, v]) => {
    const bytes = Buffer.from(v, "base64");
    return [k, new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))];
  }));
}
