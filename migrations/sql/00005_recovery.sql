-- +goose Up
-- Password reset tokens, stored only as SHA-256 of the emailed secret. A new
-- request revokes the account's older unused ones; a login does not.
CREATE TABLE password_reset_tokens (
    token_hash  bytea       PRIMARY KEY,
    uid         uuid        NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    CHECK (octet_length(token_hash) = 32)
);
CREATE INDEX password_reset_tokens_uid ON password_reset_tokens (uid);

-- Email change confirmations: the new address waits here until its link is
-- opened; the unique check runs again then.
CREATE TABLE email_change_tokens (
    token_hash  bytea       PRIMARY KEY,
    uid         uuid        NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
    new_email   text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    CHECK (octet_length(token_hash) = 32)
);
CREATE INDEX email_change_tokens_uid ON email_change_tokens (uid);

-- Mail budget per recipient address and hour, shared by every replica. The
-- key is the SHA-256 of the normalised address, so the table holds no
-- address in clear, and rows older than their window are pruned.
CREATE TABLE mail_budget (
    address_hash bytea       PRIMARY KEY,
    window_start timestamptz NOT NULL,
    sent         integer     NOT NULL,
    CHECK (octet_length(address_hash) = 32)
);
CREATE INDEX mail_budget_window ON mail_budget (window_start);

-- +goose Down
DROP TABLE mail_budget;
DROP TABLE email_change_tokens;
DROP TABLE password_reset_tokens;
