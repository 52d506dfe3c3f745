-- Catalogue and stock that the inventory step reserves from.
CREATE TABLE products (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  price_cents integer NOT NULL CHECK (price_cents >= 0),
  stock       integer NOT NULL CHECK (stock >= 0),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The durable record of an order. It outlives the workflow history, so reads and
-- idempotency keys keep working after Temporal has purged a closed workflow.
CREATE TABLE orders (
  id              uuid PRIMARY KEY,
  customer_id     text NOT NULL,
  payment_method  text NOT NULL,
  amount_cents    integer NOT NULL CHECK (amount_cents >= 0),
  status          text NOT NULL CHECK (status IN
                    ('PENDING','RESERVED','PAID','COMPLETED','COMPENSATING','FAILED','CANCELLED')),
  failure_reason  text CHECK (failure_reason IN
                    ('OUT_OF_STOCK','PAYMENT_DECLINED','PAYMENT_UNAVAILABLE','CANCELLED_BY_CUSTOMER')),
  -- Incremented by POST /retry; every step's effect is keyed by (order, attempt).
  attempt         integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
  idempotency_key text UNIQUE,
  request_hash    text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_status_created_idx ON orders (status, created_at DESC);
CREATE INDEX orders_customer_created_idx ON orders (customer_id, created_at DESC);
CREATE INDEX orders_created_idx ON orders (created_at DESC);

-- Prices are copied at order time: a later catalogue change never alters an order.
CREATE TABLE order_items (
  order_id    uuid NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
  product_id  text NOT NULL REFERENCES products(id),
  quantity    integer NOT NULL CHECK (quantity > 0),
  price_cents integer NOT NULL CHECK (price_cents >= 0),
  PRIMARY KEY (order_id, product_id)
);

-- One row per (order, attempt) makes reserve and release idempotent. A release that
-- runs first leaves a RELEASED row behind, so a late reserve becomes a no-op.
CREATE TABLE inventory_reservations (
  order_id    uuid NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
  attempt     integer NOT NULL,
  status      text NOT NULL CHECK (status IN ('RESERVED','RELEASED')),
  reserved_at timestamptz,
  released_at timestamptz,
  PRIMARY KEY (order_id, attempt)
);

-- The simulated payment provider's ledger, keyed like an idempotency key at a real
-- provider. A refund that runs first leaves a VOIDED row, so a late charge is a no-op.
CREATE TABLE payments (
  order_id       uuid NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
  attempt        integer NOT NULL,
  status         text NOT NULL CHECK (status IN ('CHARGED','REFUNDED','VOIDED')),
  charged_cents  integer NOT NULL DEFAULT 0 CHECK (charged_cents >= 0),
  refunded_cents integer NOT NULL DEFAULT 0 CHECK (refunded_cents >= 0 AND refunded_cents <= charged_cents),
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (order_id, attempt)
);

-- At most one notification of each type per order, by construction.
CREATE TABLE notifications (
  order_id uuid NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
  type     text NOT NULL,
  sent_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (order_id, type)
);
