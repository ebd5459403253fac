import type { FileStorage } from './storage'

export type S3Options = {
  bucket: string
  endpoint?: string
  region?: string
  accessKeyId?: string
  secretAccessKey?: string
}

/** Files in an S3-compatible bucket through Bun's S3 client (S3_* variables). */
export function createS3Storage(o: S3Options): FileStorage {
  const client = new Bun.S3Client({
    bucket: o.bucket, endpoint: o.endpoint, region: o.region, accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey,
  })
  return {
    kind: 's3',
    async put(key, data, mime) {
      await client.write(key, data, { type: mime })
    },
    async get(key) {
      const f = client.file(key)
      return (await f.exists()) ? f : null
    },
    async delete(key) {
      await client.delete(key).catch(() => {})
    },
  }
}
