/**
 * How deeply a request's JSON may nest. Parsing survives any depth, but what comes after does not:
 * echoing a 30,000-deep value in a 422 (`JSON.stringify`) overflows the stack, and so would any
 * recursive walk. Nothing this service accepts nests more than a few levels.
 */
export const MAX_JSON_DEPTH = 32;

/** Whether `text`, read as JSON, nests arrays and objects deeper than `maxDepth`, without parsing it. */
export function exceedsJsonDepth(text: string, maxDepth: number = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c /* \ */) i++;
      else if (char === 0x22 /* " */) inString = false;
    } else if (char === 0x22) {
      inString = true;
    } else if (char === 0x5b /* [ */ || char === 0x7b /* { */) {
      if (++depth > maxDepth) return true;
    } else if (char === 0x5d /* ] */ || char === 0x7d /* } */) {
      depth--;
    }
  }
  return false;
}
