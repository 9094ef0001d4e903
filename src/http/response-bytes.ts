/** Serialized answers of frozen outputs (a cached tenant's limits): written again without `JSON.stringify`. */
const serialized = new WeakMap<object, string>();

/** `output` as JSON; remembered when `output` is frozen, so it can't change under its bytes. */
export function jsonBodyOf(output: unknown): string {
  if (typeof output !== 'object' || output === null || !Object.isFrozen(output))
    return JSON.stringify(output);
  let body = serialized.get(output);
  if (body === undefined) {
    body = JSON.stringify(output);
    serialized.set(output, body);
  }
  return body;
}
