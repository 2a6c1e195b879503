-- +goose Up
-- Accounts. uid is the seed's auth_token: made once at signup, never changed.
CREATE TABLE users (
    uid           uuid        PRIMARY KEY,
    username      text        NOT NULL,
    email         text        NOT NULL,
    password_hash text        NOT NULL,
    verified_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- One account per address whatever its letter case (John@ == john@).
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Verification tokens are stored only as SHA-256 of the emailed secret.
CREATE TABLE verification_tokens (
    token_hash  bytea       PRIMARY KEY,
    uid         uuid        NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX verification_tokens_uid ON verification_tokens (uid);

-- Failed-login state per normalised email, kept whether or not an account
-- exists, so that lockouts do not reveal which addresses are registered.
CREATE TABLE login_throttle (
    email        text        PRIMARY KEY,
    failures     integer     NOT NULL DEFAULT 0,
    locked_until timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Transactional outbox: written in the same transaction as the change it
-- announces, published to JetStream by the relay after commit.
CREATE TABLE outbox (
    id            uuid        PRIMARY KEY,
    subject       text        NOT NULL,
    payload       bytea       NOT NULL,
    -- W3C trace context of the request that wrote the row (traceparent,
    -- tracestate), so the relay's publish joins the request's trace.
    trace_headers jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    attempts      integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error    text,
    sent_at       timestamptz
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at, created_at) WHERE sent_at IS NULL;
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL;

-- Wake the relay as soon as a row commits (NOTIFY is delivered at commit).
-- +goose StatementBegin
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- +goose Down
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();
DROP TABLE outbox;
DROP TABLE login_throttle;
DROP TABLE verification_tokens;
DROP TABLE users;
