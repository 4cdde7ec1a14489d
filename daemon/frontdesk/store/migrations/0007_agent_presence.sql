-- Who is logged in and who is paused (and why), so that a restart, `kill -9` included,
-- brings staff back as they were (store/presence.py). One row per extension, rewritten at
-- each change; `revision` grows with each change and a write with a lower or equal
-- revision changes nothing (a replayed or late record never undoes a newer one).
CREATE TABLE agent_presence (
    agent        text PRIMARY KEY,                 -- the extension
    revision     bigint NOT NULL CHECK (revision > 0),
    logged_in    boolean NOT NULL,
    paused       boolean NOT NULL,
    pause_reason text,                             -- lunch, meeting, admin or the plan's own
    changed_at   timestamptz NOT NULL,
    CHECK (logged_in OR NOT paused),
    CHECK (paused OR pause_reason IS NULL)
);

-- `frontdesk report`'s time paused per reason reads agent state changes by time
-- (agent_state_changes.reason, from 0001, holds the pause's reason).
CREATE INDEX agent_state_changes_at_idx ON agent_state_changes (at);
