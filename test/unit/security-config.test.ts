import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bareKeyName, parseApiKeys } from '../../lib/api-keys';
import { apiExposure, ConfigError, loadConfig } from '../../lib/config';
import { PROJECT_ROOT } from '../../lib/paths';

/**
 * The security settings: the API_KEYS grammar, TRUST_PROXY, and where and how the
 * API serves (apiExposure), including the production refusal, checked on the
 * real entry point.
 */

const configError = (env: NodeJS.ProcessEnv): string => {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

describe('API_KEYS entries', () => {
  it('name=key, name:admin=key and bare keys; base64 padding keeps a key bare', () => {
    expect(parseApiKeys(['shop=k1', 'ops:admin=k2=with=equals', 'c2Vj+/cmV0==', 'plain'])).toEqual([
      { name: 'shop', key: 'k1', admin: false },
      { name: 'ops', key: 'k2=with=equals', admin: true },
      { name: bareKeyName('c2Vj+/cmV0=='), key: 'c2Vj+/cmV0==', admin: false },
      { name: bareKeyName('plain'), key: 'plain', admin: false },
    ]);
  });

  it('a bare key is named by a digest: stable, distinct per key, and not the key', () => {
    expect(bareKeyName('k-1')).toBe(bareKeyName('k-1'));
    expect(bareKeyName('k-1')).not.toBe(bareKeyName('k-2'));
    expect(bareKeyName('k-1')).toMatch(/^key-[0-9a-f]{16}$/);
  });

  it('two keys of one caller name (a rotation): both entries are that caller, a bare key\'s name included', () => {
    const bare = 'old-bare-secret';
    expect(parseApiKeys(['shop=old-secret', 'shop=new-secret', bare, `${bareKeyName(bare)}=new-bare-secret`])).toEqual([
      { name: 'shop', key: 'old-secret', admin: false },
      { name: 'shop', key: 'new-secret', admin: false },
      { name: bareKeyName(bare), key: bare, admin: false },
      { name: bareKeyName(bare), key: 'new-bare-secret', admin: false },
    ]);
    expect(parseApiKeys(['ops:admin=old-secret', 'ops:admin=new-secret']).map((e) => e.admin)).toEqual([true, true]);
  });

  it.each([
    ['an unknown scope', 'shop:owner=secret-value-1'],
    ['a name with spaces', 'my shop=secret-value-1'],
    ['an empty name', '=secret-value-1'],
    ['two scopes', 'ops:admin:admin=secret-value-1'],
    ['a repeated key', 'a=secret-value-1,b=secret-value-1'],
    ['a name that is an admin in one entry and not in another', 'a=secret-value-1,a:admin=secret-value-2'],
  ])('%s stops the start with a message that does not repeat the key', (_name, value) => {
    const message = configError({ API_KEYS: value });
    expect(message).toMatch(/API_KEYS: entry \d/);
    expect(message).not.toContain('secret-value');
  });
});

describe('TRUST_PROXY', () => {
  it.each([
    [undefined, false],
    ['0', false],
    ['false', false],
    ['1', 1],
    ['loopback', ['loopback']],
    ['10.0.0.0/8, 192.168.1.5,fd00::/8', ['10.0.0.0/8', '192.168.1.5', 'fd00::/8']],
  ])('%s is %j', (value, expected) => {
    expect(loadConfig({ TRUST_PROXY: value }).TRUST_PROXY).toEqual(expected);
  });

  it.each(['true', 'yes', '10.0.0.0/33', '300.1.1.1', 'example.com', '101'])('refuses %s', (value) => {
    expect(configError({ TRUST_PROXY: value })).toMatch(/TRUST_PROXY/);
  });
});

describe('apiExposure: where and how the API serves', () => {
  it('with API_KEYS: keys asked, every interface', () => {
    expect(apiExposure(loadConfig({ API_KEYS: 'shop=k', NODE_ENV: 'production' }))).toEqual({ open: false, host: undefined, warning: undefined });
  });

  it('without them, outside production: open, on loopback only, and said so', () => {
    const exposure = apiExposure(loadConfig({}));
    expect(exposure).toMatchObject({ open: true, host: '127.0.0.1' });
    expect(exposure.warning).toMatch(/OPEN.*127\.0\.0\.1/);
  });

  it('without them in production: refused, unless ALLOW_OPEN_API=1 (then open everywhere, and said so)', () => {
    expect(() => apiExposure(loadConfig({ NODE_ENV: 'production' }))).toThrow(/API_KEYS is not set and NODE_ENV=production/);
    const allowed = apiExposure(loadConfig({ NODE_ENV: 'production', ALLOW_OPEN_API: '1' }));
    expect(allowed).toMatchObject({ open: true, host: undefined });
    expect(allowed.warning).toMatch(/OPEN on every interface/);
    expect(() => apiExposure(loadConfig({ NODE_ENV: 'production', ALLOW_OPEN_API: '0' }))).toThrow(ConfigError);
    expect(configError({ ALLOW_OPEN_API: 'yes' })).toMatch(/ALLOW_OPEN_API/);
  });
});

describe('the API entry point (npm run api)', () => {
  /** Runs api/main.ts with only `env` (and PATH) set; it is expected to stop before it needs a database. */
  const runApi = (env: NodeJS.ProcessEnv) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['--import', 'tsx', path.join(PROJECT_ROOT, 'api', 'main.ts')],
        { env: { PATH: process.env.PATH, ...env }, timeout: 30_000 },
        (_err, _stdout, stderr) => resolve({ code: child.exitCode, stderr }),
      );
    });

  it('refuses to start in production without API_KEYS, saying what to set', async () => {
    const { code, stderr } = await runApi({ NODE_ENV: 'production' });
    expect(code).toBe(1);
    expect(stderr).toMatch(/API_KEYS is not set and NODE_ENV=production/);
    expect(stderr).toMatch(/ALLOW_OPEN_API=1/);
    expect(stderr).not.toMatch(/at .*\.ts:\d+/); // a message, not a stack
  });

  it('gets past that check with API_KEYS, or with ALLOW_OPEN_API=1 (and then stops for the missing DATABASE_URL)', async () => {
    for (const env of [{ API_KEYS: 'shop=k' }, { ALLOW_OPEN_API: '1' }]) {
      const { code, stderr } = await runApi({ NODE_ENV: 'production', ...env });
      expect(code).toBe(1);
      expect(stderr).toMatch(/DATABASE_URL is not set/);
    }
  });
});

describe("the worker's metrics endpoint", () => {
  it('listens where WORKER_METRICS_HOST says (npm start sets 127.0.0.1), on every interface by default', async () => {
    const { metricsExporter } = await import('../../worker/runtime');
    const bindAddress = (env: NodeJS.ProcessEnv) => {
      const exporter = metricsExporter(loadConfig(env));
      return exporter && 'prometheus' in exporter ? exporter.prometheus.bindAddress : undefined;
    };
    expect(bindAddress({})).toBe('0.0.0.0:9464');
    expect(bindAddress({ WORKER_METRICS_HOST: '127.0.0.1', WORKER_METRICS_PORT: '9500' })).toBe('127.0.0.1:9500');
    expect(bindAddress({ WORKER_METRICS_HOST: '::1' })).toBe('[::1]:9464');
    expect(configError({ WORKER_METRICS_HOST: 'not an address' })).toMatch(/WORKER_METRICS_HOST/);
  });
});
