/** File access with the project's error codes, and atomic writes (temp name, then rename). */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fail, isLesionError } from "./errors.js";

/**
 * Reads a whole file, or a pipe (a shell's process substitution, `--units @<(…)`: a trial's was refused); a missing or
 * unreadable path, or a directory or device, is a `missing-file` error naming what it was for.
 */
export function readFileChecked(path: string, what = "file"): Buffer {
  let stats;
  try {
    stats = statSync(path);
  } catch {
    fail("missing-file", `${what} not found: ${path}`, { path });
  }
  if (!stats.isFile() && !stats.isFIFO()) fail("missing-file", `${what} is not a file: ${path}`, { path });
  return readFileSync(path);
}

/** What a file-system error code means (for a write, or a path read), in words; codes not listed are reported by their name. */
const WRITE_FAULTS: Record<string, string> = {
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EFBIG: "file too large",
  ENOTDIR: "a part of the path is a file, not a directory",
  EEXIST: "it is a file, not a directory",
  EISDIR: "is a directory",
  ENAMETOOLONG: "name too long",
  ENOENT: "no such directory",
  EIO: "input/output error",
  ELOOP: "a loop of symbolic links",
};

/** A file-system error code in words ("no space left on device"), or the code itself. */
export function describeWriteFault(code: string): string {
  return WRITE_FAULTS[code] ?? code.toLowerCase();
}

/**
 * Runs a write and turns a file-system fault (read-only mount, permission, a file in the way, disk full) into an
 * `unwritable-path` LesionError naming `path`; other errors pass through unchanged.
 */
export function guardWrite<T>(path: string, write: () => T, what = "cannot write"): T {
  return guarded(path, `${what} ${path}`, write);
}

/** Runs `write`; a file-system fault becomes `unwritable-path` with the message "<label>: <reason> (<code>)". */
function guarded<T>(path: string, label: string, write: () => T): T {
  try {
    return write();
  } catch (error) {
    if (isLesionError(error)) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code !== "string" || !/^E[A-Z]+$/.test(code)) throw error;
    // ENOENT although the directory is there: a file system that makes no files there (/proc), not a missing directory.
    const refused = code === "ENOENT" && existsSync(dirname(path)) ? `${dirname(path)} does not allow new files` : undefined;
    const reason = (error as { reason?: string }).reason ?? refused ?? WRITE_FAULTS[code] ?? code.toLowerCase();
    fail("unwritable-path", `${label}: ${reason} (${code})`, { path, errno: code });
  }
}

/**
 * Creates a directory (and its parents); a file in the way or an unwritable parent is `unwritable-path`. Parents are
 * made one by one: Node's recursive mkdir never returns under /proc.
 */
export function ensureDir(path: string, what = "cannot create directory"): void {
  guarded(path, `${what} ${path}`, () => makeDirs(resolve(path)));
}

function makeDirs(path: string): void {
  const missing: string[] = [];
  for (let at = path; ; ) {
    let stats;
    try {
      stats = statSync(at);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      missing.push(at);
      if (dirname(at) === at) break;
      at = dirname(at);
      continue;
    }
    if (!stats.isDirectory()) throw Object.assign(new Error(`${at} is a file`), { code: at === path ? "EEXIST" : "ENOTDIR" });
    break;
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // ENOENT with the parent there: a file system that makes no directories (/proc, /sys), not a missing one.
      if (code === "ENOENT" && existsSync(dirname(dir))) throw Object.assign(error as Error, { reason: `${dirname(dir)} does not allow new directories` });
      // Another process made it in between: fine if it is a directory.
      if (code !== "EEXIST" || !statSync(dir).isDirectory()) throw error;
    }
  }
}

/**
 * Checks before any work that files can be created in `dir` (created if missing): writes and removes a probe file.
 * Throws `unwritable-path` naming the directory and `what` it was for.
 */
export function checkWritableDir(dir: string, what: string, hint = ""): void {
  const label = `${what} ${dir} is not writable${hint ? ` (${hint})` : ""}`;
  const probe = join(dir, `.lesion-probe.${process.pid}.tmp`);
  // The probe's path, so that a directory that makes no files (/proc) is the one named.
  guarded(probe, label, () => {
    makeDirs(resolve(dir));
    writeFileSync(probe, "probe");
  });
  rmSync(probe, { force: true });
}

/**
 * Checks that `path` can be an output file: absent, or a regular file. The atomic rename would put a file in place of
 * a device (`-o /dev/null` replaced the system's device), and a directory in the way is found before any work.
 * Throws `unwritable-path`.
 */
export function checkOutputFile(path: string): void {
  let stats;
  try {
    stats = statSync(path);
  } catch {
    return;
  }
  if (stats.isFile()) return;
  const what = stats.isDirectory() ? "is a directory" : stats.isCharacterDevice() || stats.isBlockDevice() ? "is a device, not a file (lesion writes whole files atomically, by renaming over the path)" : "is not a regular file";
  fail("unwritable-path", `cannot write ${path}: it ${what}`, { path, errno: stats.isDirectory() ? "EISDIR" : "EINVAL" });
}

/**
 * Writes through a temporary sibling and renames it, so a reader never sees a half-written file. A file-system fault
 * (read-only, disk full, a file in the way) is `unwritable-path` naming `path`, and leaves no temporary file.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  checkOutputFile(path);
  ensureDir(dirname(path));
  const temporary = temporaryPath(path);
  try {
    guardWrite(path, () => {
      writeFileSync(temporary, data);
      renameSync(temporary, path);
    });
  } catch (error) {
    removeQuietly(temporary);
    throw error;
  }
}

/**
 * The temporary sibling a write goes through before its rename: `name.<pid>.tmp`, or `.lesion.<pid>.tmp` where that
 * name would pass the file system's 255-byte limit (a name of 245–255 bytes could never be written, and a longer one
 * ended in "internal error: ENAMETOOLONG"). Both end in `.<pid>.tmp`, which a rerun removes as a killed run's.
 */
export function temporaryPath(path: string): string {
  const suffix = `.${process.pid}.tmp`;
  return Buffer.byteLength(basename(path)) + suffix.length <= 255 ? `${path}${suffix}` : join(dirname(path), `.lesion${suffix}`);
}

/** Removes a temporary file if it is there; a fault doing so (its name too long, a read-only mount) is not the error to report. */
export function removeQuietly(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // The write's own error says what went wrong.
  }
}

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A path (or data spec) as one shell word, for a command a user copies: quoted where it holds anything beyond plain path characters. Throws nothing. */
export function shellWord(text: string): string {
  return /^[\w./@:,+-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}
