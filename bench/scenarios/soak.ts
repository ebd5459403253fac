/**
 * soak: a long but bounded run at a moderate load; the server's RSS and the
 * per-second p99 must stay flat (last fifth against the first fifth), with
 * no loss. The bare Bun baseline runs the same soak in the same invocation.
 */
import { compare, type Check, type Comparison } from '../report.ts'
import { round2, runLoad, type LoadParams, type TargetRun } from './common.ts'
import { correctnessChecks, loadParamsOf, pickTargets, withTarget, type Ctx, type ScenarioResult } from './context.ts'

const MAX_SOAK_SEC = 3 * 3600

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[Math.floor(s.length / 2)]! : 0
}

function drift(run: TargetRun) {
  const r = run.rounds.at(-1)!
  const p99 = r.timeline.sec.map((s, i) => [s, r.timeline.p99[i] ?? 0] as [number, number]).filter(([s, v]) => s >= 0 && v > 0)
  const rss = r.rssTimeline
  const fifth = <T>(xs: T[], last: boolean) => (last ? xs.slice(Math.floor(xs.length * 0.8)) : xs.slice(0, Math.max(1, Math.ceil(xs.length * 0.2))))
  return {
    p99First: round2(median(fifth(p99, false).map((x) => x[1]))),
    p99Last: round2(median(fifth(p99, true).map((x) => x[1]))),
    rssFirstMiB: round2(median(fifth(rss, false).map((x) => x[1]))),
    rssLastMiB: round2(median(fifth(rss, true).map((x) => x[1]))),
    p99Series: p99,
    rssSeries: rss,
  }
}

export async function soak(ctx: Ctx): Promise<ScenarioResult> {
  const o = ctx.opts
  const notes: string[] = []
  const { kinds, pg } = await pickTargets(ctx, ['ours', 'bare'], notes)
  const db = o.db ?? (pg ? 'postgres' : 'memory')
  const members = o.members ?? 100
  const sockets = o.sockets ?? (o.smoke ? 200 : 2000)
  const p: LoadParams = {
    rooms: o.rooms ?? Math.max(1, Math.round(sockets / members)), members, senders: Math.min(members, o.senders ?? 10),
    rates: o.rates?.slice(0, 1) ?? [2], durationSec: Math.min(MAX_SOAK_SEC, o.duration ?? (o.smoke ? 10 : 300)),
    warmupSec: o.warmup ?? 10, payload: o.payload ?? 64, workers: o.workers ?? 2, connectRate: o.connectRate ?? 2000,
    users: o.users ?? members, inflight: 0, drainSec: o.drain ?? 10,
  }
  const runs: TargetRun[] = []
  for (const kind of kinds) {
    runs.push(await withTarget({ kind, db, maxMembers: Math.max(100, members), logDir: ctx.logDir }, (t) => runLoad(t, p, ctx.logDir)))
  }
  const drifts = runs.map((r) => ({ run: r, d: drift(r) }))
  const checks: Check[] = []
  const comparisons: Comparison[] = []
  const ours = drifts.find((x) => x.run.target === 'ours')
  if (ours) {
    const { d } = ours
    checks.push(...correctnessChecks(ours.run))
    checks.push({ name: 'RSS flat (last fifth ≤ first fifth × 1.10 + 16 MiB)', pass: d.rssLastMiB <= d.rssFirstMiB * 1.1 + 16, detail: `${d.rssFirstMiB} → ${d.rssLastMiB} MiB` })
    checks.push({ name: 'p99 flat (last fifth ≤ first fifth × 2 + 5 ms)', pass: d.p99Last <= d.p99First * 2 + 5, detail: `${d.p99First} → ${d.p99Last} ms` })
    for (const b of drifts) {
      if (b === ours) continue
      comparisons.push(compare('RSS growth over the soak', 'MiB', round2(d.rssLastMiB - d.rssFirstMiB), round2(b.d.rssLastMiB - b.d.rssFirstMiB), b.run.label, 'lower'))
      comparisons.push(compare('p99 at the end', 'ms', d.p99Last, b.d.p99Last, b.run.label, 'lower'))
      const or = ours.run.rounds.at(-1)!, br = b.run.rounds.at(-1)!
      comparisons.push(compare('server CPU', '% of a core', or.serverCpuPct, br.serverCpuPct, b.run.label, 'lower'))
    }
  }
  notes.push(`bounded: at most ${MAX_SOAK_SEC} s of sending per target; "first/last fifth" are medians of per-second p99 and of RSS samples`)
  return {
    params: { ...loadParamsOf(p), db, targets: kinds },
    runs, comparisons, checks,
    extra: {
      soakSeries: drifts.map((x) => ({ name: x.run.label, points: x.d.p99Series, rss: x.d.rssSeries })),
      tables: [{
        title: 'Drift',
        head: ['target', 'p99 first fifth ms', 'p99 last fifth ms', 'RSS first fifth MiB', 'RSS last fifth MiB'],
        rows: drifts.map((x) => [x.run.label, x.d.p99First, x.d.p99Last, x.d.rssFirstMiB, x.d.rssLastMiB]),
      }],
    },
    notes,
  }
}
