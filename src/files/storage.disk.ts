import { mkdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { FileStorage } from './storage'

const SAFE_KEY = /^[a-z0-9-]{16,64}$/

/** Files under `dir` (DATA_DIR/uploads), one per key; the default. */
export function createDiskStorage(dir: string): FileStorage {
  const path = (key: string) => {
    // keys are ours, but never let one reach outside the folder
    if (!SAFE_KEY.test(key)) throw new Error(`unsafe storage key ${JSON.stringify(key)}`)
    return join(dir, key.slice(0, 2), key)
  }
  return {
    kind: 'disk',
    async put(key, data) {
      const p = path(key)
      await mkdir(join(dir, key.slice(0, 2)), { recursive: true })
      await Bun.write(p, data)
    },
    async get(key) {
      const f = Bun.file(path(key))
      return (await f.exists()) ? f : null
    },
    async delete(key) {
      await unlink(path(key)).catch(() => {})
    },
  }
}
