-- A retry that is refused or fails to start (409 RETRY_IN_PROGRESS, 503) tells the
-- client nothing changed, so it must leave the order exactly as it was. Until now
-- its move to the next attempt and the withdrawal of that move both counted as
-- status changes: the history gained PENDING and FAILED, updated_at (the console's
-- "failed at") moved, and the failed attempt's start token and run were forgotten.

-- What the move to a retry's attempt overwrote, kept so that its withdrawal can put
-- it back (store/orders.ts: moveToNextAttempt, withdrawStart). NULL when no retry is
-- pending, and for a move made before this migration (its withdrawal then keeps the
-- earlier behaviour for those columns).
ALTER TABLE orders
  ADD COLUMN prior_updated_at timestamptz,
  ADD COLUMN prior_start_state text,
  ADD COLUMN prior_start_token uuid,
  ADD COLUMN prior_claimed_run_id text;

-- The attempt only ever goes down when a retry's attempt is withdrawn: that attempt
-- never ran, so the history it wrote (its PENDING) goes with it, and the withdrawal
-- itself is no status change. Every other change is recorded as before.
CREATE OR REPLACE FUNCTION record_order_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.attempt < OLD.attempt THEN
    DELETE FROM order_status_history WHERE order_id = NEW.id AND attempt > NEW.attempt;
    RETURN NULL;
  END IF;
  INSERT INTO order_status_history (order_id, attempt, status, reason)
  VALUES (NEW.id, NEW.attempt, NEW.status, NEW.failure_reason);
  RETURN NULL;
END;
$$;
