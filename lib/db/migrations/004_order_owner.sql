-- Orders belong to the API caller that placed them (API_KEYS entries, README.md
-- "Security"): a caller sees, cancels and retries only its own, and an
-- Idempotency-Key is a caller's own, not global.
--
-- owner NULL: no caller. Every row from before this migration (nothing told
-- callers apart then) and every order placed while the API runs open (no
-- API_KEYS). With keys configured only admin callers see those; open, everyone does.
ALTER TABLE orders ADD COLUMN owner text;

-- Two callers may use the same Idempotency-Key for two different orders. NULL
-- owners share one scope (as all keys did before), hence coalesce: a unique
-- index treats NULLs as distinct. The old global constraint goes; existing rows
-- are globally unique, so they satisfy the narrower one.
ALTER TABLE orders DROP CONSTRAINT orders_idempotency_key_key;
CREATE UNIQUE INDEX orders_owner_idempotency_key_idx
  ON orders ((coalesce(owner, '')), idempotency_key) WHERE idempotency_key IS NOT NULL;

-- GET /api/orders for one caller: its newest orders first.
CREATE INDEX orders_owner_created_idx ON orders (owner, created_at DESC) WHERE owner IS NOT NULL;
