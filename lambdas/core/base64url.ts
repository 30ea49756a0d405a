/**
 * Strict base64url for the parts of Berth's tokens. Node's decoder is lenient: it skips padding and
 * characters outside the alphabet, takes `+` and `/` as well, and ignores the unused low bits of the
 * last character, so up to sixteen texts decode to the same bytes. A token must have one spelling,
 * or anything keyed on its text (the authorizer's cache, a deny list) can be sidestepped by respelling it.
 */

/** The bytes `text` encodes if it is their one base64url spelling (no padding, zero unused bits); null otherwise. */
export function decodeBase64urlStrict(text: string): Buffer | null {
  const bytes = Buffer.from(text, 'base64url');
  // The encoder writes only alphabet characters, no padding and zero unused bits: any other spelling differs.
  return bytes.toString('base64url') === text ? bytes : null;
}
