import { setDefaultTimeout } from 'bun:test'

// Suites start servers and databases in their hooks; on a busy 2-core box that can take tens of seconds.
// Bun 1.4 applies a preload's setDefaultTimeout to the FIRST test file only (oven-sh/bun#43787) and ignores
// bunfig's [test] timeout, so `bun run test` and CI pass `--timeout 90000`; this covers the first file.
setDefaultTimeout(90_000)
