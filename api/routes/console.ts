import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Router } from 'express';
import helmet from 'helmet';
import { PROJECT_ROOT } from '../../lib/paths';
import { callerOf } from '../auth';
import { staticFiles } from './static-files';

/** The browser console: plain files, served as they are (console/, no build step; docs/console.md says why). */
export const CONSOLE_DIR = path.join(PROJECT_ROOT, 'console');
const ASSETS = ['/app.js', '/api.js', '/console.css'];

/**
 * Stricter than the app's default policy: the console has no inline script or
 * style at all, so neither is allowed, and it talks to this origin only.
 */
const consoleCsp = helmet.contentSecurityPolicy({
  useDefaults: true,
  directives: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'"],
    fontSrc: ["'self'"],
    connectSrc: ["'self'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
    upgradeInsecureRequests: null,
  },
});

/** GET / (the console page), its assets under /console/, and GET /api/caller, who the console's key belongs to. */
export function consoleRoutes(): Router {
  const router = Router();
  // Read once: it is a file of the release, not something that changes while the process runs.
  const page = readFileSync(path.join(CONSOLE_DIR, 'index.html'), 'utf8');

  router.get('/', consoleCsp, (_req, res) => {
    res.set('Cache-Control', 'no-cache').type('html').send(page);
  });

  router.use('/console', staticFiles(CONSOLE_DIR, ASSETS, { maxAge: 0, headers: { 'Cache-Control': 'no-cache' } }));

  // Behind requireCaller (api/app.ts): with API_KEYS, 401 unless the key is valid.
  router.get('/api/caller', (_req, res) => {
    const caller = callerOf(res);
    res.json({ name: caller.name, admin: caller.admin });
  });

  return router;
}
