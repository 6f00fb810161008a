/** Longest comment kept on a set entry, bytes (nft element comments hold 128; ipset 255). */
export const MAX_COMMENT_BYTES = 128

/** Comments are quoted in restore scripts and nft files: no quotes, backslashes or control characters. */
export function isValidComment(text: string): boolean {
  return Buffer.byteLength(text) <= MAX_COMMENT_BYTES && !/["\\\p{Cc}]/u.test(text)
}
