-- The live board brings back the unacknowledged alerts of the last days after a restart:
-- look events up by kind and time, not by scanning every call's history.
CREATE INDEX IF NOT EXISTS call_events_kind_at ON call_events (kind, at);
