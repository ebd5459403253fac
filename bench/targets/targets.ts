/**
 * The systems under test. Each is started by the bench, listens on the
 * loopback only, answers the same seeding REST calls, and is stopped (with
 * its throw-away database) whatever happens.
 */
import { join } from 'node:path'
import { ConfigSchema } from '../../src/config.ts'
import type { Protocol, SocketSpec } from '../generator/types.ts'
import { createDb, dropDb, pgUrlFor } from '../lib/pg.ts'
import { LOOPBACK, freePort, spawnManaged, waitReady, type Managed } from '../lib/procs.ts'
import { Api } from './api.ts'

export const ROOT = join(import.meta.dir, '../..')

export type TargetKind = 'ours' | 'ours-bun' | 'ours-elysia' | 'bare' | 'socketio'

export const LABELS: Record<TargetKind, string> = {
  ours: 'our server',
  'ours-bun': 'our server, WS_TRANSPORT=bun',
  'ours-elysia': 'our server, WS_TRANSPORT=elysia',
  bare: 'bare Bun pub/sub',
  socketio: 'Socket.IO + Redis adapter + INSERT/message',
}

export type TargetOptions = {
  kind: TargetKind
  /** how many server processes (our server: > 1 needs Redis) */
  nodes?: number
  /** our server: `memory` (embedded, throw-away) or `postgres` (a fresh database on the local Postgres) */
  db?: 'memory' | 'postgres'
  /** our server: join nodes through Redis even with one node */
  redis?: boolean
  /** our server: join nodes through this Redis Cluster (host:port,…; sharded pub/sub) instead of REDIS_URL */
  redisClusterNodes?: string
  maxMembers: number
  logDir: string
  /** a name for logs and databases */
  tag?: string
  /** extra environment for every node */
  env?: Record<string, string>
  /**
   * Bun targets: preload bench/lib/mem-hook.ts, which on SIGUSR2 runs a full GC and writes the
   * process's memory figures (RSS, JS heap) under this directory (see `memSnapshot`)
   */
  memDir?: string
}

/** Every target kind, for `--targets`. */
export const TARGET_KINDS = Object.keys(LABELS) as TargetKind[]

/** Our server's kinds, and the WS_TRANSPORT each forces (`ours`: the config's default). */
const OURS: Partial<Record<TargetKind, { transport?: 'bun' | 'elysia' }>> = {
  ours: {}, 'ours-bun': { transport: 'bun' }, 'ours-elysia': { transport: 'elysia' },
}

/** True for a kind that runs src/index.ts. */
export const isOurs = (kind: TargetKind): boolean => kind in OURS

/** The server's default WebSocket transport (what `ours` runs). */
export const DEFAULT_TRANSPORT = ConfigSchema.properties.WS_TRANSPORT.default as 'bun' | 'elysia'

/**
 * Our server on the transport that is not the default: run beside `ours`,
 * it makes the transport gate (same figures, same invocation).
 */
export const OTHER_TRANSPORT_KIND: TargetKind = DEFAULT_TRANSPORT === 'bun' ? 'ours-elysia' : 'ours-bun'

/** The WebSocket transport a run of ours used, from its kind. */
export function transportOf(kind: string): 'bun' | 'elysia' | null {
  const o = OURS[kind as TargetKind]
  return o ? (o.transport ?? DEFAULT_TRANSPORT) : null
}

export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'

export class Target {
  readonly kind: TargetKind
  readonly label: string
  readonly protocol: Protocol
  readonly procs: Managed[] = []
  readonly ports: number[] = []
  dbName: string | null = null

  constructor(readonly opts: TargetOptions) {
    this.kind = opts.kind
    this.protocol = opts.kind === 'socketio' ? 'sio' : 'chat'
    const n = opts.nodes ?? 1
    const tagged = opts.tag !== undefined && opts.tag !== opts.kind
    this.label = LABELS[opts.kind] + (n > 1 || tagged ? ` ×${n} node${n > 1 ? 's' : ''}` : '')
  }

  get name(): string {
    return this.opts.tag ?? this.kind
  }

