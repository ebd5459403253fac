/**
 * Every process the bench starts goes through here, so that each one is
 * ended on every way out: normal end, an error, SIGINT/SIGTERM, or exit.
 * Also: the open-file limit, free ports, readiness waits and /proc figures.
 */
import { dlopen, ptr } from 'bun:ffi'
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname } from 'node:path'
import type { Subprocess } from 'bun'

/** Loopback only: every address the bench listens on or connects to. */
export const LOOPBACK = '127.0.0.1'

export type Managed = {
  readonly name: string
  readonly proc: Subprocess
  readonly pid: number
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>
}

const live = new Set<Managed>()
let hooksInstalled = false

function installHooks(): void {
  if (hooksInstalled) return
  hooksInstalled = true
  // exit handlers must be synchronous: signal everything still alive
  process.on('exit', () => {
    for (const m of live) {
      try {
        m.proc.kill('SIGKILL')
      } catch {
        // already gone
      }
    }
  })
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      console.error(`\nbench: ${sig}, stopping ${live.size} process(es)`)
      void stopAll().finally(() => process.exit(130))
    })
  }
}

export type SpawnOptions = {
  name: string
  cmd: string[]
  cwd?: string
  env?: Record<string, string | undefined>
  /** stdout and stderr go to this file (appended); default: inherited stderr */
  logFile?: string
  /** IPC handler: makes the child a Bun/Node IPC peer */
  ipc?: (message: unknown) => void
}

/** Starts a process and registers it for clean-up. */
export function spawnManaged(opts: SpawnOptions): Managed {
  installHooks()
  let out: number | 'inherit' = 'inherit'
  if (opts.logFile) {
    mkdirSync(dirname(opts.logFile), { recursive: true })
    out = openSync(opts.logFile, 'a')
  }
  const env = { ...process.env, ...opts.env }
  const proc = opts.ipc
    ? Bun.spawn({
        cmd: opts.cmd,
        cwd: opts.cwd,
        env,
        stdin: 'ignore',
        stdout: out,
        stderr: out,
        serialization: 'json',
        ipc: (message) => opts.ipc?.(message),
      })
    : Bun.spawn({ cmd: opts.cmd, cwd: opts.cwd, env, stdin: 'ignore', stdout: out, stderr: out })
  if (typeof out === 'number') closeSync(out)
  const managed: Managed = {
    name: opts.name,
    proc,
    pid: proc.pid,
    async stop(graceMs = 10_000) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM')
        const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs)
        await proc.exited
        clearTimeout(timer)
      }
      live.delete(managed)
    },
  }
  live.add(managed)
  void proc.exited.then(() => live.delete(managed))
  return managed
}

/** Stops every process still registered, in reverse start order. */
export async function stopAll(graceMs = 10_000): Promise<void> {
  const all = [...live].reverse()
  await Promise.all(all.map((m) => m.stop(graceMs)))
}

export function isAlive(m: Managed): boolean {
  return m.proc.exitCode === null && m.proc.signalCode === null
}

/** A TCP port free on the loopback right now, below the ephemeral range so clients never collide with it. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    const ok = await new Promise<boolean>((resolve) => {
      const srv = createServer()
      srv.once('error', () => resolve(false))
      srv.listen(port, LOOPBACK, () => srv.close(() => resolve(true)))
    })
    if (ok) return port
  }
  throw new Error('no free port found in 50 tries')
}

/** Polls `url` until it answers 200, the process dies, or `timeoutMs` passes. */
export async function waitReady(url: string, m: Managed | null, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < deadline) {
    if (m && !isAlive(m)) throw new Error(`${m.name} exited with ${m.proc.exitCode ?? m.proc.signalCode} before ready`)
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) })
      if (res.status === 200) return
      last = `status ${res.status}`
    } catch (e) {
      last = String(e)
    }
    await Bun.sleep(100)
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms (${last})`)
}

const RLIMIT_NOFILE = 7

/** Raises this process's soft open-file limit to the hard one; children inherit it. Returns the new soft limit. */
export function raiseNoFile(): number {
  try {
    const libc = dlopen('libc.so.6', {
      getrlimit: { args: ['i32', 'ptr'], returns: 'i32' },
      setrlimit: { args: ['i32', 'ptr'], returns: 'i32' },
    })
    const lim = new BigUint64Array(2)
    if (libc.symbols.getrlimit(RLIMIT_NOFILE, ptr(lim)) !== 0) return -1
    if (lim[0] !== lim[1]) {
      lim[0] = lim[1]!
      libc.symbols.setrlimit(RLIMIT_NOFILE, ptr(lim))
      libc.symbols.getrlimit(RLIMIT_NOFILE, ptr(lim))
    }
    const soft = Number(lim[0])
    libc.close()
    return soft
  } catch {
    return -1
  }
}

let clkTck = 0
function ticksPerSecond(): number {
  if (!clkTck) {
    const r = Bun.spawnSync(['getconf', 'CLK_TCK'])
    clkTck = Number(r.stdout.toString().trim()) || 100
  }
  return clkTck
}

export type ProcSample = {
  /** user + system CPU time so far, seconds */
  cpuSec: number
  /** of which system (kernel) time, seconds */
  sysSec: number
  /** resident set now, bytes */
  rss: number
  /** peak resident set since start (VmHWM), bytes */
  peakRss: number
}

/** CPU and memory of a pid from /proc; null once it is gone. */
export function sampleProc(pid: number): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // fields after the parenthesised command name; utime and stime are fields 14 and 15
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const sys = Number(rest[12])
    const ticks = Number(rest[11]) + sys
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024
    return { cpuSec: ticks / ticksPerSecond(), sysSec: sys / ticksPerSecond(), rss: kb('VmRSS'), peakRss: kb('VmHWM') }
  } catch {
    return null
  }
}

/** Sums samples over several pids (a cluster, or the generator's workers). */
export function sampleProcs(pids: number[]): ProcSample {
  const sum: ProcSample = { cpuSec: 0, sysSec: 0, rss: 0, peakRss: 0 }
  for (const pid of pids) {
    const s = sampleProc(pid)
    if (!s) continue
    sum.cpuSec += s.cpuSec
    sum.sysSec += s.sysSec
    sum.rss += s.rss
    sum.peakRss += s.peakRss
  }
  return sum
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes of this machine. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now()
}
