import { timingSafeEqual } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { fileTypeFromBuffer } from 'file-type'
import type { Database } from '../db/client'
import { files, type AttachmentRow } from '../db/schema'
import { AppError, notFound, notMember, unauthorized } from '../lib/errors'
import type { FileStorage } from '../files/storage'

/** Types shown inline as pictures; anything else (SVG included: it can carry script) is a `file`. */
const IMAGE_MIME = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif', 'image/bmp'])

/** A file name safe to store and to send back: no path, no control characters, bounded. */
export function sanitizeName(raw: string | undefined): string {
  const base = (raw ?? '').split(/[\\/]/).pop() ?? ''
  const clean = base.replace(/[\u0000-\u001f\u007f"<>|:*?]/g, '_').trim().slice(0, 200)
  return clean === '' || /^\.+$/.test(clean) ? 'file' : clean
}

/** `Content-Disposition` that no name can break: ASCII fallback plus RFC 5987 UTF-8. */
export function contentDisposition(kind: 'inline' | 'attachment', name: string): string {
  const ascii = name.replace(/[^A-Za-z0-9._ -]/g, '_')
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`
}

export type FilesDeps = {
  database: Database
  storage: FileStorage
  /** signing key of file URLs */
  secret: string
  /** signed URL lifetime, seconds */
  urlTtl: number
  maxUploadBytes: number
}

export function createFilesService(d: FilesDeps) {
  const key = new TextEncoder().encode(`files:${d.secret}`)
  const sign = (id: string, exp: number) => new Bun.CryptoHasher('sha256', key).update(`${id}.${exp}`).digest('hex')

  return {
    /** The URL of an attachment, signed for `urlTtl` seconds so that an <img> can load it. */
    url(a: AttachmentRow): string {
      const exp = Math.floor(Date.now() / 1000) + d.urlTtl
      return `/v1/files/${a.key}?exp=${exp}&sig=${sign(a.key, exp)}`
    },

    /** Stores an upload for a room; the caller checked membership. Returns what the message keeps. */
    async store(roomId: number, uploaderId: number, file: Blob & { name?: string }): Promise<{ attachment: AttachmentRow; image: boolean }> {
      if (file.size > d.maxUploadBytes) {
        throw new AppError('too_large', `The file is larger than ${d.maxUploadBytes} bytes.`)
      }
      if (file.size === 0) throw new AppError('validation', 'file: must not be empty.')
      const head = new Uint8Array(await file.slice(0, 4100).arrayBuffer())
      const detected = await fileTypeFromBuffer(head)
      const mime = detected?.mime ?? 'application/octet-stream'
      const id = crypto.randomUUID()
      const name = sanitizeName(file.name)
      await d.storage.put(id, file, mime)
      try {
        await d.database.db.insert(files).values({ id, roomId, uploaderId, name, size: file.size, mime, storageKey: id })
      } catch (err) {
        await d.storage.delete(id)
        throw err
      }
      return { attachment: { key: id, name, size: file.size, mime }, image: IMAGE_MIME.has(mime) }
    },

    /** Deletes the bytes of uploads whose rows are gone (best effort: an orphan is unreachable anyway). */
    async deleteBytes(storageKeys: string[]): Promise<void> {
      await Promise.all(storageKeys.map((k) => d.storage.delete(k)))
    },

    /** Removes a stored upload that no message refers to. */
    async discard(id: string): Promise<void> {
      await d.database.db.delete(files).where(eq(files.id, id))
      await d.storage.delete(id)
    },

    /**
     * The file for a download: with a bearer user (checked for membership by
     * `isMember`) or a valid signature. Throws 401/403/404 as API.md says.
     */
    async open(
      id: string,
      auth: { userId: number | null; exp?: string; sig?: string },
      isMember: (roomId: number, userId: number) => Promise<boolean>,
    ) {
      if (!/^[0-9a-f-]{36}$/.test(id)) throw notFound('File')
      const [row] = await d.database.db.select().from(files).where(eq(files.id, id))
      if (!row) throw notFound('File')
      if (auth.userId !== null) {
        if (!(await isMember(row.roomId, auth.userId))) throw notMember('You are not a member of this file’s room.')
      } else {
        const exp = Number(auth.exp)
        const good = auth.sig && Number.isSafeInteger(exp) && exp >= Date.now() / 1000 && timingSafe(auth.sig, sign(id, exp))
        if (!good) throw unauthorized('A bearer token or a valid signed URL is required.')
      }
      const blob = await d.storage.get(row.storageKey)
      if (!blob) throw notFound('File')
      return { blob, name: row.name, mime: row.mime, size: row.size, image: IMAGE_MIME.has(row.mime) }
    },
  }
}

function timingSafe(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))
}

export type FilesService = ReturnType<typeof createFilesService>
