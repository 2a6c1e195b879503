-- +goose Up
-- An operator can disable an account: its logins are answered like a wrong
-- password and its sessions are revoked at the same time.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;

-- The admin API's user list: keyset pages in signup order, and email
-- prefix search (text_pattern_ops, so LIKE 'abc%' uses the index whatever
-- the database's collation).
CREATE INDEX users_created ON users (created_at, uid);
CREATE INDEX users_email_prefix ON users (lower(email) text_pattern_ops);

-- The audit trail: who did what to which account. Append-only: the service
-- role is granted SELECT and INSERT only (docs/operating.md, "Grants"), and
-- the triggers below refuse UPDATE, DELETE and TRUNCATE for every role,
-- the owner included, except the DELETE of audit_log_prune. target_uid has
-- no foreign key: a deleted account keeps its trail until retention ends.
CREATE TABLE audit_log (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL,
    action      text        NOT NULL,
    target_uid  uuid,
    request_id  text        NOT NULL DEFAULT '',
    client_ip   inet,
    outcome     text        NOT NULL,
    detail      jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_target ON audit_log (target_uid, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_at ON audit_log (at);
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;

-- The trigger reads the call stack: only a DELETE issued by
-- audit_log_prune passes. A session setting could be forged with SET; the
-- stack cannot.
-- +goose StatementBegin
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    stack text;
BEGIN
    GET DIAGNOSTICS stack = PG_CONTEXT;
    IF TG_OP = 'DELETE' AND stack LIKE '%function audit_log_prune(interval)%' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- The retention job: deletes rows older than keep (at least a day, so a
-- caller cannot wipe the trail with a zero) and records that it did.
-- SECURITY DEFINER runs it as the owner, so the service role needs only
-- EXECUTE on it, never DELETE on the table.
-- +goose StatementBegin
CREATE FUNCTION audit_log_prune(keep interval) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    n bigint;
BEGIN
    IF keep < interval '1 day' THEN
        RAISE EXCEPTION 'audit retention % is under a day', keep USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM audit_log WHERE at < now() - keep;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        INSERT INTO audit_log (actor, action, outcome, detail)
        VALUES ('system', 'audit.pruned', 'ok', jsonb_build_object('deleted', n, 'retention', keep::text));
    END IF;
    RETURN n;
END;
$$;
-- +goose StatementEnd
REVOKE EXECUTE ON FUNCTION audit_log_prune(interval) FROM PUBLIC;

-- +goose Down
DROP FUNCTION audit_log_prune(interval);
DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only();
DROP INDEX users_email_prefix;
DROP INDEX users_created;
ALTER TABLE users DROP COLUMN disabled_at;
