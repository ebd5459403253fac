/**
 * cluster: our server as 3 nodes joined by Redis against 1 node, same
 * workload, same run, both on fresh Postgres databases. Each room's sockets
 * are spread over the nodes in turn, so every message crosses nodes.
 */
import { runLoad, type TargetRun } from './common.ts'
import { correctnessChecks, loadComparisons, loadParamsOf, pickTargets, withTarget, type Ctx, type ScenarioResult } from './context.ts'
import { fanoutParams, P99_BOUND_MS } from './fanout.ts'

export async function cluster(ctx: Ctx): Promise<ScenarioResult> {
  const notes: string[] = []
  const { kinds, pg } = await pickTargets(ctx, ['ours'], notes)
  if (!kinds.includes('ours')) throw new Error('cluster runs our server only, and it is missing')
  if (!pg && ctx.opts.db !== 'memory') throw new Error('cluster needs Postgres shared by the nodes')
  const p = fanoutParams(ctx)
  const nodes = 3
  const maxMembers = ctx.opts.maxMembers ?? Math.max(100, p.members)
  const runs: TargetRun[] = []
  runs.push(await withTarget({ kind: 'ours', tag: 'ours-1', nodes: 1, db: 'postgres', maxMembers, logDir: ctx.logDir }, (t) => runLoad(t, p, ctx.logDir)))
  runs.push(await withTarget({ kind: 'ours', tag: `ours-${nodes}`, nodes, db: 'postgres', redis: true, maxMembers, logDir: ctx.logDir }, (t) => runLoad(t, p, ctx.logDir)))
  const multi = runs[1]!
  notes.push(`${nodes} nodes on consecutive starts, one Postgres database, Redis at the bench's REDIS_URL; a room's sockets alternate between nodes`)
  notes.push('the ratio compares 3 nodes (ours) against 1 node (baseline); target: ≥ 0.7 of one node\'s deliveries/s with zero loss and zero duplicates')
  return {
    params: { ...loadParamsOf(p), nodes, maxMembers },
    runs,
    comparisons: loadComparisons(runs, multi.target, P99_BOUND_MS),
    checks: [...correctnessChecks(multi), ...correctnessChecks(runs[0]!)],
    extra: {},
    notes,
  }
}
