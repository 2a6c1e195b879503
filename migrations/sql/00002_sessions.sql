-- +goose Up
-- One row per login. id is a UUIDv7, so a session's start is readable from
-- the id alone: the deny-list's "all of a uid's sessions up to T" needs no
-- lookup (see docs/sessions.md).
CREATE TABLE sessions (
    id                  uuid        PRIMARY KEY,
    uid                 uuid        NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_used_at        timestamptz NOT NULL DEFAULT now(),
    user_agent          text        NOT NULL DEFAULT '',
    client_ip           inet,
    -- expires_at follows the newest refresh token (REFRESH_TOKEN_TTL from its
    -- issue) and never passes absolute_expires_at (SESSION_MAX_AGE from login).
    expires_at          timestamptz NOT NULL,
    absolute_expires_at timestamptz NOT NULL,
    revoked_at          timestamptz,
    revoke_reason       text,
    CHECK (expires_at <= absolute_expires_at),
    CHECK ((revoked_at IS NULL) = (revoke_reason IS NULL))
);
CREATE INDEX sessions_uid_live ON sessions (uid, created_at) WHERE revoked_at IS NULL;
CREATE INDEX sessions_expiry ON sessions (absolute_expires_at);

-- Refresh tokens, stored only as SHA-256 of the secret. A token is used once:
-- rotation sets rotated_at and names its successor. successor_sealed is the
-- successor's plaintext encrypted under a key derived from THIS token's
-- plaintext (never from its hash), so only a caller presenting this token can
-- recover it: that is how a retry within REFRESH_REUSE_GRACE gets the same
-- successor while the database still holds no usable secret.
CREATE TABLE refresh_tokens (
    token_hash       bytea       PRIMARY KEY,
    session_id       uuid        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    rotated_at       timestamptz,
    successor_hash   bytea,
    successor_sealed bytea,
    CHECK (octet_length(token_hash) = 32),
    CHECK ((rotated_at IS NULL) = (successor_hash IS NULL)),
    CHECK (successor_sealed IS NULL OR successor_hash IS NOT NULL)
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- +goose Down
DROP TABLE refresh_tokens;
DROP TABLE sessions;
