-- `frontdesk db purge` removes audit rows older than the audit retention (at least six
-- years, HIPAA 45 CFR 164.316(b)(2)). The append-only trigger still refuses every UPDATE
-- and TRUNCATE, and every DELETE except of a row older than 2190 days by a transaction
-- that set `frontdesk.audit_purge` to 'on' (store/purge.py). Younger rows stay immutable
-- whoever asks.
CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF current_setting('frontdesk.audit_purge', true) = 'on'
           AND OLD.at < now() - interval '2190 days' THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
