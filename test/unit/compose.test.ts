import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { msToNumber } from '@temporalio/common/lib/time';
import Ajv from 'ajv';
import { describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, loadConfig } from '../../lib/config';
import type { Pool } from '../../lib/db/pool';
import { PROJECT_ROOT } from '../../lib/paths';
import { ORDER_METRICS } from '../../worker/order-metric-names';
import { orderWorkerOptions } from '../../worker/options';
import { ORDER_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';

/**
 * No Docker engine runs where the tests run, so docker-compose.yml is checked as far
 * as that allows: against the Compose Specification's JSON schema (the copy the
 * dclint package ships), and against this repository: every variable it gives the
 * service is one the code reads, every command and mounted file exists, the
 * namespace script registers the search attributes the code declares (run for real
 * against the suite's Temporal dev server), the shutdown grace fits.
 */
const read = (file: string) => readFileSync(path.join(PROJECT_ROOT, file), 'utf8');
const example = Object.fromEntries(
  read('.env.example')
    .split('\n')
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
);

/** Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR:?error} (the forms this file uses). */
function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_, name: string, op?: string, arg?: string) => {
    const value = env[name];
    if (value !== undefined && value !== '') return value;
    if (op === '-') return arg ?? '';
    throw new Error(`${name} is required by docker-compose.yml (${arg}) and missing from .env.example`);
  });
}

