/** Reads the memory figures a server preloaded with bench/lib/mem-hook.ts writes after a full GC. */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { MemSnapshot } from './mem-hook.ts'

export type { MemSnapshot }

function read(file: string): MemSnapshot | null {
  if (!existsSync(file)) return null
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as MemSnapshot
  } catch {
    return null
  }
}

/** Signals `pid` (SIGUSR2: full GC, then figures) and waits, at most `timeoutMs`, for its new snapshot. */
export async function memSnapshot(pid: number, dir: string, timeoutMs = 20_000): Promise<MemSnapshot> {
  const file = join(dir, `mem-${pid}.json`)
  const before = read(file)?.seq ?? 0
  process.kill(pid, 'SIGUSR2')
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const s = read(file)
    if (s && s.seq > before) return s
    await Bun.sleep(50)
  }
  throw new Error(`process ${pid} wrote no memory snapshot within ${timeoutMs} ms (preloaded bench/lib/mem-hook.ts?)`)
}

/** Object types whose count grew most from `a` to `b`, per `per` (sockets): [type, objects per socket]. */
export function typeGrowth(a: MemSnapshot, b: MemSnapshot, per: number, top = 15): [string, number][] {
  const out: [string, number][] = []
  for (const [type, n] of Object.entries(b.objectTypeCounts)) {
    const d = n - (a.objectTypeCounts[type] ?? 0)
    if (d > 0) out.push([type, Math.round((d / per) * 100) / 100])
  }
  return out.sort((x, y) => y[1] - x[1]).slice(0, top)
}
