-- Why the first attempt of an order placed with an Idempotency-Key was withdrawn:
-- the 503 its request answered (code, and the cause a TEMPORAL_START_REFUSED names).
-- A twin request with the same key waits for that request's outcome, possibly in
-- another API process, and finds only that the row is gone; this row lets it give
-- the same answer. It is written by the statement that deletes the order, so a
-- twin that sees the order gone sees why. Rows matter only while a twin waits (a
-- few seconds); every withdrawal deletes those older than an hour.
CREATE TABLE start_refusals (
  order_id uuid PRIMARY KEY,
  owner text,
  idempotency_key text NOT NULL,
  code text NOT NULL,
  cause text,
  refused_at timestamptz NOT NULL DEFAULT now()
);

-- A twin whose own insert met the key, and then found no order under it.
CREATE INDEX start_refusals_key_idx ON start_refusals ((coalesce(owner, '')), idempotency_key, refused_at DESC);
