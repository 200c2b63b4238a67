/** Downloads into the cache: streamed to a temporary sibling, SHA-256 checked, then renamed into place. */
import { createHash } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { open, rename } from "node:fs/promises";
import { dirname } from "node:path";
import { fail, isLesionError } from "../errors.js";

export interface DownloadOptions {
  /** Expected SHA-256 of the file, lowercase hex. A mismatch throws `checksum-mismatch` and keeps nothing. */
  sha256: string;
  /** The fetch to use; default the global one. Injectable for tests. */
  fetch?: typeof fetch;
}

/**
 * Fetches `url` to `destPath`. The file appears only complete and verified: a failed or mismatched download leaves
 * nothing behind. A network or HTTP failure throws `download-failed` naming the URL and where to put the file by hand.
 */
export async function download(url: string, destPath: string, options: DownloadOptions): Promise<void> {
  const fetchFn = options.fetch ?? globalThis.fetch;
  const expected = options.sha256.toLowerCase();
  mkdirSync(dirname(destPath), { recursive: true });
  const temporary = `${destPath}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.part`;
  const failed = (reason: string): never =>
    fail("download-failed", `could not download ${url} (${reason}); download it by hand and place it at ${destPath}`, { url, path: destPath, reason });
  try {
    let response: Response;
    try {
      response = await fetchFn(url);
    } catch (error) {
      return failed(networkReason(error));
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel().catch(() => undefined);
      return failed(`HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`);
    }
    const hash = createHash("sha256");
    let bytes = 0;
    const file = await open(temporary, "w");
    try {
      const reader = response.body.getReader();
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (error) {
          return failed(networkReason(error));
        }
        if (chunk.done) break;
        hash.update(chunk.value);
        bytes += chunk.value.length;
        await file.write(chunk.value);
      }
    } finally {
      await file.close();
    }
    const actual = hash.digest("hex");
    if (actual !== expected) {
      fail("checksum-mismatch", `SHA-256 of ${url} is ${actual}, expected ${expected}; the download (${bytes} bytes) was discarded`, {
        url,
        path: destPath,
        expected,
        actual,
      });
    }
    await rename(temporary, destPath);
  } catch (error) {
    rmSync(temporary, { force: true });
    if (isLesionError(error)) throw error;
    failed((error as Error).message);
  }
}

/** The most specific reason in a fetch error: undici wraps the socket error (ECONNREFUSED …) in `cause`. */
function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return cause.code;
  if (cause?.message) return cause.message;
  return error instanceof Error ? error.message : String(error);
}
