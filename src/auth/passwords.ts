/**
 * argon2id at OWASP's recommended minimum (19 MiB, 2 passes): strong enough,
 * and cheap enough that a node can seed thousands of bench users.
 */
const params = { algorithm: 'argon2id', memoryCost: 19_456, timeCost: 2 } as const

export const hashPassword = (password: string) => Bun.password.hash(password, params)

export const verifyPassword = (password: string, hash: string) => Bun.password.verify(password, hash)

/** A hash to verify against when the email is unknown, so timing does not tell. */
export const dummyHash = hashPassword('dummy-password-for-timing')
