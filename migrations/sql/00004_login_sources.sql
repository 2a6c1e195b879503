-- +goose Up
-- Failed logins per (normalised email, source). A source is a device (a
-- valid kairos_device cookie for the account: "device:<id>") or the client's
-- network prefix ("net:203.0.113.7/32"). Rows are created for unknown
-- addresses exactly as for known ones, so a lock reveals nothing.
CREATE TABLE login_sources (
    email        text        NOT NULL,
    source       text        NOT NULL,
    failures     integer     NOT NULL DEFAULT 0,
    locked_until timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (email, source)
);
CREATE INDEX login_sources_updated ON login_sources (updated_at);

-- login_throttle now holds the account-wide count: consecutive failures from
-- untrusted sources (no valid device cookie). At LOGIN_ACCOUNT_MAX_FAILURES
-- untrusted sources are refused until a password reset or a known-device
-- login deletes the row. Its locked_until is read only by binaries from
-- before this migration (during a rolling update) and is dropped later.
COMMENT ON COLUMN login_throttle.locked_until IS 'unused since 00004; kept for binaries of the previous release';

-- +goose Down
COMMENT ON COLUMN login_throttle.locked_until IS NULL;
DROP TABLE login_sources;
