/** One sample of Prometheus's text format: `name{label="value",…} 1.5`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the exposition text (comments skipped); throws on a line that is neither. */
export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample: ${line}`);
    const [, name = '', labelText = '', value = ''] = match;
    const labels: Record<string, string> = {};
    for (const [, key = '', raw = ''] of labelText.matchAll(LABEL)) labels[key] = raw.replace(/\\(.)/g, '$1');
    samples.push({ name, labels, value: Number(value) });
  }
  return samples;
}

/** The summed value of the samples named `name` whose labels include `labels` (0 when there are none). */
export function sampleSum(
  samples: readonly Sample[],
  name: string,
  labels: Record<string, string> = {},
): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** A metric family as the exposition text declares it: its `# HELP` text and `# TYPE`. */
export interface Family {
  help: string | undefined;
  type: string | undefined;
}

/** The families the text declares, by name (a family with no sample is still declared). */
export function parseFamilies(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  for (const match of text.matchAll(/^# (HELP|TYPE) ([a-zA-Z_:][\w:]*) (.*)$/gm)) {
    const [, kind, name = '', rest = ''] = match;
    const family = families.get(name) ?? { help: undefined, type: undefined };
    if (kind === 'HELP') family.help = rest;
    else family.type = rest;
    families.set(name, family);
  }
  return families;
}
