import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "protocols/**/*.test.ts", "test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    // @peculiar/x509 (a second parser in tests) needs the reflect-metadata polyfill loaded first.
    setupFiles: ["test/setup-reflect-metadata.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // .ci/run reads the counts for its closing "N passed, N failed" line.
    ...(process.env["CHANCERY_TEST_REPORT"]
      ? { reporters: ["default", "json"], outputFile: { json: process.env["CHANCERY_TEST_REPORT"] } }
      : {}),
  },
});
