import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "protocols/**/*.test.ts", "test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // .ci/run reads the counts for its closing "N passed, N failed" line.
    ...(process.env["CHANCERY_TEST_REPORT"]
      ? { reporters: ["default", "json"], outputFile: { json: process.env["CHANCERY_TEST_REPORT"] } }
      : {}),
  },
});
