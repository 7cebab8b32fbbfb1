// Fingerprints of findings: a short stable hash of what identifies a
// problem (SHA-256, computed natively by WebCrypto), and at most 512 bytes,
// shortened as smm_reports (measures/reports/src/finding.rs) does, with
// its FNV-1a 64.
//
// FNV-1a 64 is computed on two 32-bit halves, without BigInt: multiplying
// (hi, lo) by the prime 2^40 + 0x1b3 modulo 2^64 is (hi, lo) * 0x1b3 +
// (lo << 40). Every intermediate is an integer below 2^53, exact in a double.

/** Longest fingerprint the engine accepts, in bytes. */
export const MAX_FINGERPRINT = 512;

const encoder = new TextEncoder();

/**
 * The first 64 bits of the SHA-256 of `text`'s UTF-8 bytes, as 16
 * lowercase hex digits (a promise: WebCrypto is asynchronous).
 */
export async function sha256Prefix(text) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)));
  let out = '';
  for (let i = 0; i < 8; i++) out += digest[i].toString(16).padStart(2, '0');
  return out;
}

function hex(hi, lo) {
  return (hi >>> 0).toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

/** 64-bit FNV-1a of `bytes` (a Uint8Array), as 16 lowercase hex digits. */
export function fnv1a(bytes) {
  let hi = 0xcbf29ce4 | 0;
  let lo = 0x84222325;
  for (let i = 0; i < bytes.length; i++) {
    lo = (lo ^ bytes[i]) >>> 0;
    const low = lo * 0x1b3;
    hi = (hi * 0x1b3 + (lo << 8) + ((low / 4294967296) | 0)) | 0;
    lo = low >>> 0;
  }
  return hex(hi, lo);
}

/**
 * At most {@link MAX_FINGERPRINT} bytes (UTF-8): a longer fingerprint keeps
 * its head (cut at a character boundary) and replaces the rest by `#` and
 * the rest's hash, as `smm_reports::bounded_fingerprint`.
 */
export function boundedFingerprint(fingerprint) {
  if (fingerprint.length <= MAX_FINGERPRINT / 3) return fingerprint;
  const bytes = encoder.encode(fingerprint);
  if (bytes.length <= MAX_FINGERPRINT) return fingerprint;
  let cut = MAX_FINGERPRINT - 17; // `#` and 16 hex digits
  while ((bytes[cut] & 0xc0) === 0x80) cut--;
  const head = new TextDecoder().decode(bytes.subarray(0, cut));
  return `${head}#${fnv1a(bytes.subarray(cut))}`;
}
