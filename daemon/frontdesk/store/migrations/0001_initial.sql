-- frontdesk call records: the initial schema.
-- Applied by frontdesk.store.migrations.upgrade() in one transaction, under an advisory
-- lock; unqualified names land in the first schema of the connection's search_path.

CREATE TABLE calls (
    linkedid          text PRIMARY KEY,            -- Asterisk's linkedid (the caller channel's uniqueid)
    dialled           text,                        -- the DID the caller dialled
    caller            text,                        -- caller E.164 (or NULL when withheld)
    patient_id        text,
    language          text,
    category          text,
    destination       jsonb,                       -- Destination.as_json() of the routing decision
    queue             text,
    agent             text,                        -- the extension that took the call
    started_at        timestamptz,
    answered_at       timestamptz,
    ended_at          timestamptz,
    wait_s            integer CHECK (wait_s IS NULL OR wait_s >= 0),
    talk_s            integer CHECK (talk_s IS NULL OR talk_s >= 0),
    after_hours       boolean NOT NULL DEFAULT false,
    holiday           boolean NOT NULL DEFAULT false,
    urgent            boolean NOT NULL DEFAULT false,
    escalated         boolean NOT NULL DEFAULT false,
    callback_offered  boolean NOT NULL DEFAULT false,
    callback_accepted boolean NOT NULL DEFAULT false,
    voicemail         boolean NOT NULL DEFAULT false,
    abandoned         boolean NOT NULL DEFAULT false,
    transferred       boolean NOT NULL DEFAULT false,
    outcome           text CHECK (outcome IN ('answered', 'abandoned', 'voicemail', 'callback',
                                              'transferred_external', 'failed')),
    disposition       text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calls_started_at_idx ON calls (started_at);
CREATE INDEX calls_queue_started_at_idx ON calls (queue, started_at);
CREATE INDEX calls_category_idx ON calls (category, started_at);

CREATE TABLE call_events (
    id          bigserial PRIMARY KEY,
    linkedid    text NOT NULL REFERENCES calls (linkedid),
    event_key   text NOT NULL UNIQUE,                -- idempotency: a replay inserts nothing
    at          timestamptz NOT NULL,
    kind        text NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}'::jsonb,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX call_events_linkedid_idx ON call_events (linkedid, at);

-- Keys of the CallUpsert records already merged into calls (a replay merges nothing).
CREATE TABLE call_upserts_applied (
    upsert_key text PRIMARY KEY,
    linkedid   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE callbacks (
    id              bigserial PRIMARY KEY,
    callback_key    text NOT NULL UNIQUE,
    linkedid        text REFERENCES calls (linkedid),
    number          text NOT NULL,                  -- E.164
    queue           text,
    category        text,
    kind            text NOT NULL DEFAULT 'keep_place'
                    CHECK (kind IN ('keep_place', 'task', 'voicemail')),
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'dialling', 'done', 'failed', 'cancelled')),
    requested_at    timestamptz NOT NULL,
    due_at          timestamptz,
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_attempt_at timestamptz,
    completed_at    timestamptz,
    agent           text,
    data            jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX callbacks_status_due_idx ON callbacks (status, due_at);

CREATE TABLE voicemails (
    id              bigserial PRIMARY KEY,
    voicemail_key   text NOT NULL UNIQUE,
    linkedid        text REFERENCES calls (linkedid),
    box             text NOT NULL,
    recording       text NOT NULL,                  -- ARI stored recording name
    caller          text,
    recorded_at     timestamptz NOT NULL,
    duration_s      integer CHECK (duration_s IS NULL OR duration_s >= 0),
    callback_due_at timestamptz,
    handled_at      timestamptz,
    handled_by      text
);
CREATE INDEX voicemails_box_recorded_idx ON voicemails (box, recorded_at);

CREATE TABLE agent_state_changes (
    id         bigserial PRIMARY KEY,
    change_key text NOT NULL UNIQUE,
    agent      text NOT NULL,
    at         timestamptz NOT NULL,
    state      text NOT NULL,
    reason     text,
    data       jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX agent_state_changes_agent_at_idx ON agent_state_changes (agent, at);

CREATE TABLE dispositions (
    id              bigserial PRIMARY KEY,
    disposition_key text NOT NULL UNIQUE,
    linkedid        text NOT NULL REFERENCES calls (linkedid),
    agent           text,
    at              timestamptz NOT NULL,
    code            text NOT NULL,
    note            text
);
CREATE INDEX dispositions_linkedid_idx ON dispositions (linkedid);

-- The patient directory (the EHR export). A family phone may belong to several patients.
CREATE TABLE patients (
    id                 bigserial PRIMARY KEY,
    phone              text NOT NULL,                -- E.164
    patient_id         text NOT NULL,
    preferred_language text,
    specialty          text,
    name               text,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (phone, patient_id)
);
CREATE INDEX patients_patient_id_idx ON patients (patient_id);

-- Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE.
CREATE TABLE audit_log (
    id        bigserial PRIMARY KEY,
    entry_key text NOT NULL UNIQUE,
    at        timestamptz NOT NULL,
    actor     text NOT NULL,
    action    text NOT NULL,
    subject   text,
    data      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at_idx ON audit_log (at);

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
