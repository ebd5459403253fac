/**
 * What one Redis shard costs per relayed chat event, for the capacity model in
 * docs/scaling.md.
 *
 * Starts its own redis-server on a free loopback port, subscribes `nodes`
 * connections to every room channel with SSUBSCRIBE (as each chat node's bus
 * does for the rooms its sockets follow), and publishes message-sized frames
 * with SPUBLISH from one connection, pipelined and bounded in flight, for a
 * fixed time. Reads Redis's own CPU (INFO cpu) before and after, so the figure
 * is Redis CPU per publish, whatever else shares the machine.
 *
 *   bun bench/redis-shard.ts [--nodes 1,3,10] [--seconds 8] [--rooms 1000] [--bytes 350]
 *
 * Bounded: each step runs `--seconds` (at most 60) and at most 2,000,000 publishes.
 */
import Redis from 'ioredis'
import { parseArgs as parseNodeArgs } from 'node:util'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LOOPBACK, freePort, spawnManaged, stopAll } from './lib/procs.ts'

const { values } = parseNodeArgs({
  options: {
    nodes: { type: 'string', default: '1,3,10' },
    seconds: { type: 'string', default: '8' },
    rooms: { type: 'string', default: '1000' },
    bytes: { type: 'string', default: '350' },
  },
})
const nodeCounts = values.nodes.split(',').map((x) => Math.max(1, Math.min(50, Number(x) || 1)))
const seconds = Math.max(1, Math.min(60, Number(values.seconds) || 8))
const rooms = Math.max(1, Math.min(100_000, Number(values.rooms) || 1000))
const bytes = Math.max(16, Math.min(65_536, Number(values.bytes) || 350))
const MAX_PUBLISHES = 2_000_000
const IN_FLIGHT = 256

const dir = mkdtempSync(join(tmpdir(), 'bench-redis-shard-'))
const port = await freePort()
spawnManaged({ name: 'redis-shard', cmd: ['redis-server', '--port', String(port), '--bind', LOOPBACK, '--save', '', '--appendonly', 'no', '--dir', dir], logFile: join(dir, 'redis.log') })
// wait for the server to listen (bounded): ioredis gives up on a refused first connect
for (let i = 0; ; i++) {
  const up = await Bun.connect({ hostname: LOOPBACK, port, socket: { data() {} } }).then((s) => (s.end(), true), () => false)
  if (up) break
  if (i > 100) throw new Error('redis-server did not start')
  await Bun.sleep(50)
}
const admin = new Redis({ host: LOOPBACK, port, maxRetriesPerRequest: 1 })

const cpuSeconds = async (): Promise<number> => {
  const info = await admin.info('cpu')
  const pick = (k: string) => Number(new RegExp(`${k}:([0-9.]+)`).exec(info)?.[1] ?? 0)
  return pick('used_cpu_sys') + pick('used_cpu_user')
}

const channel = (room: number) => `room:${room}`
// a frame shaped like the bus's relay of a committed message
const frame = (room: number, seq: number) => {
  const head = JSON.stringify({ type: 'message', room_id: room, seq, message: { id: seq, room_id: room, seq, sender_id: 1, content: '' } })
  return head.slice(0, -3) + 'x'.repeat(Math.max(0, bytes - head.length)) + '"}}'
}

type Row = { nodes: number; publishes: number; perSec: number; deliveries: number; redisCpuUsPerPublish: number; redisCpuPct: number }
const rows: Row[] = []

for (const nodes of nodeCounts) {
  const subs = Array.from({ length: nodes }, () => new Redis({ host: LOOPBACK, port, maxRetriesPerRequest: 1 }))
  let deliveries = 0
  await Promise.all(subs.map(async (s) => {
    s.on('smessage', () => { deliveries++ })
    for (let i = 0; i < rooms; i += 500) {
      await s.ssubscribe(...Array.from({ length: Math.min(500, rooms - i) }, (_, k) => channel(i + k)))
    }
  }))
  const pub = new Redis({ host: LOOPBACK, port, maxRetriesPerRequest: 1 })
  const cpu0 = await cpuSeconds()
  const started = performance.now()
  const deadline = started + seconds * 1000
  let sent = 0
  let inFlight = 0
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (inFlight < IN_FLIGHT && performance.now() < deadline && sent < MAX_PUBLISHES) {
        const room = sent % rooms
        inFlight++
        sent++
        void pub.spublish(channel(room), frame(room, sent)).finally(() => {
          inFlight--
          if (inFlight === 0 && (performance.now() >= deadline || sent >= MAX_PUBLISHES)) resolve()
          else if (inFlight < IN_FLIGHT / 2) queueMicrotask(pump)
        })
      }
    }
    pump()
  })
  const elapsed = (performance.now() - started) / 1000
  // every delivery reaches the subscribers before we read Redis's CPU (bounded wait)
  const want = sent * nodes
  const waitUntil = performance.now() + 10_000
  while (deliveries < want && performance.now() < waitUntil) await Bun.sleep(20)
  const cpu = (await cpuSeconds()) - cpu0
  rows.push({
    nodes,
    publishes: sent,
    perSec: Math.round(sent / elapsed),
    deliveries,
    redisCpuUsPerPublish: Number(((cpu * 1e6) / sent).toFixed(2)),
    redisCpuPct: Math.round((cpu / elapsed) * 100),
  })
  await Promise.all([...subs, pub].map((c) => c.quit()))
}

await admin.quit()
await stopAll(3000)
rmSync(dir, { recursive: true, force: true })

console.log(`Redis shard cost: ${rooms} room channels, ${bytes}-byte frames, ${seconds}s per step, one publisher pipelining ${IN_FLIGHT}`)
console.log('| node subscribers | publishes | publishes/s | deliveries to nodes | Redis CPU µs per publish | Redis CPU % of a core |')
console.log('| ---: | ---: | ---: | ---: | ---: | ---: |')
for (const r of rows) {
  console.log(`| ${r.nodes} | ${r.publishes.toLocaleString('en')} | ${r.perSec.toLocaleString('en')} | ${r.deliveries.toLocaleString('en')} | ${r.redisCpuUsPerPublish} | ${r.redisCpuPct} |`)
}
