import { setDefaultTimeout } from 'bun:test'
import { createS3Storage } from './storage.s3'
import { storageSuite, type StorageFactory } from './storage.suite'

// per file: Bun applies a preload's default timeout to the first file only
setDefaultTimeout(60_000)

/**
 * A real S3-compatible bucket (MinIO, say): runs when TEST_S3_BUCKET is set,
 * with TEST_S3_ENDPOINT, TEST_S3_REGION, TEST_S3_ACCESS_KEY_ID and
 * TEST_S3_SECRET_ACCESS_KEY as the S3_* variables of the server.
 */
const env = process.env
const factories: StorageFactory[] = env.TEST_S3_BUCKET
  ? [{
      name: 's3',
      make: async () => createS3Storage({
        bucket: env.TEST_S3_BUCKET!, endpoint: env.TEST_S3_ENDPOINT, region: env.TEST_S3_REGION,
        accessKeyId: env.TEST_S3_ACCESS_KEY_ID, secretAccessKey: env.TEST_S3_SECRET_ACCESS_KEY,
      }),
    }]
  : []
for (const f of factories) storageSuite(f)
