import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The direction every import between top-level folders runs: entry points
 * (scripts/, api/main.ts, worker/main.ts) -> api/ and worker/ -> activities/ ->
 * store/ (the data layer) and providers/ (the outside services) -> lib/.
 * workflows/ sits below them all: it is deterministic code that anything may
 * name, and it names nothing but itself (and types). dev/ is local-only tooling
 * that nothing the build compiles may reach.
 *
 * `may import`: the folders whose code (values) a file in `folder` may import;
 * its own folder is always allowed. Type-only imports are erased at compile
 * time and count for workflows/ only, which must stay free of everything but
 * its own files and @temporalio/workflow.
 */
const RULES: Record<string, { mayImport: readonly string[]; why: string }> = {
  workflows: { mayImport: [], why: 'deterministic workflow code: only its own files, types and @temporalio/workflow' },
  lib: { mayImport: ['workflows'], why: 'what api and worker share; it borrows nothing from them or the layers above' },
  store: { mayImport: ['lib', 'workflows'], why: 'the data layer: SQL over the pool, below the activities and the API' },
  providers: { mayImport: ['lib', 'workflows'], why: 'outside services: they know nothing of our records' },
  activities: { mayImport: ['store', 'providers', 'lib', 'workflows'], why: 'thin: the data layer or a provider, and the outcome' },
  api: { mayImport: ['store', 'lib', 'workflows'], why: 'the API reads and writes through the data layer, never through activities' },
  worker: { mayImport: ['activities', 'providers', 'lib', 'workflows'], why: 'the worker hosts the activities and workflows' },
  dev: { mayImport: ['lib', 'workflows'], why: 'local-only tooling on top of lib' },
  scripts: { mayImport: ['api', 'worker', 'store', 'lib', 'dev', 'workflows'], why: 'entry points' },
  bench: { mayImport: ['api', 'worker', 'store', 'providers', 'lib', 'dev', 'workflows'], why: 'baselines call the data layer, not activities' },
  chaos: { mayImport: ['api', 'worker', 'store', 'providers', 'lib', 'dev', 'workflows'], why: 'drives the stack from outside' },
  test: { mayImport: ['*'], why: 'tests may reach anything' },
};

/**
 * Files allowed one import more than their folder: the benchmark's Temporal
 * floor stands in for the activities, so it takes their type and their heartbeats.
 */
const EXCEPTIONS: Array<{ under: string; mayImport: string; why: string }> = [
  { under: 'bench/designs/temporal-floor/', mayImport: 'activities', why: 'the floor stands in for the activities' },
];

/** The one package workflow code may import values from; anything else only as types. */
const WORKFLOW_PACKAGES = ['@temporalio/workflow'];

const ROOT = path.resolve(__dirname, '..', '..');

interface Import {
  file: string;
  specifier: string;
  typeOnly: boolean;
}

