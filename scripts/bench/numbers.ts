/** What every bench script reads from its options and reports of its samples. */

/** The option `--name` as an integer ≥ `min`; otherwise an error naming it, with the script's `usage`. */
export function wholeNumber(
  values: Record<string, string | boolean | undefined>,
  name: string,
  min: number,
  usage: string,
): number {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value < min)
    throw new Error(`--${name} must be an integer ≥ ${min}\n${usage}`);
  return value;
}

/** The `fraction` percentile (nearest rank) of samples sorted ascending; 0 for none. */
export function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? 0;
}
