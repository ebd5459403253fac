/**
 * Text checks shared by the edge (TypeBox format `text`) and the services
 * (trimming, lengths in code points). Imports nothing of the app.
 */
import { validation } from './errors'

/** True when `s` holds a NUL character or a lone UTF-16 surrogate: text the database refuses. */
export function hasBadChars(s: string): boolean {
  return s.includes('\u0000') || !s.isWellFormed()
}

/** Length in Unicode code points (what a user counts), not UTF-16 units. */
export function codePoints(s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    // a high surrogate followed by a low one is one code point
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) i++
    }
    n++
  }
  return n
}

/** Why a text is refused, as a sentence naming the field; null when it is fine. */
export type TextProblem = string | null

/**
 * Checks an already trimmed (or deliberately untrimmed) text: no NUL, no lone
 * surrogate, `min..max` code points. Returns the problem or null.
 */
export function textProblem(field: string, v: string, min: number, max: number): TextProblem {
  if (hasBadChars(v)) return `${field}: contains invalid characters (NUL or a lone surrogate).`
  // UTF-16 length bounds code points from above and below (each is 1 or 2 units)
  if (v.length < min || (v.length > max && codePoints(v) > max) || (min > 0 && codePoints(v) < min)) {
    return min === max ? `${field}: must be ${min} characters.` : `${field}: must be ${min}..${max} characters.`
  }
  return null
}

/** `value` with wildcards escaped for LIKE/ILIKE (the default `\` escape). */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`)
}

/** An absolute http(s) URL without control characters. */
export function isHttpUrl(v: string): boolean {
  if (/[\u0000-\u001f\u007f]/.test(v)) return false
  try {
    const u = new URL(v)
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname.length > 0
  } catch {
    return false
  }
}

/**
 * Trims a text field and checks it (NUL, lone surrogates, `min..max` code
 * points); throws 422 `validation` naming the field.
 */
export function cleanText(field: string, value: string, min: number, max: number): string {
  const v = value.trim()
  const problem = textProblem(field, v, min, max)
  if (problem) throw validation(problem)
  return v
}

/** Deepest nesting of arrays and objects a JSON body or frame may have; no payload comes close. */
export const MAX_JSON_DEPTH = 32

/**
 * True when the JSON text nests arrays/objects deeper than `max`. Scanned
 * before parsing: validating or printing a value nested thousands deep
 * overflows the stack (it was a 500).
 */
export function jsonTooDeep(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return false
}

/** Longest quote of a client's value in an error `detail`, in code points. */
export const QUOTE_MAX = 80

/** A client's value for an error sentence: JSON, cut to QUOTE_MAX code points (never megabytes echoed back). */
export function quoteValue(value: unknown, max = QUOTE_MAX): string {
  let s: string
  try {
    s = JSON.stringify(value) ?? String(value)
  } catch {
    s = Object.prototype.toString.call(value)
  }
  if (s.length <= max) return s
  // `max` code points take at most 2·max units; a pair split by the slice falls past them
  const head = Array.from(s.slice(0, max * 2 + 2)).slice(0, max).join('')
  return head.length === s.length ? s : `${head}…`
}