function importsOf(file: string): Import[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: Import[] = [];
  const add = (specifier: ts.Expression | undefined, typeOnly: boolean) => {
    if (specifier && ts.isStringLiteral(specifier)) found.push({ file, specifier: specifier.text, typeOnly });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const named = clause?.namedBindings;
      const allNamedTypes = !!named && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
      add(node.moduleSpecifier, !!clause && (clause.isTypeOnly || (!clause.name && allNamedTypes)));
    } else if (ts.isExportDeclaration(node)) {
      const allTypes = !!node.exportClause && ts.isNamedExports(node.exportClause) && node.exportClause.elements.every((e) => e.isTypeOnly);
      add(node.moduleSpecifier, node.isTypeOnly || allTypes);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression, node.isTypeOnly);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node.arguments[0], false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal as ts.Expression, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function parsedConfig(name: string): ts.ParsedCommandLine {
  const configFile = path.join(ROOT, name);
  const { config } = ts.readConfigFile(configFile, ts.sys.readFile);
  return ts.parseJsonConfigFileContent(config, ts.sys, ROOT, undefined, configFile);
}

const folderOf = (absolute: string) => path.relative(ROOT, absolute).split(path.sep)[0]!;
const packageOf = (specifier: string) => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');
const isBuiltin = (specifier: string) => specifier.startsWith('node:') || builtinModules.includes(packageOf(specifier));
const shown = (imp: Import) => `${path.relative(ROOT, imp.file)} imports '${imp.specifier}'`;

/** The rule an import breaks, or null. */
function violation(imp: Import): string | null {
  const from = folderOf(imp.file);
  const rule = RULES[from];
  if (!rule) return null; // root files (vitest.config.ts)
  const relative = imp.specifier.startsWith('.');
  if (from === 'workflows') {
    if (imp.typeOnly) return null;
    if (relative) {
      const to = folderOf(path.resolve(path.dirname(imp.file), imp.specifier));
      return to === 'workflows' ? null : `workflows/ may import values only from its own files (${rule.why}), not from ${to}/`;
    }
    return WORKFLOW_PACKAGES.includes(packageOf(imp.specifier)) ? null : `workflows/ may import values only from ${WORKFLOW_PACKAGES.join(' and ')} (${rule.why})`;
  }
  if (!relative) return null;
  const to = folderOf(path.resolve(path.dirname(imp.file), imp.specifier));
  if (to === from || rule.mayImport.includes('*') || rule.mayImport.includes(to)) return null;
  const file = path.relative(ROOT, imp.file).split(path.sep).join('/');
  if (EXCEPTIONS.some((e) => file.startsWith(e.under) && e.mayImport === to)) return null;
  return `${from}/ may import ${rule.mayImport.join(', ') || 'nothing outside itself'} (${rule.why}), not ${to}/`;
}

describe('layers', () => {
  const files = parsedConfig('tsconfig.json').fileNames;
  const imports = files.flatMap(importsOf);

  it('finds the files and their imports', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(imports.some((i) => i.file.endsWith(path.join('api', 'main.ts')))).toBe(true);
  });

  it('every import between top-level folders runs in the allowed direction', () => {
    const broken = imports.flatMap((imp) => {
      const why = violation(imp);
      return why ? [`${shown(imp)}: ${why}`] : [];
    });
    expect(broken, broken.join('\n')).toEqual([]);
  });

  it('the rules catch an import that runs back up', () => {
    const at = (file: string, specifier: string, typeOnly = false) => ({ file: path.join(ROOT, file), specifier, typeOnly });
    expect(violation(at('api/orders/pricing.ts', '../../activities/inventory/activities'))).toMatch(/api\/ may import/);
    expect(violation(at('lib/temporal/codec-server.ts', '../../api/errors'))).toMatch(/lib\/ may import/);
    expect(violation(at('workflows/order-saga.ts', 'node:crypto'))).toMatch(/workflows\//);
    expect(violation(at('workflows/order-saga.ts', '../activities', true))).toBeNull();
    expect(violation(at('store/orders.ts', '../activities/heartbeats'))).toMatch(/store\/ may import/);
  });

  it('what npm run build compiles reaches neither dev/ nor a package outside dependencies', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const built = new Set(parsedConfig('tsconfig.build.json').fileNames);
    const broken = imports
      .filter((imp) => built.has(imp.file) && !imp.typeOnly)
      .flatMap((imp) => {
        if (imp.specifier.startsWith('.')) {
          const to = folderOf(path.resolve(path.dirname(imp.file), imp.specifier));
          return to === 'dev' ? [`${shown(imp)}: dev/ is local-only, outside the build`] : [];
        }
        if (isBuiltin(imp.specifier) || packageOf(imp.specifier) in pkg.dependencies) return [];
        return [`${shown(imp)}: ${packageOf(imp.specifier)} is not in dependencies, which the production image installs alone`];
      });
    expect(built.size).toBeGreaterThan(50);
    expect(broken, broken.join('\n')).toEqual([]);
  });
});
