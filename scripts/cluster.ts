/**
 * Local cluster launcher: `bun run cluster [N]` starts N nodes on consecutive
 * ports (BASE_PORT, default 3001) against DATABASE_URL and REDIS_URL, each
 * with NODE_ID node-<i>. Ctrl-C / SIGTERM drains them all. The same processes
 * that compose.yaml runs in containers, started natively.
 */
const n = Number(process.argv[2] ?? process.env.NODES ?? 3)
const base = Number(process.env.BASE_PORT ?? 3001)
if (!Number.isInteger(n) || n < 1 || n > 32) {
  console.error('usage: bun run cluster [nodes 1..32]')
  process.exit(2)
}
for (const v of ['DATABASE_URL', 'REDIS_URL']) {
  if (!process.env[v]) {
    console.error(`${v}: required (several nodes share one Postgres and one Redis)`)
    process.exit(2)
  }
}
if (!process.env.JWT_SECRET) {
  console.error('JWT_SECRET: required (every node must accept the others’ tokens)')
  process.exit(2)
}

const entry = new URL('../src/index.ts', import.meta.url).pathname
const nodes = Array.from({ length: n }, (_, i) =>
  Bun.spawn(['bun', entry], {
    env: { ...process.env, PORT: String(base + i), NODE_ID: `node-${i + 1}`, HOST: process.env.HOST ?? '127.0.0.1' },
    stdout: 'inherit',
    stderr: 'inherit',
  }),
)
console.log(`cluster: ${n} nodes on ports ${base}..${base + n - 1}`)

let stopping = false
const stop = async (signal: NodeJS.Signals) => {
  if (stopping) return
  stopping = true
  for (const p of nodes) p.kill(signal)
  await Promise.all(nodes.map((p) => p.exited))
  process.exit(0)
}
process.on('SIGINT', () => void stop('SIGTERM'))
process.on('SIGTERM', () => void stop('SIGTERM'))
// one node dying takes the launcher down with a non-zero code, like a supervisor would report
const first = await Promise.race(nodes.map((p, i) => p.exited.then((code) => ({ i, code }))))
if (!stopping) {
  console.error(`cluster: node-${first.i + 1} exited with ${first.code}; stopping the others`)
  await stop('SIGTERM')
}
