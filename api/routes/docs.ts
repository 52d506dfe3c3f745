import { createHash } from 'node:crypto';
import path from 'node:path';
import { Router } from 'express';
import helmet from 'helmet';
import { openApiDocument } from '../openapi';
import { staticFiles } from './static-files';

// swagger-ui-dist's main module loads its 1.7 MB browser bundle into Node; we only need its folder.
const SWAGGER_UI_DIR = path.dirname(require.resolve('swagger-ui-dist/package.json'));

/** The only files of swagger-ui-dist the page uses; its index.html would load a demo API from the internet. */
const ASSETS = ['/swagger-ui.css', '/swagger-ui-bundle.js', '/favicon-32x32.png', '/favicon-16x16.png'];

/*
 * validatorUrl: null keeps Swagger UI from sending the document to validator.swagger.io;
 * the page then needs nothing but this server, so it works offline.
 */
const INIT_SCRIPT = `
      window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', validatorUrl: null, deepLinking: true });
    `;
const PAGE = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>Order saga service: HTTP API</title>
    <link rel="stylesheet" href="/docs/swagger-ui.css">
    <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
    <link rel="icon" type="image/png" href="/docs/favicon-16x16.png" sizes="16x16">
    <style>body { margin: 0; background: #fafafa; }</style>
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js"></script>
    <script>${INIT_SCRIPT}</script>
  </body>
</html>
`;

/**
 * The app's Content-Security-Policy (helmet's) allows scripts from this server only; the
 * page's one inline script is allowed by its hash, so no other inline script can run.
 */
const pageCsp = helmet.contentSecurityPolicy({
  directives: {
    scriptSrc: ["'self'", `'sha256-${createHash('sha256').update(INIT_SCRIPT).digest('base64')}'`],
    upgradeInsecureRequests: null,
  },
});

/**
 * GET /openapi.json (the contract, api/openapi.ts) and GET /docs (Swagger UI on it, served from node_modules).
 * `keyed`: the API runs with API_KEYS, so the document declares the bearer key where it is asked for.
 */
export function docsRoutes(options: { keyed: boolean }): Router {
  const router = Router();

  router.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument(options));
  });

  router.get('/docs', pageCsp, (_req, res) => {
    res.type('html').send(PAGE);
  });

  router.use('/docs', staticFiles(SWAGGER_UI_DIR, ASSETS, { maxAge: '1h' }));

  return router;
}
