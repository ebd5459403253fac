/**
 * The bench's command line: `bun bench/run.ts <scenario> [options]`
 * (`bun run bench <scenario>`). Runs the scenario, writes the JSON and the
 * Markdown report under bench/results/, prints ours / baseline / ratio, and
 * exits non-zero when a correctness check fails. Every process it started
 * is stopped on the way out, whatever happens.
 */
import { join } from 'node:path'
import { USAGE, parseArgs } from './lib/args.ts'
import { raiseNoFile, stopAll } from './lib/procs.ts'
import { RESULTS_DIR, commitInfo, machineInfo, printSummary, writeReport, type RunReport } from './report.ts'
import { channel } from './scenarios/channel.ts'
import { connect } from './scenarios/connect.ts'
import type { Ctx, Scenario } from './scenarios/context.ts'
import { cluster } from './scenarios/cluster.ts'
import { fanout } from './scenarios/fanout.ts'
import { idle } from './scenarios/idle.ts'
import { persist } from './scenarios/persist.ts'
import { roomLimit } from './scenarios/room-limit.ts'
import { soak } from './scenarios/soak.ts'
import { writer } from './scenarios/writer.ts'
import { writerPoison } from './scenarios/writer-poison.ts'
import { search } from './scenarios/search.ts'
import { sdk } from './scenarios/sdk.ts'

export const SCENARIOS: Record<string, Scenario> = {
  fanout, channel, 'room-limit': roomLimit, connect, persist, cluster, soak, writer, 'writer-poison': writerPoison, search, sdk, idle,
}

/** Runs one scenario end to end; returns the report and where it was written. */
export async function runScenario(argv: string[]): Promise<{ report: RunReport; json: string; md: string }> {
  const opts = parseArgs(argv)
  const scenario = SCENARIOS[opts.scenario]
  if (!scenario) throw new Error(`unknown scenario ${opts.scenario}\n${USAGE}`)
  const nofile = raiseNoFile()
  const startedAt = new Date().toISOString()
  const outDir = opts.out ?? RESULTS_DIR
  const ctx: Ctx = { opts, startedAt, logDir: join(outDir, 'logs', `${startedAt.replace(/[:.]/g, '-')}-${opts.scenario}`) }
  try {
    const r = await scenario(ctx)
    const report: RunReport = {
      scenario: opts.scenario + (opts.smoke ? ' (smoke)' : ''),
      startedAt, finishedAt: new Date().toISOString(),
      machine: { ...machineInfo(), nofile }, commit: commitInfo(), ...r,
    }
    const paths = writeReport({ ...report, scenario: opts.scenario + (opts.smoke ? '-smoke' : '') }, outDir)
    printSummary(report)
    console.log(`\nreport: ${paths.md}\njson:   ${paths.json}\nlogs:   ${ctx.logDir}`)
    return { report, ...paths }
  } finally {
    await stopAll()
  }
}

if (import.meta.main) {
  const argv = process.argv.slice(2)
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE)
    process.exit(0)
  }
  try {
    const { report } = await runScenario(argv)
    process.exit(report.checks.every((c) => c.pass) ? 0 : 1)
  } catch (e) {
    console.error(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
    await stopAll()
    process.exit(2)
  }
}
