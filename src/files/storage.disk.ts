import { mkdir, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { AppError } from '../lib/errors'
import type { FileStorage } from './storage'

const SAFE_KEY = /^[a-z0-9-]{16,64}$/

/** errno codes that mean the disk cannot take the file now: an outage, not the client's fault. */
const DISK_UNAVAILABLE = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'ENOTDIR', 'EIO', 'EMFILE', 'ENFILE'])

/**
 * Files under `dir` (DATA_DIR/uploads), one per key; the default. A file is
 * written under a temporary name and renamed into place, so a full or
 * failing disk leaves no partial file behind; such failures are 503.
 */
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
      const part = `${p}.part`
      try {
        await mkdir(join(dir, key.slice(0, 2)), { recursive: true })
        await Bun.write(part, data)
        await rename(part, p)
      } catch (err) {
        await unlink(part).catch(() => {})
        const code = (err as { code?: string }).code
        if (code && DISK_UNAVAILABLE.has(code)) {
          throw new AppError('unavailable', 'File storage cannot take uploads right now; retry later.')
        }
        throw err
      }
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
