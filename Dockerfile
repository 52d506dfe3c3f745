# One image for both processes: `node dist/api/main.js` or `node dist/worker/main.js`.
# Workers load the workflow bundle built here (NODE_ENV=production), so every
# worker runs exactly the workflow code that was built and tested.
# The build stage needs the dev dependencies (TypeScript, tsx, the bundler's
# native binaries); the image carries only `dependencies`: no dev dependencies,
# no optional ones (the embedded PostgreSQL binaries), and no dev/ tooling.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY api api
COPY activities activities
COPY store store
COPY providers providers
COPY lib lib
COPY scripts scripts
COPY worker worker
COPY workflows workflows
RUN npm run build

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist dist
# The browser console is served as written (no build step): its files as they are.
COPY console console
USER node
EXPOSE 3000 9464
CMD ["node", "dist/api/main.js"]
