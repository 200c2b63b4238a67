// Runs one lesion command in this process (as bin/lesion.js does), then prints to stderr, as the last line, its peak
// RSS (process.resourceUsage().maxRSS: getrusage's ru_maxrss, in KiB) and wall time: for bench/study-memory.mjs.
import { main } from "../dist/cli/main.js";

const started = performance.now();
const code = await main(process.argv.slice(2));
process.stderr.write(`${JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS, seconds: (performance.now() - started) / 1000, exitCode: code })}\n`);
process.exitCode = code;
