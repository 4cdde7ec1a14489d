-- The screen pop shows the caller's last call: look calls up by caller, newest first.
CREATE INDEX IF NOT EXISTS calls_caller_started_at ON calls (caller, started_at DESC);
