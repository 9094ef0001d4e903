/**
 * Every example in openapi.json is valid. Each one comes from a zod schema's `.meta({ example })`
 * in src/contract, so it is checked there, at the source of truth, with the very parse the service
 * runs (refinements, codecs and all — more than the JSON Schema in the document can say). Then the
 * document is searched for examples, and one that no checked contract schema carries fails the
 * test: an example added anywhere else (by hand in src/http/openapi.ts, say) cannot escape.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

const contractDir = fileURLToPath(new URL('../../src/contract/', import.meta.url));
const document: unknown = JSON.parse(readFileSync(new URL('../../openapi.json', import.meta.url), 'utf8'));

/** One example a contract schema carries, with the schema it must parse under. */
interface ContractExample {
  /** Where it was found: `admin.ts TenantView`, or under it: `admin.ts TenantUpdate /properties/customer_id`. */
  source: string;
  /** The schema's `meta.id`: its name among the document's component schemas. */
  id: string | undefined;
  value: unknown;
  /**
   * The schemas it must parse under: the one that carries it, and the export it sits at the root
   * of, if any — a codec's example is on its input side, and only the codec decodes it.
   */
  schemas: z.ZodType[];
}

/** An `example` or `examples` value found in the document. */
interface DocumentExample {
  pointer: string;
  /** Set when the example is a component schema's own (`#/components/schemas/<id>/example`). */
  componentId: string | undefined;
  value: unknown;
}

/** A metadata `examples` is a list (JSON Schema) or a map of OpenAPI Example Objects (`{ value }`). */
function valuesOfExamples(examples: unknown): unknown[] {
  if (Array.isArray(examples)) return examples;
  if (examples && typeof examples === 'object') {
    return Object.values(examples).map((example) => (example as { value?: unknown }).value);
  }
  return [examples];
}

/** The examples a schema's metadata carries (none: an empty list). */
function examplesIn(schema: z.ZodType): unknown[] {
  const meta: Record<string, unknown> = z.globalRegistry.get(schema) ?? {};
  return [
    ...('example' in meta ? [meta['example']] : []),
    ...('examples' in meta ? valuesOfExamples(meta['examples']) : []),
  ];
}

/**
 * Every schema with an example, reached from every schema a contract module exports — nested
 * ones included, found by zod's own JSON Schema walk (both sides of a codec: `io` input and
 * output) rather than by reading zod's internals. A schema is named by its export when it has
 * one, else by the path to it from the first export that reaches it.
 */
async function contractExamples(): Promise<ContractExample[]> {
  const exported: { source: string; schema: z.ZodType }[] = [];
  for (const file of readdirSync(contractDir).filter((name) => name.endsWith('.ts'))) {
    const module: Record<string, unknown> = await import(pathToFileURL(join(contractDir, file)).href);
    for (const [name, value] of Object.entries(module)) {
      if (value instanceof z.ZodType) exported.push({ source: `${file} ${name}`, schema: value });
    }
  }
  const found = new Map<z.ZodType, ContractExample[]>();
  const record = (schema: z.ZodType, source: string, root: z.ZodType) => {
    const values = examplesIn(schema);
    if (values.length === 0) return;
    const known = found.get(schema);
    if (known) {
      for (const example of known) if (!example.schemas.includes(root)) example.schemas.push(root);
      return;
    }
    const id = z.globalRegistry.get(schema)?.id;
    found.set(
      schema,
      values.map((value) => ({ source, id, value, schemas: [...new Set([schema, root])] })),
    );
  };
  for (const { source, schema } of exported) record(schema, source, schema);
  for (const { source, schema: root } of exported) {
    for (const io of ['input', 'output'] as const) {
      z.toJSONSchema(root, {
        io,
        unrepresentable: 'any',
        override: ({ zodSchema, path }) => {
          const schema = zodSchema as unknown as z.ZodType;
          // At the root path the schema describes the export's own value; deeper, a part of it.
          if (path.length === 0) record(schema, source, root);
          else record(schema, `${source} /${path.join('/')}`, schema);
        },
      });
    }
  }
  return [...found.values()].flat();
}

/** JSON Schema keywords whose value maps names to schemas (a property may well be called `example`). */
const NAMED_SCHEMAS = new Set(['properties', 'patternProperties', '$defs', 'schemas']);

const escapePointer = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1');

/** Every `example` and `examples` in the document, wherever it is: schemas, parameters, media types. */
function documentExamples(node: unknown, pointer = '#', named = false): DocumentExample[] {
  if (!node || typeof node !== 'object') return [];
  const found: DocumentExample[] = [];
  for (const [key, child] of Object.entries(node)) {
    const at = `${pointer}/${escapePointer(key)}`;
    if (!named && (key === 'example' || key === 'examples')) {
      const componentId = /^#\/components\/schemas\/([^/]+)$/.exec(pointer)?.[1];
      const values = key === 'example' ? [child] : valuesOfExamples(child);
      found.push(...values.map((value) => ({ pointer: at, componentId, value })));
      continue;
    }
    found.push(...documentExamples(child, at, !named && NAMED_SCHEMAS.has(key)));
  }
  return found;
}

/** The same JSON whatever the key order, so an example is recognised by its value. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_, inner: unknown) =>
    inner && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );
}

const fromContract = await contractExamples();
const inDocument = documentExamples(document);

describe('examples in src/contract', () => {
  it('are found (the walk reaches nested schemas and codecs)', () => {
    const sources = fromContract.map((example) => example.source);
    expect(sources).toContain('admin.ts TenantView');
    expect(sources).toContain('webhooks.ts WebhookEventsCursor');
    expect(sources).toContain('limits.ts TenantId');
    expect(sources).toContain('usage.ts Reservation /properties/released_at');
  });

  it.each(fromContract.map((example) => [example.source, example] as const))(
    '%s: its example parses under its own schema',
    (_, { schemas, value }) => {
      for (const schema of schemas) expect(schema.safeParse(value).error?.issues ?? []).toEqual([]);
    },
  );
});

describe('examples in openapi.json', () => {
  it('are there to check', () => {
    expect(inDocument.length).toBeGreaterThan(10);
  });

  it('each come from a contract schema checked above (the component schema of the same name, for its own)', () => {
    const checked = new Map<string, ContractExample[]>();
    for (const example of fromContract) {
      const key = canonical(example.value);
      checked.set(key, [...(checked.get(key) ?? []), example]);
    }
    const unchecked = inDocument
      .filter(({ value, componentId }) => {
        const sources = checked.get(canonical(value)) ?? [];
        return !sources.some((source) => componentId === undefined || source.id === componentId);
      })
      .map(({ pointer, value }) => `${pointer}: ${JSON.stringify(value)}`);
    // An example listed here is in the document but in no contract schema's meta: put it there.
    expect(unchecked).toEqual([]);
  });
});