  /** The REST API of one node. */
  api(node = 0): Api {
    return new Api(`http://${LOOPBACK}:${this.ports[node]}`)
  }

  pids(): number[] {
    return this.procs.map((p) => p.pid)
  }

  async start(): Promise<void> {
    const nodes = this.opts.nodes ?? 1
    const needsPg = this.kind === 'socketio' || (isOurs(this.kind) && this.opts.db === 'postgres')
    if (needsPg) this.dbName = await createDb(this.name)
    try {
      const secret = `bench-${crypto.randomUUID()}`
      for (let i = 0; i < nodes; i++) {
        const port = await freePort()
        const env: Record<string, string> = {
          PORT: String(port), HOST: LOOPBACK, MAX_ROOM_MEMBERS: String(this.opts.maxMembers), JWT_SECRET: secret,
          ...this.opts.env,
        }
        let cmd: string[]
        let cwd = ROOT
        if (isOurs(this.kind)) {
          // BENCH_SERVER_DIR=checkout: our server from another checkout (a before/after pair under the same client)
          cwd = process.env.BENCH_SERVER_DIR ?? ROOT
          // BENCH_CPU_PROF=dir: a CPU profile of each node, written when it exits
          cmd = process.env.BENCH_CPU_PROF ? ['bun', '--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`, 'src/index.ts'] : ['bun', 'src/index.ts']
          Object.assign(env, {
            DATABASE_URL: this.dbName ? pgUrlFor(this.dbName) : 'memory://',
            NODE_ID: `${this.name}-${i + 1}`, RATE_MESSAGES: '0', RATE_AUTH: '0', LOG_LEVEL: 'warn', NODE_ENV: 'development',
          })
          if (this.opts.redisClusterNodes) env.REDIS_CLUSTER_NODES = this.opts.redisClusterNodes
          else if (nodes > 1 || this.opts.redis) env.REDIS_URL = REDIS_URL
          const transport = OURS[this.kind]?.transport
          if (transport) env.WS_TRANSPORT = transport
        } else if (this.kind === 'bare') {
          cmd = ['bun', 'bench/baselines/bare-bun.ts']
        } else {
          cmd = ['node', 'bench/baselines/socketio-server.mjs']
          Object.assign(env, { DATABASE_URL: pgUrlFor(this.dbName!), REDIS_URL })
        }
        if (this.opts.memDir && cmd[0] === 'bun') {
          cmd.splice(1, 0, '--preload', join(ROOT, 'bench/lib/mem-hook.ts'))
          env.BENCH_MEM_DIR = this.opts.memDir
        }
        const proc = spawnManaged({
          name: `${this.name}-${i + 1}`, cmd, cwd, env, logFile: join(this.opts.logDir, `${this.name}-${i + 1}.log`),
        })
        this.procs.push(proc)
        this.ports.push(port)
        // one at a time: the first node applies the migrations
        await waitReady(`http://${LOOPBACK}:${port}/readyz`, proc, 90_000)
      }
    } catch (e) {
      await this.stop()
      throw e
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop(12_000)))
    if (this.dbName) {
      const name = this.dbName
      this.dbName = null
      await dropDb(name).catch((e: unknown) => console.error(`bench: could not drop ${name}: ${String(e)}`))
    }
  }

  /**
   * One socket of `token`'s user on `node`: per-room (`room` given) or the
   * user's socket for all their rooms.
   */
  socket(node: number, token: string, room: number, sender: number, perRoom: boolean, bad = false): SocketSpec {
    const port = this.ports[node % this.ports.length]
    const base = `ws://${LOOPBACK}:${port}`
    if (this.protocol === 'sio') {
      return {
        url: `${base}/socket.io/?EIO=4&transport=websocket`, room, sender, bad,
        auth: perRoom ? { token, room_id: room } : { token },
      }
    }
    const path = perRoom ? `/v1/rooms/${room}/ws` : '/v1/ws'
    return { url: `${base}${path}?token=${encodeURIComponent(token)}`, room, sender, bad }
  }
}
