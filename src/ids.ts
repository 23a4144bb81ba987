import { randomBytes } from 'node:crypto';

/**
 * Public object ids: `<prefix>_` + 22 base58 characters encoding 48 bits of milliseconds since the
 * epoch and 80 random bits (like a ULID). The alphabet is in ASCII order, so ids of one prefix sort
 * by creation time; within one millisecond the random part is incremented, so ids made by one
 * process are strictly increasing.
 */

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const WIDTH = 22; // ceil(128 / log2(58))
const RANDOM_BITS = 80n;

let lastMillis = 0n;
let lastRandom = 0n;

function nextValue(now: number): bigint {
  const millis = BigInt(now);
  if (millis <= lastMillis) {
    // Same (or an earlier, if the clock stepped back) millisecond: stay monotonic.
    lastRandom += 1n;
  } else {
    lastMillis = millis;
    lastRandom = BigInt('0x' + randomBytes(10).toString('hex'));
  }
  return (lastMillis << RANDOM_BITS) | (lastRandom & ((1n << RANDOM_BITS) - 1n));
}

function encode(value: bigint): string {
  let out = '';
  for (let i = 0; i < WIDTH; i++) {
    out = ALPHABET[Number(value % 58n)] + out;
    value /= 58n;
  }
  return out;
}

export type IdPrefix = 'sevt' | 'sesn' | 'agent' | 'env' | 'wrkspc' | 'apikey' | 'req' | 'work' | 'envkey' | (string & {});

export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  return `${prefix}_${encode(nextValue(now))}`;
}

/** A high-entropy secret for API keys: not time-ordered, 256 random bits. */
export function newSecret(prefix: string): string {
  let value = BigInt('0x' + randomBytes(32).toString('hex'));
  let out = '';
  while (value > 0n) {
    out = ALPHABET[Number(value % 58n)] + out;
    value /= 58n;
  }
  return `${prefix}${out}`;
}
