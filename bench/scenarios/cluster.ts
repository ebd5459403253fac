/**
 * cluster: our server as 3 nodes joined by Redis against 1 node, same
 * workload, same run, both on fresh Postgres databases. Each room's sockets
 * are spread over the nodes in turn, so every message crosses nodes. When
 * redis-server is installed, a third run joins the 3 nodes through a local
 * 3-shard Redis Cluster (sharded pub/sub) started for the run.
 *
 * `--per-node 1`: the 3-node runs take 3× the rooms (same members, senders
 * and rate per room), so each node carries what the single node does, and
 * deliveries/s per node are compared (target ≥ 0.9). Without it the same
 * total workload is spread over the nodes.
 */
import { canStartCluster, startLocalCluster } from '../lib/redis-cluster.ts'
import { compare } from '../report.ts'
import { log, runLoad, type TargetRun } from './common.ts'
import { correctnessChecks, loadComparisons, loadParamsOf, pickTargets, withTarget, type Ctx, type ScenarioResult } from './context.ts'
import { fanoutParams, P99_BOUND_MS } from './fanout.ts'

export async function cluster(ctx: Ctx): Promise<ScenarioResult> {
  const notes: string[] = []
  const { kinds, pg } = await pickTargets(ctx, ['ours'], notes)
  if (!kinds.includes('ours')) throw new Error('cluster runs our server only, and it is missing')
  if (!pg && ctx.opts.db !== 'memory') throw new Error('cluster needs Postgres shared by the nodes')
  const p = fanoutParams(ctx)
  const nodes = 3
  const perNode = ctx.opts.perNode === 1
  // the multi-node runs' workload: the same in total, or the single node's on each node
  const pMulti = perNode ? { ...p, rooms: p.rooms * nodes } : p
  const maxMembers = ctx.opts.maxMembers ?? Math.max(100, p.members)
  const runs: TargetRun[] = []
  runs.push(await withTarget({ kind: 'ours', tag: 'ours-1', nodes: 1, db: 'postgres', maxMembers, logDir: ctx.logDir }, (t) => runLoad(t, p, ctx.logDir)))
  runs.push(await withTarget({ kind: 'ours', tag: `ours-${nodes}`, nodes, db: 'postgres', redis: true, maxMembers, logDir: ctx.logDir }, (t) => runLoad(t, pMulti, ctx.logDir)))
  const multi = runs[1]!
  let sharded: TargetRun | undefined
  if (canStartCluster()) {
    log('starting a local 3-shard Redis Cluster')
    const rc = await startLocalCluster(3, ctx.logDir)
    try {
      sharded = await withTarget(
        { kind: 'ours', tag: `ours-${nodes}-sharded`, nodes, db: 'postgres', redisClusterNodes: rc.nodes, maxMembers, logDir: ctx.logDir },
        (t) => runLoad(t, pMulti, ctx.logDir),
      )
      runs.push({ ...sharded, label: `our server ×${nodes} nodes, 3-shard Redis Cluster` })
      notes.push(`the sharded run: 3 nodes on a local 3-shard Redis Cluster (${rc.nodes}), sharded pub/sub; target ≥ 0.9 of one node's deliveries/s, zero loss`)
    } finally {
      await rc.stop()
    }
  } else {
    notes.push('redis-server / redis-cli not installed: the sharded Redis Cluster run was skipped')
  }
  notes.push(`${nodes} nodes on consecutive starts, one Postgres database, Redis at the bench's REDIS_URL; a room's sockets alternate between nodes`)
  notes.push(perNode
    ? `--per-node: each of the ${nodes} nodes carries the single node's workload (${pMulti.rooms} rooms in all against ${p.rooms}); deliveries/s are compared per node`
    : 'the ratio compares 3 nodes (ours) against 1 node (baseline); target: ≥ 0.7 of one node\'s deliveries/s with zero loss and zero duplicates')
  return {
    params: { ...loadParamsOf(p), nodes, maxMembers, perNode, multiNodeRooms: pMulti.rooms },
    runs,
    comparisons: perNode
      ? runs.slice(1).flatMap((r) => perNodeComparisons(r, runs[0]!, nodes))
      : [
        ...loadComparisons(runs.slice(0, 2), multi.target, P99_BOUND_MS),
        ...(sharded ? shardedComparisons(sharded, runs[0]!) : []),
      ],
    checks: [...correctnessChecks(multi), ...correctnessChecks(runs[0]!), ...(sharded ? correctnessChecks(runs[2]!) : [])],
    extra: {},
    notes,
  }
}

/** The sharded cluster run against one node: deliveries/s (target ≥ 0.9) and p99. */
function shardedComparisons(sharded: TargetRun, one: TargetRun) {
  const s = sharded.rounds[0]
  const o = one.rounds[0]
  if (!s || !o) return []
  return [
    compare('deliveries/s (sharded Redis Cluster vs 1 node)', '/s', s.deliveriesPerSec, o.deliveriesPerSec, one.label, 'higher'),
    compare('p99 latency (sharded Redis Cluster vs 1 node)', 'ms', s.latency.p99, o.latency.p99, one.label, 'lower'),
  ]
}

/** A multi-node run that carried the single node's workload on each node: deliveries/s per node and p99 against it. */
function perNodeComparisons(multi: TargetRun, one: TargetRun, nodes: number) {
  const m = multi.rounds[0]
  const o = one.rounds[0]
  if (!m || !o) return []
  const of = multi.label
  return [
    compare(`deliveries/s per node (${of})`, '/s', Math.round(m.deliveriesPerSec / nodes), o.deliveriesPerSec, one.label, 'higher'),
    compare(`p99 latency (${of})`, 'ms', m.latency.p99, o.latency.p99, one.label, 'lower'),
  ]
}
