/**
 * CI smoke of the SDK bench adapter (`bun run bench sdk --smoke`): 40 users'
 * ChatSockets in 10-member rooms send through the SDK; everything is acked
 * and delivered exactly once, in order, and the raw generator's run on the
 * same server agrees. Correctness only, never speed.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, setDefaultTimeout, test } from 'bun:test'
import { runScenario } from './run.ts'
import type { SdkRound } from './scenarios/sdk.ts'

// per file: Bun applies a preload's default timeout to the first file only
setDefaultTimeout(60_000)

const out = mkdtempSync(join(tmpdir(), 'bench-sdk-smoke-'))
afterAll(() => rmSync(out, { recursive: true, force: true }))

test('sdk: SDK sockets as the load, no loss, no duplicates, in order', async () => {
  const { report } = await runScenario(['sdk', '--smoke', '--db', 'memory', '--out', out])
  const s = report.extra.sdk as SdkRound
  expect(s.sockets).toBe(40)
  expect(s.sent).toBeGreaterThan(0)
  expect(s.acked).toBe(s.sent)
  expect(s.unique).toBe(s.expected)
  expect(s.dups).toBe(0)
  expect(s.outOfOrder).toBe(0)
  expect(report.checks.filter((c) => !c.pass).map((c) => `${c.name}: ${c.detail}`)).toEqual([])
}, 240_000)
