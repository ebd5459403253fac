/**
 * The WebSocket transport gate: our server on Elysia's `ws()` routes
 * (WS_TRANSPORT=elysia) against the `Bun.serve` path (WS_TRANSPORT=bun), in
 * one invocation. Elysia may take the socket path only if, against Bun,
 * deliveries/s and server CPU per delivery stay within 5% and RSS per socket
 * within 10%.
 */
import { compare, type Comparison } from '../report.ts'
import { transportOf } from './targets.ts'

/** Allowed ratio elysia / bun, per figure: lower-is-better figures at most 1 + x, higher-is-better at least 1 − x. */
export const GATE = { deliveriesPerSec: 0.05, cpuPerDelivery: 0.05, rssPerSocket: 0.1, connectsPerSec: 0.05, cpuPerConnect: 0.05 } as const

export type GateFigure = { figure: keyof typeof GATE; unit: string; bun: number; elysia: number; ratio: number; better: 'higher' | 'lower'; pass: boolean }

export type TransportGate = { bun: string; elysia: string; figures: GateFigure[]; pass: boolean }

/** Figures of one run for the gate, by name (a figure missing from a run is left out). */
export type GateInput = { target: string; label: string; figures: Partial<Record<keyof typeof GATE, number>> }

const BETTER: Record<keyof typeof GATE, 'higher' | 'lower'> = {
  deliveriesPerSec: 'higher', cpuPerDelivery: 'lower', rssPerSocket: 'lower', connectsPerSec: 'higher', cpuPerConnect: 'lower',
}

const UNITS: Record<keyof typeof GATE, string> = {
  deliveriesPerSec: '/s', cpuPerDelivery: 'ms per 1,000 deliveries', rssPerSocket: 'bytes', connectsPerSec: '/s', cpuPerConnect: 'ms per 1,000 connects',
}

/**
 * The gate over the runs, when both a `bun` and an `elysia` run of our
 * server are there (else null). Ratios are elysia / bun.
 */
export function transportGate(runs: GateInput[]): TransportGate | null {
  const bun = runs.find((r) => transportOf(r.target) === 'bun')
  const elysia = runs.find((r) => transportOf(r.target) === 'elysia')
  if (!bun || !elysia) return null
  const figures: GateFigure[] = []
  for (const key of Object.keys(GATE) as (keyof typeof GATE)[]) {
    const b = bun.figures[key]
    const e = elysia.figures[key]
    if (b === undefined || e === undefined || b === 0) continue
    const ratio = Math.round((e / b) * 1000) / 1000
    const better = BETTER[key]
    const pass = better === 'higher' ? ratio >= 1 - GATE[key] : ratio <= 1 + GATE[key]
    figures.push({ figure: key, unit: UNITS[key], bun: b, elysia: e, ratio, better, pass })
  }
  return { bun: bun.label, elysia: elysia.label, figures, pass: figures.every((f) => f.pass) }
}

/** The gate as report rows (elysia as "ours", bun as the baseline) and one note line. */
export function gateReport(g: TransportGate): { comparisons: Comparison[]; note: string } {
  const comparisons = g.figures.map((f) => compare(`transport gate: ${f.figure} (elysia / bun)`, f.unit, f.elysia, f.bun, g.bun, f.better))
  const parts = g.figures.map((f) => `${f.figure} ${f.ratio} (${f.better === 'higher' ? '≥' : '≤'} ${f.better === 'higher' ? 1 - GATE[f.figure] : 1 + GATE[f.figure]}: ${f.pass ? 'met' : 'NOT met'})`)
  return { comparisons, note: `transport gate, WS_TRANSPORT=elysia / bun: ${parts.join('; ')} → ${g.pass ? 'met' : 'NOT met'}` }
}

/** Server CPU ms per 1,000 events (deliveries, connects): CPU seconds over a span / events in it. */
export function cpuPerK(cpuSec: number, events: number): number {
  return events > 0 ? Math.round((cpuSec * 1e6 * 100) / events) / 100 : 0
}
