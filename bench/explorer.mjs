// Times an explorer page in Debian's headless Chromium: the first result after opening, and the time from a change
// (lesionExplorer.ablate of one random unit, then of a random pair, on a random site) to its drawn result.
// Usage: node bench/explorer.mjs explorer.html [changes=30]
import { resolve } from "node:path";
import { loadavg } from "node:os";
import { chromium } from "playwright-core";

const [path, count = "30"] = process.argv.slice(2);
if (!path) throw new Error("usage: node bench/explorer.mjs explorer.html [changes]");
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const page = await browser.newPage();
  const started = Date.now();
  await page.goto(`file://${resolve(path)}`);
  await page.evaluate("window.lesionExplorer.ready");
  const first = Date.now() - started;
  const ms = await page.evaluate(async (n) => {
    const sites = [...document.querySelectorAll(".site")].map((el) => ({ name: el.querySelector(".unit").dataset.site, units: el.querySelectorAll(".unit").length }));
    let seed = 1;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const out = [];
    for (let i = 0; i < n; i++) {
      const site = sites[Math.floor(rand() * sites.length)];
      const units = [...new Set(Array.from({ length: 1 + (i % 2) }, () => Math.floor(rand() * site.units)))];
      await window.lesionExplorer.ablate(site.name, units);
      out.push(window.lesionExplorer.timings.at(-1));
    }
    return out;
  }, Number(count));
  ms.sort((a, b) => a - b);
  const q = (p) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))].toFixed(0);
  const phases = await page.evaluate("window.lesionExplorer.phases");
  console.log(`${path}: first result ${first} ms (${JSON.stringify(phases)}); per change over ${ms.length}: median ${q(0.5)} ms, 90th percentile ${q(0.9)} ms, max ${q(1)} ms; load average ${loadavg()[0].toFixed(1)}`);
} finally {
  await browser.close();
}
