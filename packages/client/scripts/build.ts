/**
 * Builds the published package into `dist/`: ESM (`dist/*.js`) and CommonJS (`dist/cjs/*.js`)
 * JavaScript, their declarations, and `app-router.d.ts` — the service's router type rolled out of
 * the server's source with the server's request context and route metadata erased, so that the
 * package's types need `@trpc/server` and nothing else of the server.
 *
 * Run by `npm run build` and before `npm pack` (prepack). Fails on any type error in the client.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const sourceDir = join(packageDir, 'src');
const distDir = join(packageDir, 'dist');
const cjsDir = join(distDir, 'cjs');
const serverRouter = resolve(packageDir, '../../src/api/router.ts');
/** The one module the generated router type may name: tRPC's own types. */
const ALLOWED_TYPE_IMPORTS = new Set(['@trpc/server']);

const compilerOptions: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2023.d.ts'],
  types: ['node'],
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  noUncheckedIndexedAccess: true,
  verbatimModuleSyntax: true,
  skipLibCheck: true,
  declaration: true,
  emitDeclarationOnly: true,
  noEmit: false,
};

const sources = readdirSync(sourceDir)
  .filter((name) => name.endsWith('.ts'))
  .map((name) => join(sourceDir, name));
const program = ts.createProgram(sources, compilerOptions);
const problems = ts.getPreEmitDiagnostics(program);
if (problems.length > 0) {
  const host = {
    getCanonicalFileName: (f: string) => f,
    getCurrentDirectory: () => packageDir,
    getNewLine: () => '\n',
  };
  process.stderr.write(ts.formatDiagnosticsWithColorAndContext(problems, host));
  process.exit(1);
}

rmSync(distDir, { recursive: true, force: true });
mkdirSync(cjsDir, { recursive: true });
// `dist/cjs/*.js` are CommonJS whatever the package's own "type" says.
writeFileSync(join(cjsDir, 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`);

for (const source of sources) {
  const name = basename(source, '.ts');
  // app-router.ts only re-exports the server's type: no JavaScript, and its declaration is
  // generated below.
  if (name === 'app-router') continue;
  const text = readFileSync(source, 'utf8');
  for (const [dir, module] of [
    [distDir, ts.ModuleKind.ESNext],
    [cjsDir, ts.ModuleKind.CommonJS],
  ] as const) {
    const { outputText } = ts.transpileModule(text, {
      fileName: source,
      compilerOptions: {
        target: ts.ScriptTarget.ES2022,
        module,
        verbatimModuleSyntax: false,
        esModuleInterop: true,
      },
    });
    writeFileSync(join(dir, `${name}.js`), outputText);
  }
  const sourceFile = program.getSourceFile(source);
  program.emit(
    sourceFile,
    (_, declaration) => writeDeclaration(`${name}.d.ts`, declaration),
    undefined,
    true,
  );
}
writeDeclaration('app-router.d.ts', standaloneRouterType());

function writeDeclaration(name: string, text: string): void {
  writeFileSync(join(distDir, name), text);
  writeFileSync(join(cjsDir, name), text);
}

/**
 * The server's `router.d.ts` as TypeScript emits it, reduced to `AppRouter`: its procedures'
 * inputs, outputs and error shape are spelled out there already; the context (`BillingContext`,
 * the server's services) and the meta (`trpc-to-openapi`'s) are the only types it names from
 * elsewhere, and a client never sees either, so they become `object`.
 */
function standaloneRouterType(): string {
  let emitted: string | undefined;
  program.emit(program.getSourceFile(serverRouter), (_, text) => (emitted = text), undefined, true);
  if (emitted === undefined) throw new Error(`no declaration emitted for ${serverRouter}`);
  const file = ts.createSourceFile('router.d.ts', emitted, ts.ScriptTarget.ES2022, true);
  const eraseServerTypes = (context: ts.TransformationContext) => {
    const visit = (node: ts.Node): ts.Node => {
      const tracked = trackedDataOf(node);
      if (tracked) {
        // A subscription's tracked message, `TrackedData<T>` of tRPC's internals (not exported
        // from `@trpc/server`): spelled out as the `{ id, data }` it is, the one internal type the
        // router's declaration names.
        const { factory } = context;
        const field = (name: string, type: ts.TypeNode) =>
          factory.createPropertySignature(undefined, name, undefined, type);
        return factory.createTypeLiteralNode([
          field('id', factory.createKeywordTypeNode(ts.SyntaxKind.StringKeyword)),
          field('data', ts.visitNode(tracked, visit) as ts.TypeNode),
        ]);
      }
      if (ts.isImportTypeNode(node) && !ALLOWED_TYPE_IMPORTS.has(importedModule(node))) {
        return context.factory.createKeywordTypeNode(ts.SyntaxKind.ObjectKeyword);
      }
      return ts.visitEachChild(node, visit, context);
    };
    return (root: ts.SourceFile) => ts.visitEachChild(root, visit, context) as ts.SourceFile;
  };
  const [erased] = ts.transform(file, [eraseServerTypes]).transformed;
  if (!erased) throw new Error('transforming router.d.ts produced nothing');
  const kept = erased.statements.flatMap((statement): ts.Statement[] => {
    if (ts.isTypeAliasDeclaration(statement) && statement.name.text === 'AppRouter') return [statement];
    if (ts.isVariableStatement(statement) && declares(statement, 'appRouter')) {
      // Not exported: only its type travels.
      const declare = ts.factory.createModifier(ts.SyntaxKind.DeclareKeyword);
      return [ts.factory.updateVariableStatement(statement, [declare], statement.declarationList)];
    }
    return [];
  });
  if (kept.length !== 2) throw new Error('router.d.ts no longer declares `appRouter` and `AppRouter`');
  const printer = ts.createPrinter({ newLine: ts.NewLineKind.LineFeed });
  const body = printer.printList(ts.ListFormat.MultiLine, ts.factory.createNodeArray(kept), erased);
  const named = [...body.matchAll(/import\("([^"]+)"\)/g)].map((match) => match[1]);
  const strangers = named.filter((module) => module === undefined || !ALLOWED_TYPE_IMPORTS.has(module));
  if (strangers.length > 0)
    throw new Error(`the router type still names ${[...new Set(strangers)].join(', ')}`);
  return `/**
 * The billing limits service's router, as its callers see it: every procedure's input, output and
 * error shape. Generated from the service's src/api/router.ts by scripts/build.ts; the server's
 * request context and route metadata are erased (\`object\`).
 */
${body}export {};
`;
}

/** `T` of `import("@trpc/server/unstable-core-do-not-import").TrackedData<T>`, else undefined. */
function trackedDataOf(node: ts.Node): ts.TypeNode | undefined {
  if (!ts.isImportTypeNode(node) || importedModule(node) !== '@trpc/server/unstable-core-do-not-import') {
    return undefined;
  }
  const name = node.qualifier && ts.isIdentifier(node.qualifier) ? node.qualifier.text : '';
  const [data, ...more] = node.typeArguments ?? [];
  return name === 'TrackedData' && data && more.length === 0 ? data : undefined;
}

function importedModule(node: ts.ImportTypeNode): string {
  const argument = node.argument;
  return ts.isLiteralTypeNode(argument) && ts.isStringLiteral(argument.literal) ? argument.literal.text : '';
}

function declares(statement: ts.VariableStatement, name: string): boolean {
  return statement.declarationList.declarations.some(
    (declaration) => ts.isIdentifier(declaration.name) && declaration.name.text === name,
  );
}
