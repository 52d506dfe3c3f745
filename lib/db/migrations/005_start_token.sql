-- Which request put the order's current attempt into STARTING. A withdrawal
-- matches on it, so a withdrawal retried after its first try committed and lost
-- its reply can tell "I withdrew it" (the row is gone, or back at the attempt
-- before with another token) from "a run claimed it" (still this token, STARTED),
-- and can never take back an attempt that a later request started anew.
ALTER TABLE orders ADD COLUMN start_token uuid;
