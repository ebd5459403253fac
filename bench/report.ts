/**
 * Results of one bench run: a JSON file (machine, commit, parameters,
 * figures) and a Markdown report with SVG charts under bench/results/. Every
 * number in them comes from the run itself.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem, release } from 'node:os'
import { basename, join } from 'node:path'
import type { TargetRun } from './scenarios/common.ts'
import { lineChart, type Series } from './lib/svg.ts'

export const RESULTS_DIR = join(import.meta.dir, 'results')

export type Comparison = {
  metric: string
  unit: string
  ours: number
  baseline: number
  baselineName: string
  /** ours / baseline */
  ratio: number
  better: 'higher' | 'lower'
}

export type Check = { name: string; pass: boolean; detail: string }

export type RunReport = {
  scenario: string
  startedAt: string
  finishedAt: string
  machine: Record<string, string | number>
  commit: string
  params: Record<string, unknown>
  runs: TargetRun[]
  comparisons: Comparison[]
  checks: Check[]
  /** scenario-specific figures */
  extra: Record<string, unknown>
  notes: string[]
}

function sh(cmd: string[]): string {
  try {
    const r = Bun.spawnSync(cmd, { cwd: join(import.meta.dir, '..') })
    return r.success ? r.stdout.toString().trim() : ''
  } catch {
    return ''
  }
}

export function machineInfo(): Record<string, string | number> {
  return {
    cpu: cpus()[0]?.model ?? '?',
    cores: cpus().length,
    memGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    bun: Bun.version,
    node: sh(['node', '--version']) || 'absent',
    nofile: sh(['sh', '-c', 'ulimit -n']),
  }
}

export function commitInfo(): string {
  const head = sh(['git', 'rev-parse', 'HEAD']) || 'no-commit'
  const dirty = sh(['git', 'status', '--porcelain']) ? '+dirty' : ''
  return head + dirty
}

export function compare(metric: string, unit: string, ours: number, baseline: number, baselineName: string, better: Comparison['better']): Comparison {
  return { metric, unit, ours, baseline, baselineName, ratio: baseline ? Math.round((ours / baseline) * 1000) / 1000 : 0, better }
}

const fmtN = (n: number) => (Number.isInteger(n) ? n.toLocaleString('en-US') : String(Math.round(n * 1000) / 1000))

