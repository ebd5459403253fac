/**
 * Plain JSON Schema from the protocol's TypeBox schemas, for the OpenAPI and
 * AsyncAPI documents: TypeBox's symbol keys and `$id`s dropped, and every
 * subschema equal to a named one replaced by a `$ref` to it, so each object is
 * written out once in the document's components.
 */
import type { TSchema } from '@sinclair/typebox'

/** A JSON Schema as JSON: what `JSON.stringify` keeps of a TypeBox schema. */
export type JsonSchema = { [key: string]: unknown }

/** A deep copy without symbol keys or `$id` (an `$id` would rebase every `$ref` inside it). */
function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain)
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) if (k !== '$id') out[k] = plain(v)
  return out
}

export type SchemaComponents = {
  /** every named schema, with the others it contains as `$ref`s */
  schemas: Record<string, JsonSchema>
  /** any schema (TypeBox or plain JSON Schema) with the named ones inside it as `$ref`s; a named one itself is a `$ref` */
  ref(schema: TSchema | JsonSchema): JsonSchema
}

/**
 * Components for `named`, referenced as `${base}${name}` (e.g.
 * `#/components/schemas/`). Equality is structural (same JSON), so a copy
 * of a named schema is referenced too; names listed first win a tie.
 */
export function schemaComponents(named: Record<string, TSchema>, base: string): SchemaComponents {
  const byJson = new Map<string, string>()
  const plains: [string, unknown][] = Object.entries(named).map(([name, s]) => [name, plain(s)])
  for (const [name, p] of plains) {
    const key = JSON.stringify(p)
    if (!byJson.has(key)) byJson.set(key, name)
  }
  const walk = (node: unknown, self: string | null): unknown => {
    if (Array.isArray(node)) return node.map((n) => walk(n, null))
    if (node === null || typeof node !== 'object') return node
    const name = byJson.get(JSON.stringify(node))
    if (name !== undefined && name !== self) return { $ref: `${base}${name}` }
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v, null)]))
  }
  const schemas = Object.fromEntries(plains.map(([name, p]) => [name, walk(p, name) as JsonSchema]))
  return { schemas, ref: (schema) => walk(plain(schema), null) as JsonSchema }
}
