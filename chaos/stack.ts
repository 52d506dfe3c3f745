import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { upsertProduct, type Product } from '../store/catalogue';
import { stopChild } from '../dev/child-process';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../dev/embedded-postgres';
import { createDatabaseIfMissing, migrate } from '../lib/db/migrate';
import { createPool } from '../lib/db/pool';
import { freePort } from '../dev/free-port';
import { TEMPORAL_CLI, ensureTool } from '../dev/temporal-cli';
import { startDevServer, type DevServer } from '../dev/temporal-dev-server';
import { writeWorkflowBundle } from '../worker/workflow-bundle';
import { waitForHttp } from '../dev/wait-for-http';
import { localStackEnv } from '../lib/temporal/client-config';
import { deploymentVersion, type DeploymentVersion } from '../lib/temporal/deployment';
import { loadConfig } from '../lib/config';
import { SERVICE_ENV } from './profiles';
import { Supervised } from './supervised';

export interface StackOptions {
  /** Everything of the run lives here: PostgreSQL's cluster, the Temporal database file, logs. */
  dir: string;
  products: Product[];
  say: (line: string) => void;
}

/**
 * The stack as `npm start` runs it, as separate processes on the embedded
 * defaults: the embedded PostgreSQL (a real cluster on disk, so it survives a
 * restart), the Temporal dev server on a SQLite file, one worker loading a
 * pre-built workflow bundle (a restart takes well under a second, not webpack's
 * seconds) and one API. Each fault method takes one component down and brings
 * it back on the same port and the same data.
 */
export class ChaosStack {
  private constructor(
    private readonly opts: StackOptions,
    private database: EmbeddedPostgres,
    private temporal: DevServer,
    private readonly cli: string,
    readonly databaseUrl: string,
    readonly baseUrl: string,
    readonly outageFile: string,
    readonly worker: Supervised,
    readonly api: Supervised,
    /** The workflow bundle every worker of the run loads, and the version it joins as: what the run's histories are replayed on. */
    readonly bundlePath: string,
    readonly version: DeploymentVersion,
  ) {}