/** Writes the JSON, the charts and the Markdown report; returns the paths. */
export function writeReport(r: RunReport, dir = RESULTS_DIR): { json: string; md: string } {
  mkdirSync(dir, { recursive: true })
  const stamp = r.startedAt.replace(/[:.]/g, '-').replace('Z', '')
  const base = join(dir, `${stamp}-${r.scenario}`)
  writeFileSync(`${base}.json`, `${JSON.stringify(r, null, 2)}\n`)

  const charts: string[] = []
  const chart = (suffix: string, svg: string, alt: string) => {
    writeFileSync(`${base}-${suffix}.svg`, svg)
    charts.push(`![${alt}](${basename(base)}-${suffix}.svg)`)
  }
  const main = (run: TargetRun) => run.rounds.at(-1)
  const withRounds = r.runs.filter((x) => x.rounds.length)
  if (withRounds.length) {
    chart('latency', lineChart({
      title: 'Send → delivery latency (cumulative)', xLabel: 'ms (log)', yLabel: 'fraction of deliveries', logX: true,
      series: withRounds.map((x) => ({ name: `${x.label} (${main(x)!.rate}/s/sender)`, points: main(x)!.latencyCdf })),
    }), 'latency distribution')
    chart('deliveries', lineChart({
      title: 'Deliveries per second over time', xLabel: 's from the end of the warm-up', yLabel: 'deliveries/s',
      series: withRounds.flatMap((x) => x.rounds.map((rd) => ({
        name: `${x.label} @${rd.rate}/s`, points: rd.timeline.sec.map((s, i) => [s, rd.timeline.deliveries[i] ?? 0] as [number, number]),
      }))).slice(0, 6),
    }), 'deliveries per second')
  }
  const withRss = r.runs.filter((x) => x.rssVsSockets.length > 1)
  if (withRss.length) {
    chart('rss', lineChart({
      title: 'Server RSS against sockets connected', xLabel: 'sockets', yLabel: 'RSS (MiB)',
      series: withRss.map((x): Series => ({ name: x.label, points: x.rssVsSockets.map(([n, b]) => [n, b / 1048576]) })),
    }), 'RSS against sockets')
  }
  const soak = r.extra.soakSeries as { name: string; points: [number, number][]; rss: [number, number][] }[] | undefined
  if (soak?.length) {
    chart('soak-p99', lineChart({ title: 'p99 latency over the soak', xLabel: 's', yLabel: 'p99 ms', series: soak.map((s) => ({ name: s.name, points: s.points })) }), 'soak p99')
    chart('soak-rss', lineChart({ title: 'Server RSS over the soak', xLabel: 's', yLabel: 'MiB', series: soak.map((s) => ({ name: s.name, points: s.rss })) }), 'soak rss')
  }

  const md: string[] = []
  md.push(`# Bench: ${r.scenario}`, '')
  md.push(`${r.startedAt} → ${r.finishedAt} · commit \`${r.commit}\``, '')
  md.push(`Machine: ${Object.entries(r.machine).map(([k, v]) => `${k} ${v}`).join(' · ')}`, '')
  md.push(`Parameters: \`${JSON.stringify(r.params)}\``, '')
  if (r.comparisons.length) {
    md.push('## Ours against the baselines', '', '| figure | ours | baseline | baseline value | ratio (ours / baseline) |', '| --- | ---: | --- | ---: | ---: |')
    for (const c of r.comparisons) md.push(`| ${c.metric} (${c.unit}, ${c.better} is better) | ${fmtN(c.ours)} | ${c.baselineName} | ${fmtN(c.baseline)} | ${c.ratio} |`)
    md.push('')
  }
  if (r.checks.length) {
    md.push('## Checks', '', '| check | result | detail |', '| --- | --- | --- |')
    for (const c of r.checks) md.push(`| ${c.name} | ${c.pass ? 'pass' : '**FAIL**'} | ${c.detail} |`)
    md.push('')
  }
  if (r.runs.length) {
    md.push('## Targets', '')
    md.push('| target | sockets ready / asked | connect/s | connect p99 ms | RSS per socket (B) | peak RSS (MiB) |', '| --- | ---: | ---: | ---: | ---: | ---: |')
    for (const x of r.runs) {
      md.push(`| ${x.label} | ${fmtN(x.connect.connected)} / ${fmtN(x.connect.requested)} | ${fmtN(x.connect.ratePerSec)} | ${x.connect.latency.p99} | ${fmtN(x.rss.perSocket)} | ${(x.rss.peak / 1048576).toFixed(1)} |`)
    }
    md.push('')
    const roundHead = '| target | rate/sender | sent | acked | expected | delivered (unique) | lost | dup | out of order | deliveries/s | acked/s | p50 | p90 | p99 | p99.9 | max ms | ack p99 ms | server CPU % | generator CPU % | other CPU % |'
    md.push(roundHead, `| --- |${' ---: |'.repeat(roundHead.split('|').length - 3)}`)
    for (const x of r.runs) {
      for (const rd of x.rounds) {
        const l = rd.latency
        md.push(`| ${x.label} | ${rd.rate} | ${fmtN(rd.sent)} | ${fmtN(rd.acked)} | ${fmtN(rd.expected)} | ${fmtN(rd.unique)} | ${fmtN(rd.lost)} | ${fmtN(rd.dups)} | ${fmtN(rd.outOfOrder)} | ${fmtN(rd.deliveriesPerSec)} | ${fmtN(rd.ackedPerSec)} | ${l.p50} | ${l.p90} | ${l.p99} | ${l.p999} | ${l.max} | ${rd.ack.p99} | ${rd.serverCpuPct} | ${rd.generatorCpuPct} | ${rd.otherCpuPct} |`)
      }
    }
    md.push('')
    const errs = r.runs.filter((x) => x.error || Object.keys(x.connect.errors).length || x.rounds.some((rd) => Object.keys(rd.sendErrors).length))
    for (const x of errs) {
      md.push(`- ${x.label}: ${x.error ? `error: ${x.error}; ` : ''}connect errors ${JSON.stringify(x.connect.errors)}; send errors ${JSON.stringify(x.rounds.map((rd) => rd.sendErrors))}`)
    }
    if (errs.length) md.push('')
  }
  const extraTables = r.extra.tables as { title: string; head: string[]; rows: (string | number)[][] }[] | undefined
  for (const t of extraTables ?? []) {
    md.push(`## ${t.title}`, '', `| ${t.head.join(' | ')} |`, `| ${t.head.map(() => '---').join(' | ')} |`)
    for (const row of t.rows) md.push(`| ${row.map((v) => (typeof v === 'number' ? fmtN(v) : v)).join(' | ')} |`)
    md.push('')
  }
  if (charts.length) md.push('## Charts', '', ...charts.flatMap((c) => [c, '']))
  if (r.notes.length) md.push('## Notes', '', ...r.notes.map((n) => `- ${n}`), '')
  md.push(`Raw figures: \`${basename(base)}.json\``, '')
  writeFileSync(`${base}.md`, md.join('\n'))
  return { json: `${base}.json`, md: `${base}.md` }
}

/** The comparison and check lines for the console. */
export function printSummary(r: RunReport): void {
  console.log(`\n== ${r.scenario} ==`)
  for (const c of r.comparisons) {
    console.log(`${c.metric}: ours ${fmtN(c.ours)} ${c.unit} · ${c.baselineName} ${fmtN(c.baseline)} ${c.unit} · ratio ${c.ratio} (${c.better} is better)`)
  }
  for (const c of r.checks) console.log(`${c.pass ? 'PASS' : 'FAIL'} ${c.name}: ${c.detail}`)
}
