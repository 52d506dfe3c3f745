-- Every status an order has been in, with when and why: GET /api/orders/:id
-- answers it as `history`, so "what happened to order 42" needs no Temporal
-- history (which is purged) and no log search.
--
-- A trigger writes it, not the code paths that move an order: there are many of
-- them (the API's insert, a retry and its withdrawal, every saga step), and a
-- trigger runs inside the very statement that changes the status, so the row
-- and its history commit or roll back together whatever the caller does. It
-- runs with the rights of whoever changed the order; the application role may
-- insert rows into every table the schema owner creates (docker/postgres-init.sql).
CREATE TABLE order_status_history (
  -- Two changes in one transaction share now(); the id keeps them in order.
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- A withdrawn order (the API answered 503) is deleted, and its history with it.
  order_id uuid NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
  attempt  integer NOT NULL,
  status   text NOT NULL,
  reason   text,
  at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_status_history_order_idx ON order_status_history (order_id, id);

CREATE FUNCTION record_order_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO order_status_history (order_id, attempt, status, reason)
  VALUES (NEW.id, NEW.attempt, NEW.status, NEW.failure_reason);
  RETURN NULL;
END;
$$;

CREATE TRIGGER orders_status_history_insert
  AFTER INSERT ON orders
  FOR EACH ROW EXECUTE FUNCTION record_order_status();

-- A retry moves FAILED to PENDING (a new attempt), and its withdrawal back: both are
-- status changes. A write that leaves status and reason as they were (the start
-- claim, a retried transition) is none.
CREATE TRIGGER orders_status_history_update
  AFTER UPDATE OF status, failure_reason, attempt ON orders
  FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.failure_reason IS DISTINCT FROM NEW.failure_reason
        OR OLD.attempt IS DISTINCT FROM NEW.attempt)
  EXECUTE FUNCTION record_order_status();

-- Orders from before this migration: what is known is where they are now, and since when.
INSERT INTO order_status_history (order_id, attempt, status, reason, at)
SELECT id, attempt, status, failure_reason, updated_at FROM orders ORDER BY created_at, id;
