/**
 * Uploads when the disk cannot take them: an unwritable upload folder, and a
 * full disk (a tiny tmpfs, when this process may mount one; CI runs as root).
 * Each answers 503 `unavailable`, leaves no partial file and no message, and
 * uploads work again once the disk does.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expectError } from './contract'
import { groupRoom, register, startServer, type TestServer, type TestUser } from './helpers'

// per file: Bun applies a preload's default timeout to the first file only, and hooks start servers
setDefaultTimeout(60_000)

/** Every file under `dir`, recursively (a partial upload would show here). */
function filesUnder(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...filesUnder(p))
    else out.push(p)
  }
  return out
}

async function upload(s: TestServer, u: TestUser, roomId: number, bytes: number) {
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(bytes).fill(7)]), 'data.bin')
  form.append('client_msg_id', crypto.randomUUID())
  const res = await fetch(`${s.url}/v1/rooms/${roomId}/attachments`, { method: 'POST', body: form, headers: { authorization: `Bearer ${u.token}` } })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers }
}

const messagesOf = async (s: TestServer, u: TestUser, roomId: number) =>
  (await s.api('GET', `/v1/rooms/${roomId}/messages`, { token: u.token })).body.messages as unknown[]

describe('uploads on an unwritable disk', () => {
  let dir: string
  let s: TestServer
  let alice: TestUser
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chat-unwritable-'))
    // a file where the upload folder should be: every write under it fails
    writeFileSync(join(dir, 'uploads'), 'not a folder')
    s = await startServer({ DATA_DIR: dir })
    alice = await register(s.api, 'alice')
  })
  afterAll(async () => {
    await s.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test('503 unavailable, no message; uploads work again once the folder does', async () => {
    const room = await groupRoom(s.api, alice)
    expectError(await upload(s, alice, room.id, 1000), 503, 'unavailable')
    expect(await messagesOf(s, alice, room.id)).toEqual([])
    expect(statSync(join(dir, 'uploads')).isFile()).toBe(true)
    // the operator fixes the disk: the next upload succeeds, no restart
    rmSync(join(dir, 'uploads'))
    expect((await upload(s, alice, room.id, 1000)).status).toBe(201)
    expect((await messagesOf(s, alice, room.id)).length).toBe(1)
  })
})

/** True when this process may mount a tmpfs (root on Linux). */
function canMount(): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false
  const probe = mkdtempSync(join(tmpdir(), 'chat-mount-probe-'))
  try {
    const ok = Bun.spawnSync(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe]).exitCode === 0
    if (ok) Bun.spawnSync(['umount', probe])
    return ok
  } finally {
    rmSync(probe, { recursive: true, force: true })
  }
}

if (canMount()) {
  describe('uploads on a full disk (a 128 KiB tmpfs)', () => {
    let dir: string
    let uploads: string
    let s: TestServer
    let alice: TestUser
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'chat-full-'))
      uploads = join(dir, 'uploads')
      Bun.spawnSync(['mkdir', '-p', uploads])
      const m = Bun.spawnSync(['mount', '-t', 'tmpfs', '-o', 'size=128k', 'tmpfs', uploads])
      if (m.exitCode !== 0) throw new Error(`mount failed: ${m.stderr.toString()}`)
      s = await startServer({ DATA_DIR: dir })
      alice = await register(s.api, 'alice')
    })
    afterAll(async () => {
      await s.close()
      Bun.spawnSync(['umount', uploads])
      rmSync(dir, { recursive: true, force: true })
    })

    test('503 unavailable, no partial file, no message; uploads work again once there is room', async () => {
      const room = await groupRoom(s.api, alice)
      // fits
      expect((await upload(s, alice, room.id, 16 * 1024)).status).toBe(201)
      const before = filesUnder(uploads)
      expect(before.length).toBe(1)
      // does not fit: the disk fills up mid-write
      expectError(await upload(s, alice, room.id, 400 * 1024), 503, 'unavailable')
      expect(filesUnder(uploads)).toEqual(before)
      expect((await messagesOf(s, alice, room.id)).length).toBe(1)
      // the operator grows the disk: the next upload succeeds, no restart
      expect(Bun.spawnSync(['mount', '-o', 'remount,size=2m', uploads]).exitCode).toBe(0)
      expect((await upload(s, alice, room.id, 400 * 1024)).status).toBe(201)
      expect((await messagesOf(s, alice, room.id)).length).toBe(2)
      expect(filesUnder(uploads).length).toBe(2)
    })
  })
}