  static async start(opts: StackOptions): Promise<ChaosStack> {
    const { dir, say } = opts;
    mkdirSync(path.join(dir, 'logs'), { recursive: true });
    // Run as root, PostgreSQL runs as another user, who must be able to enter the folder.
    chmodSync(dir, 0o755);
    const cli = ensureTool(TEMPORAL_CLI, say);
    const [pgPort, temporalPort, apiPort, metricsPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    say('starting PostgreSQL and the Temporal dev server, bundling the workflow code');
    const bundlePath = path.join(dir, 'workflow-bundle.js');
    const [database, temporal, code] = await Promise.all([
      startEmbeddedPostgres(ChaosStack.postgresOptions(dir, pgPort, say)),
      startDevServer(ChaosStack.temporalOptions(cli, dir, temporalPort)),
      writeWorkflowBundle(bundlePath),
    ]);
    const databaseUrl = database.databaseUrl('chaos');
    await createDatabaseIfMissing(databaseUrl);
    await migrate(databaseUrl);
    const pool = createPool(databaseUrl, 1);
    for (const product of opts.products) await upsertProduct(pool, product);
    await pool.end();

    const outageFile = path.join(dir, 'payment-provider-down');
    const env: NodeJS.ProcessEnv = {
      ...localStackEnv(process.env),
      ...SERVICE_ENV,
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: 'orders',
      WORKFLOW_BUNDLE_PATH: bundlePath,
      PORT: String(apiPort),
      WORKER_METRICS_PORT: String(metricsPort),
      // Each restarted worker is the same build, current once it polls (as under npm start).
      WORKER_SET_CURRENT: '1',
      PAYMENT_OUTAGE_FILE: outageFile,
      LOG_LEVEL: 'warn',
      LOG_PRETTY: '0',
      // One client address sends everything: a per-caller limit would only refuse the driver.
      RATE_LIMIT_PER_MINUTE: '0',
      PG_POOL_SIZE: '20',
    };
    // The version each worker derives from this env and bundle (worker/main.ts), so a
    // WORKER_BUILD_ID inherited from the caller's environment is taken into account too. One
    // the worker would refuse stops the run here, rather than with a worker that never starts.
    let version: DeploymentVersion;
    try {
      version = deploymentVersion(loadConfig(env), code);
    } catch (err) {
      await temporal.stop();
      await database.stop();
      throw err;
    }
    const logs = path.join(dir, 'logs');
    const worker = new Supervised('worker', 'worker/main.ts', env, path.join(logs, 'worker.log'), say);
    const api = new Supervised('api', 'api/main.ts', env, path.join(logs, 'api.log'), say);
    const baseUrl = `http://127.0.0.1:${apiPort}`;
    const stack = new ChaosStack(opts, database, temporal, cli, databaseUrl, baseUrl, outageFile, worker, api, bundlePath, version);
    worker.ensureRunning();
    api.ensureRunning();
    if (!(await waitForHttp(`${baseUrl}/readyz`, 60_000))) {
      await stack.stop();
      throw new Error(`The API did not become ready within 60 s; see ${path.join(logs, 'api.log')}`);
    }
    return stack;
  }

  private static postgresOptions(dir: string, port: number, say: (line: string) => void) {
    return { dataDir: path.join(dir, 'postgres'), logFile: path.join(dir, 'logs', 'postgres.log'), port, detached: true, say };
  }

  private static temporalOptions(cli: string, dir: string, port: number) {
    return { cli, port, uiPort: null, dbFile: path.join(dir, 'temporal.db'), logFile: path.join(dir, 'logs', 'temporal.log') };
  }

  get temporalAddress(): string {
    return this.temporal.address;
  }

  // Each fault method calls `down` once the component is down, then brings it back.
  async killWorker(downMs: number, down: () => void): Promise<void> {
    await this.worker.kill();
    down();
    await sleep(downMs);
    this.worker.ensureRunning();
  }

  async killApi(downMs: number, down: () => void): Promise<void> {
    await this.api.kill();
    down();
    await sleep(downMs);
    this.api.ensureRunning();
    await waitForHttp(`${this.baseUrl}/healthz`, 60_000);
  }

  /** SIGKILL, then the same port and the same SQLite file: the workflows carry on where the file left them. */
  async restartTemporal(downMs: number, down: () => void): Promise<void> {
    await stopChild(this.temporal.child, 0, 'SIGKILL');
    down();
    await sleep(downMs);
    const port = Number(this.temporal.address.split(':').pop());
    this.temporal = await this.startAgain('the Temporal dev server', () => startDevServer(ChaosStack.temporalOptions(this.cli, this.opts.dir, port)));
  }

  /** A fast shutdown (open transactions rolled back) or an immediate one (crash recovery at the next start). */
  async restartPostgres(downMs: number, mode: 'fast' | 'immediate', down: () => void): Promise<void> {
    if (mode === 'fast') await this.database.stop();
    else await stopChild(this.database.child, 30_000, 'SIGQUIT');
    down();
    await sleep(downMs);
    const port = this.database.port;
    this.database = await this.startAgain('PostgreSQL', () => startEmbeddedPostgres(ChaosStack.postgresOptions(this.opts.dir, port, this.opts.say)));
  }

  /** A restart on the same port can meet the port not yet released: a few tries before the run gives up. */
  private async startAgain<T>(what: string, start: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await start();
      } catch (err) {
        if (attempt === 3) throw err;
        this.opts.say(`${what} did not start again (${(err as Error).message.split('\n')[0]}); trying once more`);
        await sleep(2_000);
      }
    }
  }

  /** The simulated provider fails every call while the file exists (PAYMENT_OUTAGE_FILE). */
  async providerOutage(durationMs: number, down: () => void): Promise<void> {
    writeFileSync(this.outageFile, `down for ${durationMs} ms\n`);
    down();
    await sleep(durationMs);
    rmSync(this.outageFile, { force: true });
  }

  /** API first (no new orders), then the worker, Temporal, and PostgreSQL last. */
  async stop(): Promise<void> {
    rmSync(this.outageFile, { force: true });
    await this.api.stop();
    await this.worker.stop();
    await this.temporal.stop();
    await this.database.stop();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
