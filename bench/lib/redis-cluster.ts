/**
 * A throw-away local Redis Cluster for the bench: `shards` redis-server
 * processes on free loopback ports, joined with `redis-cli --cluster create`
 * (no replicas). Stopped with the bench's other processes.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LOOPBACK, freePort, spawnManaged, type Managed } from './procs.ts'

export type LocalCluster = {
  /** host:port,… for REDIS_CLUSTER_NODES */
  nodes: string
  procs: Managed[]
  stop(): Promise<void>
}

/** True when redis-server and redis-cli are on the PATH. */
export function canStartCluster(): boolean {
  return !!Bun.which('redis-server') && !!Bun.which('redis-cli')
}

export async function startLocalCluster(shards: number, logDir: string): Promise<LocalCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-cluster-'))
  const ports: number[] = []
  const procs: Managed[] = []
  const stop = async () => {
    await Promise.all(procs.map((p) => p.stop(3000)))
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (let i = 0; i < shards; i++) {
      const port = await freePort()
      // the cluster bus defaults to port + 10000, which may be taken: give it a free port of its own
      const busPort = await freePort()
      ports.push(port)
      procs.push(spawnManaged({
        name: `redis-shard-${i + 1}`,
        cmd: ['redis-server', '--port', String(port), '--bind', LOOPBACK, '--cluster-enabled', 'yes', '--cluster-port', String(busPort),
          '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir, '--save', '', '--appendonly', 'no'],
        logFile: join(logDir, `redis-shard-${i + 1}.log`),
      }))
    }
    const cli = (args: string[]) => Bun.spawnSync(['redis-cli', ...args], { stdout: 'pipe', stderr: 'pipe' })
    for (const port of ports) {
      const deadline = Date.now() + 10_000
      while (cli(['-h', LOOPBACK, '-p', String(port), 'ping']).stdout.toString().trim() !== 'PONG') {
        if (Date.now() > deadline) throw new Error(`redis shard on ${port} did not start`)
        await Bun.sleep(50)
      }
    }
    const created = cli(['--cluster', 'create', ...ports.map((p) => `${LOOPBACK}:${p}`), '--cluster-replicas', '0', '--cluster-yes'])
    if (!created.success) throw new Error(`redis-cli --cluster create failed: ${created.stderr.toString()}`)
    const deadline = Date.now() + 15_000
    while (!ports.every((p) => cli(['-h', LOOPBACK, '-p', String(p), 'cluster', 'info']).stdout.toString().includes('cluster_state:ok'))) {
      if (Date.now() > deadline) throw new Error('the local Redis Cluster did not reach cluster_state:ok')
      await Bun.sleep(100)
    }
    return { nodes: ports.map((p) => `${LOOPBACK}:${p}`).join(','), procs, stop }
  } catch (e) {
    await stop()
    throw e
  }
}
