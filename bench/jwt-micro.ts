/**
 * Micro-bench, not a test: access-token sign + verify per second, `jose`
 * called directly (the first src/auth/tokens.ts), `@elysiajs/jwt` signing
 * and verifying, and what the server uses now (`createAccessTokens`:
 * `@elysiajs/jwt` signs, `hs256Verifier` checks natively), in one process
 * and one run.
 * A connect checks one token, so this bounds what token work costs a
 * connection storm. Rounds alternate between the two so that load from other
 * processes on the box falls on both alike, and rates are per CPU-second of
 * this process; the ratio is the figure to read.
 *
 *   bun bench/jwt-micro.ts [--rounds 10] [--ms 300]
 *
 * Bounded: 2 measures × (`rounds` + 1) × 2 × `ms` milliseconds (default 13 s),
 * and at most MAX_OPS operations per round.
 */
import { parseArgs } from 'node:util'
import { jwtVerify, SignJWT } from 'jose'
import { jwt } from '@elysiajs/jwt'
import { createAccessTokens } from '../src/auth/tokens'

const MAX_OPS = 200_000
const { values } = parseArgs({ options: { rounds: { type: 'string', default: '10' }, ms: { type: 'string', default: '300' } } })
const rounds = Math.min(Math.max(Number(values.rounds) || 10, 1), 50)
const ms = Math.min(Math.max(Number(values.ms) || 300, 50), 5_000)

const secret = 'bench-secret-0123456789abcdef'
const ttl = 900

/** The claims and checks of the former jose-based signer, verbatim. */
function joseTokens() {
  const key = new TextEncoder().encode(secret)
  return {
    sign: (userId: number, sid: string) =>
      new SignJWT({ typ: 'access', sid })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(String(userId))
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + ttl)
        .sign(key),
    async verify(token: string) {
      const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'] })
      const id = Number(payload.sub)
      if (payload.typ !== 'access' || !Number.isSafeInteger(id) || id <= 0 || typeof payload.exp !== 'number') throw new Error('bad claims')
      return id
    },
  }
}

type Impl = { sign(userId: number, sid: string): Promise<string>; verify(token: string): Promise<number> }
/** Signing and verifying both through the plugin (its verify is jose's jwtVerify). */
function pluginTokens(): Impl {
  const signer = jwt({ secret, alg: 'HS256' }).decorator.jwt
  return {
    sign: (userId, sid) => signer.sign({ typ: 'access', sid, sub: String(userId), exp: Math.floor(Date.now() / 1000) + ttl }),
    async verify(token) {
      const payload = await signer.verify(token, { algorithms: ['HS256'] })
      if (payload === false) throw new Error('invalid')
      return Number(payload.sub)
    },
  }
}
const impls: Record<string, Impl> = { jose: joseTokens(), '@elysiajs/jwt': pluginTokens(), ours: createAccessTokens(secret, ttl) }

/**
 * Operations per second of this process's CPU time (user + system), not of wall time: on a shared
 * box the wall clock also counts the time other processes held the core.
 */
function perCpuSecond(n: number, since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since)
  return n / ((used.user + used.system) / 1e6)
}

const SID = '00000000-0000-4000-8000-000000000000'

/** Sign + verify pairs completed per second, one after another (sign is a login or refresh). */
async function pairs(impl: Impl): Promise<number> {
  const cpu0 = process.cpuUsage()
  const end = performance.now() + ms
  let n = 0
  while (n < MAX_OPS && performance.now() < end) {
    const id = (n % 10_000) + 1
    const got = await impl.verify(await impl.sign(id, SID))
    if (got !== id) throw new Error(`verify returned ${got}, not ${id}`)
    n++
  }
  return perCpuSecond(n, cpu0)
}

/** Verifies per second of one token (what a connect costs). */
async function verifies(impl: Impl): Promise<number> {
  const token = await impl.sign(42, SID)
  const cpu0 = process.cpuUsage()
  const end = performance.now() + ms
  let n = 0
  while (n < MAX_OPS && performance.now() < end) {
    if ((await impl.verify(token)) !== 42) throw new Error('verify returned the wrong user')
    n++
  }
  return perCpuSecond(n, cpu0)
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
for (const [label, fn] of [['sign+verify pairs/s', pairs], ['verify-only/s', verifies]] as const) {
  const totals: Record<string, number[]> = Object.fromEntries(Object.keys(impls).map((k) => [k, []]))
  for (const impl of Object.values(impls)) await fn(impl) // warm-up (JIT, key import)
  for (let r = 0; r < rounds; r++) {
    // alternate the order every round so neither always runs first
    const names = r % 2 === 0 ? Object.keys(impls) : Object.keys(impls).reverse()
    for (const name of names) totals[name]!.push(await fn(impls[name]!))
  }
  const jose = median(totals.jose!)
  const plugin = median(totals['@elysiajs/jwt']!)
  const ours = median(totals.ours!)
  console.log(`${label}, median of ${rounds} rounds of ${ms} ms each (per CPU-second of this process, sequential):`)
  console.log(`  jose                                ${Math.round(jose).toLocaleString('en')}`)
  console.log(`  @elysiajs/jwt                       ${Math.round(plugin).toLocaleString('en')}`)
  console.log(`  ours (plugin signs, native verify)  ${Math.round(ours).toLocaleString('en')}`)
  console.log(`  ratio plugin / jose  ${(plugin / jose).toFixed(3)}   ratio ours / plugin  ${(ours / plugin).toFixed(3)}`)
}
