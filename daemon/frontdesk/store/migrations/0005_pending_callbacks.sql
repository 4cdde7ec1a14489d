-- Callbacks that keep the caller's place ("press 1"), so that a restart restores them.
-- One row per callback, rewritten as it changes; `revision` grows with each change and a
-- write with a lower or equal revision changes nothing (a replayed or late record).
CREATE TABLE pending_callbacks (
    call_id        text PRIMARY KEY,                -- the caller's channel (the linkedid)
    revision       integer NOT NULL CHECK (revision > 0),
    status         text NOT NULL CHECK (status IN ('pending', 'done', 'task', 'cancelled')),
    queue          text NOT NULL,
    priority       text NOT NULL CHECK (priority IN ('front', 'normal')),
    skill          text,                            -- the menu skill
    language_skill text,
    category       text NOT NULL,
    language       text NOT NULL,
    number         text NOT NULL,                   -- E.164, the number to call back
    enqueued_at    timestamptz NOT NULL,            -- the place in the queue
    attempts       integer NOT NULL CHECK (attempts >= 0),
    retry_at       timestamptz,                     -- the next try after an unanswered one
    escalated      boolean NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX pending_callbacks_pending_idx ON pending_callbacks (enqueued_at)
    WHERE status = 'pending';
