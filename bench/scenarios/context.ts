/** What a scenario gets from the CLI, and helpers shared by the scenarios. */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Options } from '../lib/args.ts'
import { pgAvailable } from '../lib/pg.ts'
import { compare, type Check, type Comparison, type RunReport } from '../report.ts'
import { ROOT, Target, type TargetKind, type TargetOptions } from '../targets/targets.ts'
import { log, type LoadParams, type TargetRun } from './common.ts'

export type Ctx = {
  opts: Options
  /** logs of every process of this run */
  logDir: string
  startedAt: string
}

export type ScenarioResult = Pick<RunReport, 'params' | 'runs' | 'comparisons' | 'checks' | 'extra' | 'notes'>

export type Scenario = (ctx: Ctx) => Promise<ScenarioResult>

/** True when our server's entry point exists (it is written alongside the bench). */
export function oursExists(): boolean {
  return existsSync(join(ROOT, 'src/index.ts'))
}

/** Starts a target, runs `fn`, and stops it (and drops its database) whatever happens. */
export async function withTarget<T>(o: TargetOptions, fn: (t: Target) => Promise<T>): Promise<T> {
  const t = new Target(o)
  log(`starting ${t.label}`)
  await t.start()
  try {
    return await fn(t)
  } finally {
    await t.stop()
    log(`stopped ${t.label}`)
  }
}

/** The targets to run: --targets, or the scenario's default, less those that cannot run here (with a note). */
export async function pickTargets(ctx: Ctx, dflt: TargetKind[], notes: string[]): Promise<{ kinds: TargetKind[]; pg: boolean }> {
  const pg = await pgAvailable()
  let kinds = ctx.opts.targets ?? dflt
  if (!oursExists() && kinds.includes('ours')) {
    notes.push('our server (src/index.ts) is missing: not run')
    kinds = kinds.filter((k) => k !== 'ours')
  }
  if (!pg && kinds.includes('socketio')) {
    notes.push('Postgres not reachable: the Socket.IO baseline (INSERT per message) was not run')
    kinds = kinds.filter((k) => k !== 'socketio')
  }
  return { kinds, pg }
}

/** The run's best sustained round: the highest deliveries/s with no loss and p99 within the bound. */
export function sustained(run: TargetRun, p99Bound: number): TargetRun['rounds'][number] | undefined {
  const ok = run.rounds.filter((r) => r.lost === 0 && r.latency.p99 <= p99Bound)
  const pool = ok.length ? ok : run.rounds
  return pool.reduce<TargetRun['rounds'][number] | undefined>((best, r) => (!best || r.deliveriesPerSec > best.deliveriesPerSec ? r : best), undefined)
}

/** Ours against each baseline on the figures every load scenario has. */
export function loadComparisons(runs: TargetRun[], oursName: string, p99Bound: number): Comparison[] {
  const ours = runs.find((r) => r.target === oursName)
  const out: Comparison[] = []
  if (!ours) return out
  const o = sustained(ours, p99Bound)
  for (const b of runs) {
    if (b === ours) continue
    const s = sustained(b, p99Bound)
    if (o && s) {
      out.push(compare('deliveries/s', '/s', o.deliveriesPerSec, s.deliveriesPerSec, b.label, 'higher'))
      out.push(compare('p99 latency', 'ms', o.latency.p99, s.latency.p99, b.label, 'lower'))
      out.push(compare('server CPU', '% of a core', o.serverCpuPct, s.serverCpuPct, b.label, 'lower'))
    }
    out.push(compare('RSS per socket', 'bytes', ours.rss.perSocket, b.rss.perSocket, b.label, 'lower'))
    out.push(compare('connects/s', '/s', ours.connect.ratePerSec, b.connect.ratePerSec, b.label, 'higher'))
  }
  return out
}

/** Zero loss, zero duplicates, in order, every socket ready, on every round of a run. */
export function correctnessChecks(run: TargetRun): Check[] {
  const checks: Check[] = [{
    name: `${run.label}: every socket ready`,
    pass: run.connect.connected === run.connect.requested,
    detail: `${run.connect.connected}/${run.connect.requested}, errors ${JSON.stringify(run.connect.errors)}`,
  }]
  for (const r of run.rounds) {
    const at = `${run.label} @${r.rate}/s`
    checks.push({ name: `${at}: messages sent and acked`, pass: r.sent > 0 && r.acked === r.sent, detail: `sent ${r.sent}, acked ${r.acked}, errors ${JSON.stringify(r.sendErrors)}, unanswered ${r.unacked}` })
    checks.push({ name: `${at}: no loss`, pass: r.lost === 0 && r.expected > 0, detail: `expected ${r.expected}, delivered ${r.unique}, lost ${r.lost}` })
    checks.push({ name: `${at}: no duplicates`, pass: r.dups === 0, detail: `${r.dups} duplicates` })
    checks.push({ name: `${at}: in order`, pass: r.outOfOrder === 0, detail: `${r.outOfOrder} out of order` })
  }
  return checks
}

export function loadParamsOf(p: LoadParams): Record<string, unknown> {
  return { ...p, sockets: p.rooms * p.members }
}
