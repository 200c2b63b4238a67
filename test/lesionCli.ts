/** The command line as users run it, for tests: `node bin/lesion.js …` in a child process. */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The installed `lesion` binary's script (it runs dist/: `npm test` builds first). */
export const BIN = fileURLToPath(new URL("../bin/lesion.js", import.meta.url));

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `lesion ...args` to its end. LESION_DEBUG is off, so errors read as users see them (one line, no stack);
 * `cache` is LESION_CACHE_DIR (the default network, downloads), so a test never touches the user's cache.
 */
export function runLesion(args: readonly string[], options: { cwd?: string; cache?: string; env?: Record<string, string> } = {}): CliRun {
  const cache = options.cache === undefined ? {} : { LESION_CACHE_DIR: options.cache };
  const run = spawnSync(process.execPath, [BIN, ...args], { cwd: options.cwd, encoding: "utf8", env: { ...process.env, LESION_DEBUG: "", ...cache, ...options.env } });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}