type Service = {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  stop_grace_period?: string;
  restart?: string;
  profiles?: string[];
};
const composeText = read('docker-compose.yml');
const compose = parse(interpolate(composeText, example), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;

describe('docker-compose.yml', () => {
  it('is valid against the Compose Specification schema', () => {
    const require = createRequire(__filename);
    const schemaFile = path.join(path.dirname(require.resolve('dclint/package.json')), 'schemas', 'compose.schema.json');
    const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as Record<string, unknown>;
    // The schema names its draft by an https URL Ajv does not know; it is draft-07.
    delete schema.$schema;
    const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
    const valid = validate(compose);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
    expect(valid).toBe(true);
  });

  it('needs only the secrets .env.example lists, and commits none', () => {
    const required = [...composeText.matchAll(/\$\{(\w+):\?/g)].map((m) => m[1]!);
    expect(new Set(required)).toEqual(new Set(Object.keys(example)));
    expect(read('.gitignore').split('\n')).toContain('.env');
    expect(read('.dockerignore').split('\n')).toContain('.env');
    // Only the interpolated values carry passwords: no literal one in the file.
    expect(composeText).not.toMatch(/^\s*\w*PASSWORD\w*:\s*(?!\$\{)\S/m);
    expect(composeText).not.toMatch(/postgres:\/\/[^$]*:[^$@]+@/);
  });

  it('pins every image to a version', () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.build) continue; // this service's own image, built from the Dockerfile
      expect(service.image, name).toMatch(/:[^:]*\d[^:]*$/);
      expect(service.image, name).not.toMatch(/:latest$/);
    }
    expect(composeText).not.toContain('auto-setup');
  });

  it('gives the API, the worker and the migration only variables the code reads', () => {
    const temporalConnection = ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_API_KEY', 'TEMPORAL_PROFILE'];
    const known = new Set([...CONFIG_VARIABLES, ...temporalConnection, 'NODE_ENV']);
    for (const name of ['api', 'worker', 'migrate']) {
      for (const variable of Object.keys(services[name]!.environment ?? {})) expect(known, `${name}: ${variable}`).toContain(variable);
    }
    // And their values pass the same validation as at start-up.
    for (const name of ['api', 'worker']) {
      const config = loadConfig(services[name]!.environment);
      expect(config.DATABASE_URL).toMatch(/^postgres:\/\/orders_app:/);
      expect(config.TEMPORAL_ADDRESS).toBe('temporal:7233');
    }
    expect(loadConfig(services.worker!.environment).WORKER_METRICS_PORT).toBe(9464);
    expect(loadConfig(services.api!.environment).API_KEYS).toEqual(['shop=change-me', 'ops:admin=change-me-too']);
    expect(services.migrate!.environment!.DATABASE_URL).toMatch(/^postgres:\/\/orders_owner:/);
  });

  it('runs commands and mounts files that exist', () => {
    const build = JSON.parse(read('tsconfig.build.json')) as { include: string[] };
    for (const [name, service] of Object.entries(services)) {
      const command = service.command ?? [];
      if (command[0] === 'node') {
        // dist/<dir>/<file>.js is compiled from <dir>/<file>.ts by `npm run build` (the Dockerfile runs it).
        const source = command[1]!.replace(/^dist\//, '').replace(/\.js$/, '.ts');
        expect(existsSync(path.join(PROJECT_ROOT, source)), `${name}: ${source}`).toBe(true);
        expect(build.include, name).toContain(source.split('/')[0]);
      }
      for (const volume of service.volumes ?? []) {
        if (!volume.startsWith('./')) continue;
        const source = volume.split(':')[0]!;
        expect(existsSync(path.join(PROJECT_ROOT, source)), `${name}: ${source}`).toBe(true);
      }
      // A script the service runs is one it mounts.
      const script = (service.entrypoint ?? []).find((arg) => arg.startsWith('/order-saga/'));
      if (script) expect(service.volumes!.some((v) => v.endsWith(`:${script}:ro`)), `${name}: ${script}`).toBe(true);
    }
    expect(read('Dockerfile')).toContain('RUN npm run build');
  });

  it('starts the API and the worker after the schema, the namespace and the search attributes exist', () => {
    for (const name of ['api', 'worker']) {
      expect(services[name]!.depends_on).toEqual({
        migrate: { condition: 'service_completed_successfully' },
        'temporal-setup': { condition: 'service_completed_successfully' },
      });
    }
    expect(services.temporal!.depends_on).toEqual({ 'temporal-schema': { condition: 'service_completed_successfully' } });
    expect(services['temporal-setup']!.depends_on).toEqual({ 'temporal-admin-tools': { condition: 'service_healthy' } });
    expect(services['temporal-admin-tools']!.healthcheck!.test.join(' ')).toContain('temporal operator cluster health');
    for (const [name, service] of Object.entries(services)) {
      if (service.restart === 'unless-stopped') expect(service.healthcheck, name).toBeDefined();
    }
  });

  it('lets the worker finish its activities before Docker kills it, and scale without port clashes', () => {
    const grace = msToNumber(orderWorkerOptions(loadConfig({}), {} as Pool, '', { deploymentName: 'd', buildId: 'b' }).shutdownGraceTime!);
    expect(msToNumber(services.worker!.stop_grace_period as '30s')).toBeGreaterThan(grace + 5_000);
    expect(services.worker).not.toHaveProperty('ports');
    expect(services.worker).not.toHaveProperty('container_name');
    const prometheus = parse(read('docker/prometheus/prometheus.yml')) as {
      scrape_configs: Array<{ job_name: string; dns_sd_configs?: Array<{ names: string[]; port: number }> }>;
    };
    const workers = prometheus.scrape_configs.find((c) => c.job_name === 'order-worker')!;
    expect(workers.dns_sd_configs).toEqual([expect.objectContaining({ names: ['worker'], port: 9464 })]);
  });

  it('creates the roles docker/postgres-init.sql expects, with the variables the postgres service sets', () => {
    const sql = read('docker/postgres-init.sql');
    const script = read('docker/postgres-init.sh');
    const used = new Set([...sql.matchAll(/:["'](\w+)["']/g)].map((m) => m[1]));
    const passed = new Set([...script.matchAll(/-v (\w+)=/g)].map((m) => m[1]));
    expect(passed).toEqual(used);
    const readFromEnv = [...script.matchAll(/"\$(\w+)"/g)].map((m) => m[1]!);
    for (const variable of readFromEnv) {
      if (variable !== 'POSTGRES_USER') expect(Object.keys(services.postgres!.environment!)).toContain(variable);
    }
  });
});

describe('alerts and dashboard', () => {
  it('docs/operations.md explains every alert rule, and the rules use the saga series the worker exports', () => {
    const rules = parse(read('docker/prometheus/alerts.yml')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
    const alerts = rules.groups.flatMap((g) => g.rules);
    const docs = read('docs/operations.md');
    for (const { alert } of alerts) expect(docs, alert).toContain(`| \`${alert}\` |`);
    const dashboard = JSON.parse(read('docker/grafana/dashboards/order-saga.json')) as { panels: Array<{ targets: Array<{ expr: string }> }> };
    const exprs = [...alerts.map((a) => a.expr), ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr))];
    const saga = new Set(exprs.flatMap((e) => [...e.matchAll(/\border_saga_\w+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''))));
    expect(saga).toEqual(new Set(Object.values(ORDER_METRICS)));
  });
});

describe('docker/temporal/setup-namespace.sh', () => {
  it('registers the namespace and exactly the search attributes the workflow sets', async () => {
    const declared = ORDER_SEARCH_ATTRIBUTES.map((key) => `${key.name}=${key.type === 'INT' ? 'Int' : 'Keyword'}`);
    expect(read('docker/temporal/setup-namespace.sh')).toContain(`for attribute in ${declared.join(' ')}; do`);

    const { temporalAddress, temporalCliPath } = inject('testEnv');
    const namespace = `compose-setup-${process.pid}`;
    const env = {
      ...process.env,
      PATH: `${path.dirname(temporalCliPath)}${path.delimiter}${process.env.PATH}`,
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_NAMESPACE: namespace,
    };
    const run = () => promisify(execFile)('sh', [path.join(PROJECT_ROOT, 'docker', 'temporal', 'setup-namespace.sh')], { env });
    expect((await run()).stdout).toContain(`created namespace ${namespace}`);
    // A second run (a restart of the stack) changes nothing and succeeds.
    expect((await run()).stdout).toContain(`namespace ${namespace} exists`);

    const connection = await Connection.connect({ address: temporalAddress });
    try {
      const client = new Client({ connection, namespace });
      const { customAttributes } = await client.connection.operatorService.listSearchAttributes({ namespace });
      for (const key of ORDER_SEARCH_ATTRIBUTES) expect(customAttributes, key.name).toHaveProperty(key.name);
    } finally {
      await connection.close();
    }
  });
});
