/**
 * CI smoke of the bench against our server: a few hundred sockets for a few
 * seconds, correctness only (no loss, no duplicates, in order, the member
 * limit holds under concurrent joins), never speed. Each run starts our
 * server on a free loopback port with DATABASE_URL=memory:// and
 * RATE_MESSAGES=0, and stops it at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { runScenario } from './run.ts'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

const out = mkdtempSync(join(tmpdir(), 'bench-smoke-'))
afterAll(() => rmSync(out, { recursive: true, force: true }))

function failed(report: Awaited<ReturnType<typeof runScenario>>['report']): string[] {
  return report.checks.filter((c) => !c.pass).map((c) => `${c.name}: ${c.detail}`)
}

describe('bench smoke (our server, memory://)', () => {
  test('fanout: 200 sockets in 50-member rooms, no loss, no duplicates, in order', async () => {
    const { report } = await runScenario(['fanout', '--smoke', '--targets', 'ours', '--db', 'memory', '--out', out])
    const run = report.runs.find((r) => r.target === 'ours')
    expect(run).toBeDefined()
    const round = run!.rounds[0]!
    expect(run!.connect.connected).toBe(200)
    expect(round.sent).toBeGreaterThan(0)
    expect(round.acked).toBe(round.sent)
    expect(round.expected).toBe(round.acked * 50)
    expect(round.lost).toBe(0)
    expect(round.dups).toBe(0)
    expect(round.outOfOrder).toBe(0)
    expect(failed(report)).toEqual([])
  }, 240_000)

  test('idle: 200 idle sockets stay open; RSS and JS heap per socket measured after a GC', async () => {
    const { report } = await runScenario(['idle', '--smoke', '--targets', 'ours', '--db', 'memory', '--out', out])
    const idle = (report.extra.idle as { target: string; connected: number; openAtEnd: number; heapPerSocket: number | null; after: { rss: number } | null }[])
      .find((f) => f.target === 'ours')
    expect(idle).toBeDefined()
    expect(idle!.connected).toBe(200)
    expect(idle!.openAtEnd).toBe(200)
    // the preloaded hook answered: figures after a GC, not the /proc fallback
    expect(idle!.after?.rss).toBeGreaterThan(0)
    expect(idle!.heapPerSocket).not.toBeNull()
    expect(failed(report)).toEqual([])
  }, 240_000)

  test('room-limit: concurrent joins take exactly the free places', async () => {
    const { report } = await runScenario(['room-limit', '--smoke', '--targets', 'ours', '--db', 'memory', '--out', out])
    const limit = (report.extra.limit as { target: string; admitted: number[]; free: number; memberCounts: number[] }[])
      .find((f) => f.target === 'ours')
    expect(limit).toBeDefined()
    expect(limit!.admitted).toEqual([limit!.free])
    expect(limit!.memberCounts).toEqual([100])
    expect(report.checks.length).toBeGreaterThan(5)
    expect(failed(report)).toEqual([])
  }, 240_000)
})
