/**
 * Preloaded into a server the bench measures (`bun --preload bench/lib/mem-hook.ts …`, never in
 * production): on SIGUSR2 it runs a full, synchronous garbage collection, gives the allocators a
 * second to hand freed pages back (as they do on their own in an idle process), collects again,
 * and writes the process's memory figures to `$BENCH_MEM_DIR/mem-<pid>.json` (written whole,
 * then renamed). The idle
 * scenario reads them to tell RSS per socket from JS heap per socket, after a GC.
 */
import { renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { heapStats } from 'bun:jsc'

export type MemSnapshot = {
  /** how many snapshots this process has written, this one included */
  seq: number
  at: number
  rss: number
  heapUsed: number
  heapTotal: number
  external: number
  /** JSC: objects on the heap, and how many of each type */
  objectCount: number
  objectTypeCounts: Record<string, number>
}

const dir = process.env.BENCH_MEM_DIR
let seq = 0

if (dir) {
  process.on('SIGUSR2', () => {
    Bun.gc(true)
    setTimeout(write, 1000)
  })
}

function write(): void {
  if (!dir) return
  Bun.gc(true)
  const m = process.memoryUsage()
  const h = heapStats()
  const snap: MemSnapshot = {
    seq: ++seq, at: Date.now(), rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external,
    objectCount: h.objectCount, objectTypeCounts: h.objectTypeCounts,
  }
  const file = join(dir, `mem-${process.pid}.json`)
  writeFileSync(`${file}.tmp`, JSON.stringify(snap))
  renameSync(`${file}.tmp`, file)
}
