/** Throw-away Postgres databases for one run: created before a target starts, dropped after it stops. */
import postgres from 'postgres'

/** Where the bench creates its databases: a superuser on the loopback. */
export const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

export function pgUrlFor(db: string): string {
  const u = new URL(PG_ADMIN_URL)
  u.pathname = `/${db}`
  return u.toString()
}

function admin() {
  return postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {}, connect_timeout: 5 })
}

/** True when the admin URL answers within a few seconds. */
export async function pgAvailable(): Promise<boolean> {
  const sql = admin()
  try {
    await sql`select 1`
    return true
  } catch {
    return false
  } finally {
    await sql.end({ timeout: 1 })
  }
}

/** Creates a fresh database named `bench_<tag>_<random>`; returns its name. */
export async function createDb(tag: string): Promise<string> {
  const name = `bench_${tag.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`
  const sql = admin()
  try {
    await sql.unsafe(`create database "${name}"`)
  } finally {
    await sql.end({ timeout: 1 })
  }
  return name
}

export async function dropDb(name: string): Promise<void> {
  if (!/^bench_[a-z0-9_]+$/.test(name)) throw new Error(`refusing to drop ${name}: not a bench database`)
  const sql = admin()
  try {
    await sql.unsafe(`drop database if exists "${name}" with (force)`)
  } finally {
    await sql.end({ timeout: 1 })
  }
}
