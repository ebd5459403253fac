import { describe, expect, test } from 'bun:test'
import { RoomGenerations } from './session'

describe('RoomGenerations (a session\'s followed rooms)', () => {
  test('behaves as a Map of room id to generation, first room inline, the rest in a map', () => {
    const r = new RoomGenerations()
    const m = new Map<number, number>()
    // the same operations on both, in an order that moves rooms between the inline slot and the map
    const ops: [op: 'set' | 'delete', id: number, gen: number][] = [
      ['set', 7, 1], ['set', 9, 2], ['set', 7, 3], ['delete', 7, 0], ['set', 11, 4], ['set', 9, 5],
      ['delete', 9, 0], ['delete', 9, 0], ['set', 7, 6], ['delete', 11, 0], ['delete', 7, 0], ['set', 12, 7],
    ]
    for (const [op, id, gen] of ops) {
      if (op === 'set') {
        r.set(id, gen)
        m.set(id, gen)
      } else expect(r.delete(id)).toBe(m.delete(id))
      for (const probe of [7, 9, 11, 12, 13]) {
        expect(r.has(probe)).toBe(m.has(probe))
        expect(r.get(probe)).toBe(m.get(probe))
      }
      expect(r.keys().sort()).toEqual([...m.keys()].sort())
    }
  })

  test('keys() is a copy: rooms can be dropped while going through it', () => {
    const r = new RoomGenerations()
    for (const id of [1, 2, 3]) r.set(id, id)
    for (const id of r.keys()) r.delete(id)
    expect(r.keys()).toEqual([])
    expect(r.has(1)).toBe(false)
  })
})
