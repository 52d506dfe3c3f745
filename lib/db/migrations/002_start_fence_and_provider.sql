-- Whether the workflow start of the order's current attempt is confirmed.
-- STARTING: the row is committed and the start's outcome is not known yet.
-- STARTED: the API saw the start succeed, or the saga itself claimed the row.
-- The API deletes (or, for a retry, reverts) a row only while it is STARTING, and
-- the saga acts only after it has claimed the row; PostgreSQL orders the two, so
-- an answer of 503 and a run of the saga exclude each other (docs/saga.md).
-- claimed_run_id: the workflow run that claimed the attempt. Only that run may
-- claim it again (a retried claim); a second run of the same attempt (the
-- re-drive's, after the first had claimed and closed) finds it taken.
ALTER TABLE orders
  ADD COLUMN start_state text NOT NULL DEFAULT 'STARTED' CHECK (start_state IN ('STARTING', 'STARTED')),
  ADD COLUMN claimed_run_id text;
-- The re-drive looks for rows whose start stayed unconfirmed.
CREATE INDEX orders_starting_idx ON orders (created_at) WHERE start_state = 'STARTING';

-- 50 lines of 1,000 units at up to 1,000,000.00 each do not fit in 32 bits.
ALTER TABLE orders ALTER COLUMN amount_cents TYPE bigint;
ALTER TABLE payments ALTER COLUMN charged_cents TYPE bigint, ALTER COLUMN refunded_cents TYPE bigint;

-- The simulated payment provider's own ledger. It stands for a service outside
-- our database: only activities/payments/simulated-provider.ts touches it, never
-- inside one of our transactions, and no guarantee of ours reads it. It behaves
-- like a provider's payment intents: one charge per idempotency key, a cancel
-- that makes a later charge with that key fail, a refund of what was charged.
CREATE SCHEMA simulated_provider;
CREATE TABLE simulated_provider.charges (
  idempotency_key text PRIMARY KEY,
  status          text NOT NULL CHECK (status IN ('SUCCEEDED', 'DECLINED', 'CANCELED', 'REFUNDED')),
  amount_cents    bigint NOT NULL DEFAULT 0 CHECK (amount_cents >= 0),
  refunded_cents  bigint NOT NULL DEFAULT 0 CHECK (refunded_cents >= 0 AND refunded_cents <= amount_cents),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Before this migration `payments` itself played the provider's ledger: carry what
-- it holds over, so that a compensation of a charge taken before the upgrade finds
-- it at the provider and refunds it, and a late charge of a voided key stays refused.
INSERT INTO simulated_provider.charges (idempotency_key, status, amount_cents, refunded_cents, created_at, updated_at)
SELECT 'order-' || order_id || '-' || attempt,
       CASE status WHEN 'CHARGED' THEN 'SUCCEEDED' WHEN 'REFUNDED' THEN 'REFUNDED' ELSE 'CANCELED' END,
       charged_cents, refunded_cents, created_at, updated_at
FROM payments;
