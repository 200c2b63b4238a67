/**
 * A long run's resume log: finished conditions are appended as JSON lines, keyed by condition id, after a header that
 * names the model, data and options. A rerun reads them back and runs only what is missing; a line cut short by a
 * kill is ignored. A header that does not match is a `resume-mismatch`, never a silent mix of two runs.
 */
import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { fail } from "./errors.js";
import { ensureDir, guardWrite, removeQuietly, temporaryPath } from "./files.js";

/** An open resume log: the records already done (by id), appending more, removing the log when the run is complete. */
export interface ResumeLog<Record extends { id: string }> {
  done: Map<string, Record>;
  append(records: Record[]): void;
  remove(): void;
}

/**
 * Opens the resume log at `path` (creating it with `header`), or reads back the one a killed run left.
 * @throws LesionError `resume-mismatch` when the log's header is not `header`; `unwritable-path` when it cannot be written.
 */
export function openResumeLog<Record extends { id: string }>(path: string, header: object): ResumeLog<Record> {
  const headerLine = JSON.stringify({ header });
  const done = new Map<string, Record>();
  if (existsSync(path)) {
    const lines = readFileSync(path, "utf8").split("\n");
    if (lines[0] !== headerLine) {
      fail("resume-mismatch", `${path} belongs to a different run (model, data or options changed); remove it, or give this run another resume log (the command line: another output directory)`, { path });
    }
    for (const line of lines.slice(1)) {
      if (!line) continue;
      try {
        const record = JSON.parse(line) as Record;
        done.set(record.id, record);
      } catch {
        // The last line of a killed run may be cut short; everything before it is whole.
        break;
      }
    }
    // Rewrite without a torn tail, so the next append starts on a fresh line.
    const whole = [headerLine, ...[...done.values()].map((r) => JSON.stringify(r))].join("\n") + "\n";
    appendSafely(path, whole, true);
  } else {
    ensureDir(dirname(path));
    appendSafely(path, `${headerLine}\n`, true);
  }
  return {
    done,
    append(records) {
      if (records.length === 0) return;
      appendSafely(path, records.map((r) => JSON.stringify(r)).join("\n") + "\n", false);
      for (const r of records) done.set(r.id, r);
    },
    remove() {
      rmSync(path, { force: true });
    },
  };
}

function appendSafely(path: string, text: string, truncate: boolean): void {
  guardWrite(path, () => append(path, text, truncate));
}

function append(path: string, text: string, truncate: boolean): void {
  if (!truncate) return writeSynced(path, "a", text);
  const temporary = temporaryPath(path);
  try {
    writeSynced(temporary, "w", text);
    // rename is atomic: a kill leaves the old file or the new one.
    renameSync(temporary, path);
  } catch (error) {
    // A full disk leaves no empty temporary behind.
    removeQuietly(temporary);
    throw error;
  }
}

/** Writes (`w`) or appends (`a`) `text` and waits until it is on disk; the file is closed whatever happens. */
function writeSynced(path: string, flags: "w" | "a", text: string): void {
  const fd = openSync(path, flags);
  try {
    appendFileSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
