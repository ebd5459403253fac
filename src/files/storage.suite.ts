import { describe, expect, test } from 'bun:test'
import type { FileStorage } from './storage'

/** One implementation under the shared suite; `make` gives a store (each test writes keys of its own). */
export type StorageFactory = { name: string; make: () => Promise<FileStorage> }

/** A key as the server makes them (lowercase, 16..64 of [a-z0-9-]). */
const newKey = () => crypto.randomUUID()

/** The shared suite of the FileStorage interface: one `describe` per implementation. */
export function storageSuite(impl: StorageFactory): void {
  describe(`storage: ${impl.name}`, () => {
    test('put, then get gives the same bytes', async () => {
      const store = await impl.make()
      const key = newKey()
      const bytes = new Uint8Array([0, 1, 2, 250, 255, 10, 13])
      await store.put(key, new Blob([bytes]), 'application/octet-stream')
      const got = await store.get(key)
      expect(got).not.toBeNull()
      expect(new Uint8Array(await got!.arrayBuffer())).toEqual(bytes)
      await store.delete(key)
    })

    test('a key never written is null', async () => {
      const store = await impl.make()
      expect(await store.get(newKey())).toBeNull()
    })

    test('delete removes the bytes; deleting again (or a key never written) is no error', async () => {
      const store = await impl.make()
      const key = newKey()
      await store.put(key, new Blob(['hello']), 'text/plain')
      await store.delete(key)
      expect(await store.get(key)).toBeNull()
      await store.delete(key)
      await store.delete(newKey())
    })

    test('a second put of a key replaces its bytes', async () => {
      const store = await impl.make()
      const key = newKey()
      await store.put(key, new Blob(['first']), 'text/plain')
      await store.put(key, new Blob(['second']), 'text/plain')
      expect(await (await store.get(key))!.text()).toBe('second')
      await store.delete(key)
    })
  })
}
