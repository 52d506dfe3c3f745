import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_DIR } from '../../api/routes/console';
import type { Pool } from '../../lib/db/pool';
import { recordingWorkflows, testApp } from '../support/app';
import { testPool } from '../support/db';

/** How the console is served: same origin, its own files only, and a policy that runs no inline script or style. */

let pool: Pool;
const { workflows } = recordingWorkflows();
beforeAll(() => {
  pool = testPool();
});
afterAll(async () => {
  await pool.end();
});

describe('the console', () => {
  it('GET / is the page, under a policy with no inline script or style and no other origin', async () => {
    const res = await request(testApp(pool, workflows)).get('/');
    expect(res.status).toBe(200);
    expect(res.type).toBe('text/html');
    expect(res.text).toContain('<title>Order console</title>');
    const csp = res.headers['content-security-policy'] as string;
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).toMatch(/style-src 'self'(;|$)/);
    expect(csp).toMatch(/connect-src 'self'(;|$)/);
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('https:');
  });

  it('the page has no inline script, style or handler that the policy would block', () => {
    const html = readFileSync(path.join(CONSOLE_DIR, 'index.html'), 'utf8');
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(html).not.toMatch(/<style/);
    expect(html).not.toMatch(/\sstyle=/);
    expect(html).not.toMatch(/\son[a-z]+=/);
    for (const file of readdirSync(CONSOLE_DIR).filter((f) => f.endsWith('.js'))) {
      const js = readFileSync(path.join(CONSOLE_DIR, file), 'utf8');
      expect(js, file).not.toMatch(/innerHTML|setAttribute\('style'|\beval\(|new Function/);
    }
  });

  it('serves its scripts and stylesheet, and nothing else of its folder', async () => {
    const app = testApp(pool, workflows);
    for (const [file, type] of [['app.js', 'text/javascript'], ['api.js', 'text/javascript'], ['console.css', 'text/css']]) {
      const res = await request(app).get(`/console/${file}`);
      expect(res.status, file).toBe(200);
      expect(res.type, file).toBe(type);
    }
    for (const file of ['tsconfig.json', 'index.html', '../package.json', '%2e%2e/package.json']) {
      expect((await request(app).get(`/console/${file}`)).status, file).toBe(404);
    }
  });
});
