import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../lib/config';
import { connectionOptions, loadTemporalConnection, localStackEnv } from '../../lib/temporal/client-config';
import { grpcCompressionFor, nativeConnectionOptions } from '../../lib/temporal/connection';

const dir = mkdtempSync(path.join(os.tmpdir(), 'order-saga-envconfig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const configFile = path.join(dir, 'temporal.toml');
writeFileSync(
  configFile,
  [
    '[profile.default]',
    'address = "temporal.internal:7233"',
    'namespace = "orders-staging"',
    '',
    '[profile.cloud]',
    'address = "orders.a1b2c.tmprl.cloud:7233"',
    'namespace = "orders.a1b2c"',
    'api_key = "key-from-file"',
    '',
    '[profile.mtls]',
    'address = "orders.a1b2c.tmprl.cloud:7233"',
    'namespace = "orders.a1b2c"',
    '[profile.mtls.tls]',
    `client_cert_path = "${path.join(dir, 'client.pem')}"`,
    `client_key_path = "${path.join(dir, 'client.key')}"`,
    '',
  ].join('\n'),
);
writeFileSync(path.join(dir, 'client.pem'), 'CERT');
writeFileSync(path.join(dir, 'client.key'), 'KEY');

describe('Temporal connection settings (@temporalio/envconfig)', () => {
  it('defaults to the local dev server when nothing is configured', () => {
    const settings = loadTemporalConnection({});
    expect(settings).toEqual({ address: '127.0.0.1:7233', namespace: 'default', addressConfigured: false });
    expect(connectionOptions(settings)).toEqual({ address: '127.0.0.1:7233' });
  });

  it('reads the default profile of TEMPORAL_CONFIG_FILE', () => {
    const settings = loadTemporalConnection({ TEMPORAL_CONFIG_FILE: configFile });
    expect(settings).toMatchObject({ address: 'temporal.internal:7233', namespace: 'orders-staging', addressConfigured: true });
    expect(settings.tls).toBeUndefined();
  });

  it('finds temporal.toml under $HOME/.config/temporalio like the CLI', () => {
    const home = path.join(dir, 'home');
    mkdirSync(path.join(home, '.config', 'temporalio'), { recursive: true });
    writeFileSync(path.join(home, '.config', 'temporalio', 'temporal.toml'), '[profile.default]\nnamespace = "from-home"\n');
    const settings = loadTemporalConnection({ HOME: home });
    expect(settings).toMatchObject({ address: '127.0.0.1:7233', namespace: 'from-home', addressConfigured: false });
  });

  it('selects TEMPORAL_PROFILE; an API key turns TLS on', () => {
    const settings = loadTemporalConnection({ TEMPORAL_CONFIG_FILE: configFile, TEMPORAL_PROFILE: 'cloud' });
    expect(connectionOptions(settings)).toEqual({ address: 'orders.a1b2c.tmprl.cloud:7233', apiKey: 'key-from-file', tls: true });
    expect(settings.namespace).toBe('orders.a1b2c');
  });

  it('lets TEMPORAL_* variables override the profile', () => {
    const settings = loadTemporalConnection({
      TEMPORAL_CONFIG_FILE: configFile,
      TEMPORAL_PROFILE: 'cloud',
      TEMPORAL_ADDRESS: 'eu-west-1.aws.api.temporal.io:7233',
      TEMPORAL_NAMESPACE: 'orders-prod.a1b2c',
      TEMPORAL_API_KEY: 'key-from-env',
      TEMPORAL_GRPC_META_TEMPORAL_NAMESPACE: 'orders-prod.a1b2c',
    });
    expect(connectionOptions(settings)).toEqual({
      address: 'eu-west-1.aws.api.temporal.io:7233',
      apiKey: 'key-from-env',
      tls: true,
      metadata: { 'temporal-namespace': 'orders-prod.a1b2c' },
    });
    expect(settings.namespace).toBe('orders-prod.a1b2c');
  });

  it('TEMPORAL_TLS=false keeps TLS off even with an API key (a TLS-terminating proxy in front)', () => {
    const settings = loadTemporalConnection({ TEMPORAL_API_KEY: 'k', TEMPORAL_TLS: 'false' });
    expect(settings.tls).toBe(false);
  });

  it('loads the mTLS client certificate pair from the profile', () => {
    const { tls } = loadTemporalConnection({ TEMPORAL_CONFIG_FILE: configFile, TEMPORAL_PROFILE: 'mtls' });
    const bytes = (text: string) => Uint8Array.from(Buffer.from(text));
    expect(tls).toMatchObject({ clientCertPair: { crt: bytes('CERT'), key: bytes('KEY') } });
  });

  it('treats empty variables as unset, as the rest of the configuration does', () => {
    const settings = loadTemporalConnection({ TEMPORAL_CONFIG_FILE: configFile, TEMPORAL_ADDRESS: '', TEMPORAL_NAMESPACE: '' });
    expect(settings).toMatchObject({ address: 'temporal.internal:7233', namespace: 'orders-staging' });
  });

  it('loadConfig exposes the resolved address and namespace under their usual names', () => {
    const config = loadConfig({ TEMPORAL_CONFIG_FILE: configFile, TEMPORAL_PROFILE: 'cloud' });
    expect(config.TEMPORAL_ADDRESS).toBe('orders.a1b2c.tmprl.cloud:7233');
    expect(config.TEMPORAL_NAMESPACE).toBe('orders.a1b2c');
    expect(config.temporal.apiKey).toBe('key-from-file');
  });

  it('stops start-up with a readable message for a profile that does not exist or a missing certificate', () => {
    expect(() => loadConfig({ TEMPORAL_CONFIG_FILE: configFile, TEMPORAL_PROFILE: 'nope' })).toThrow(ConfigError);
    expect(() => loadConfig({ TEMPORAL_CONFIG_FILE: configFile, TEMPORAL_PROFILE: 'nope' })).toThrow(/Profile 'nope' not found/);
    expect(() => loadConfig({ TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, 'absent.pem'), TEMPORAL_TLS_CLIENT_KEY_PATH: path.join(dir, 'client.key') })).toThrow(
      /Temporal client configuration.*absent\.pem/,
    );
  });
});

describe('the environment of a stack the benchmark or the chaos run starts', () => {
  it("drops a shell's Temporal Cloud and payload-key settings and keeps the rest", () => {
    const env = localStackEnv({
      TEMPORAL_API_KEY: 'k',
      TEMPORAL_PROFILE: 'prod',
      TEMPORAL_CONFIG_FILE: '/x.toml',
      TEMPORAL_TLS_CLIENT_CERT_PATH: '/c.pem',
      TEMPORAL_GRPC_META_X: 'y',
      PAYLOAD_ENCRYPTION_KEYS: 'k1:abc',
      TEMPORAL_TASK_QUEUE: 'orders',
      PATH: '/usr/bin',
    });
    expect(env).toEqual({ TEMPORAL_TASK_QUEUE: 'orders', PATH: '/usr/bin' });
  });
});

describe("the worker connection's gRPC compression (TEMPORAL_GRPC_COMPRESSION)", () => {
  const plain = (address: string) => ({ address });

  it('auto turns gzip off for a plain connection to a loopback address only', () => {
    for (const address of ['127.0.0.1:7233', 'localhost:7233', '[::1]:7233', '127.0.0.2:7233', 'LOCALHOST:7233']) {
      expect(grpcCompressionFor(plain(address), 'auto'), address).toBe('none');
    }
    for (const address of ['temporal:7233', 'orders.a1b2c.tmprl.cloud:7233', '10.0.0.5:7233', '127.0.0.1.example.com:7233', '0.0.0.0:7233']) {
      expect(grpcCompressionFor(plain(address), 'auto'), address).toBe('gzip');
    }
  });

  it('keeps gzip on a loopback address with TLS or an API key: a tunnel to a server elsewhere', () => {
    expect(grpcCompressionFor({ address: '127.0.0.1:7233', tls: true }, 'auto')).toBe('gzip');
    expect(grpcCompressionFor({ address: 'localhost:7233', apiKey: 'k' }, 'auto')).toBe('gzip');
    expect(grpcCompressionFor({ address: 'localhost:7233', tls: false }, 'auto')).toBe('none');
  });

  it('an explicit setting wins over the address', () => {
    expect(grpcCompressionFor(plain('127.0.0.1:7233'), 'gzip')).toBe('gzip');
    expect(grpcCompressionFor(plain('temporal:7233'), 'none')).toBe('none');
  });

  it('defaults to auto, refuses other values, and reaches NativeConnection as its grpcCompression', () => {
    const config = loadConfig({});
    expect(config.TEMPORAL_GRPC_COMPRESSION).toBe('auto');
    expect(nativeConnectionOptions(config.temporal, config.TEMPORAL_GRPC_COMPRESSION).grpcCompression).toEqual({ codec: 'none' });
    expect(nativeConnectionOptions(loadConfig({ TEMPORAL_ADDRESS: 'temporal:7233' }).temporal, 'auto').grpcCompression).toEqual({ codec: 'gzip' });
    expect(() => loadConfig({ TEMPORAL_GRPC_COMPRESSION: 'brotli' })).toThrow(/TEMPORAL_GRPC_COMPRESSION: must be auto, gzip or none/);
  });
});
