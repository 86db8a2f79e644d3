import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Vitest's default is one worker less than the cores: a single worker on CI's two cores, so
    // the files ran one after another while most of them wait on Azurite, child processes
    // (the CLI, serve, Chromium) and sockets. Two workers keep both cores busy; a third only
    // stretched the heaviest tests past their timeouts on a loaded machine.
    maxWorkers: 2,
  },
});
