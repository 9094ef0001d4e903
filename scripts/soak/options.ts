import { parseArgs } from 'node:util';

export const USAGE = `usage: npm run soak -- [--duration s] [--warmup s] [--replicas n] [--concurrency n] [--tenants n]
  [--database-url url] [--keep] [--out file] [--help]`;

export interface SoakOptions {
  help: boolean;
  durationSeconds: number;
  warmupSeconds: number;
  replicas: number;
  concurrency: number;
  tenants: number;
  databaseUrl: string;
  keep: boolean;
  out: string | undefined;
}

/** The command line, checked; a bad value throws with the usage line. */
export function soakOptions(args: string[] = process.argv.slice(2)): SoakOptions {
  const { values } = parseArgs({
    args,
    options: {
      duration: { type: 'string', default: '600' },
      warmup: { type: 'string', default: '10' },
      replicas: { type: 'string', default: '2' },
      concurrency: { type: 'string', default: '32' },
      tenants: { type: 'string', default: '50' },
      'database-url': { type: 'string' },
      keep: { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  const number = (name: keyof typeof values, min: number, integer = true) => {
    const value = Number(values[name]);
    if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
      throw new Error(`--${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}\n${USAGE}`);
    }
    return value;
  };
  return {
    help: values.help,
    durationSeconds: number('duration', 1, false),
    warmupSeconds: number('warmup', 0, false),
    replicas: number('replicas', 1),
    concurrency: number('concurrency', 1),
    tenants: number('tenants', 1),
    databaseUrl:
      values['database-url'] ??
      process.env['DATABASE_URL'] ??
      process.env['TEST_DATABASE_URL'] ??
      'postgres://postgres@127.0.0.1:5432/test',
    keep: values.keep,
    out: values.out,
  };
}
