import { afterAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createDiskStorage } from './storage.disk'
import { storageSuite, type StorageFactory } from './storage.suite'

// per file: Bun applies a preload's default timeout to the first file only
setDefaultTimeout(60_000)

const dirs: string[] = []
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'storage-test-'))
  dirs.push(dir)
  return dir
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** Local implementations; S3 runs in storage.integration.test.ts. */
const factories: StorageFactory[] = [{ name: 'disk', make: async () => createDiskStorage(tempDir()) }]
for (const f of factories) storageSuite(f)

describe('storage: disk only', () => {
  test('a key that could leave the folder is refused before the disk is touched', async () => {
    const store = createDiskStorage(tempDir())
    for (const key of ['../../etc/passwd', 'short', 'UPPERCASE-KEY-0000000']) {
      await expect(store.put(key, new Blob(['x']), 'text/plain')).rejects.toThrow('unsafe storage key')
    }
  })
})
