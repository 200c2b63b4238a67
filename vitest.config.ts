import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // onnxruntime-node is not safe in worker_threads: run test files in child processes.
    pool: "forks",
    globalSetup: ["test/tmpdir.setup.ts"],
  },
});
