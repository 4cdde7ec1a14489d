-- Dashboard sessions (frontdesk.store.sessions, web/auth.py): they survive a restart of
-- the daemon, every daemon sharing the database sees them, and `frontdesk users
-- sessions` / `revoke` list and end them. Only the sha256 of the cookie's value is kept
-- (`id_hash`, hex), never the value: a copy of this table signs nobody in. `csrf` is the
-- session's CSRF token (useless without the cookie). A session is open while `ended_at`
-- is NULL; the daemon ends it (`expired`) once idle for `idle_s` seconds or past
-- `expires_at`, and deletes rows ended more than the retention ago (7 days).
CREATE TABLE staff_sessions (
    id_hash      text PRIMARY KEY CHECK (id_hash ~ '^[0-9a-f]{64}$'),
    username     text NOT NULL REFERENCES staff_accounts (username) ON DELETE CASCADE,
    csrf         text NOT NULL CHECK (length(csrf) BETWEEN 16 AND 128),
    created_at   timestamptz NOT NULL,
    last_seen    timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,               -- the absolute lifetime's end
    idle_s       integer NOT NULL CHECK (idle_s > 0), -- ended after this long unused
    ended_at     timestamptz NULL,
    ended_reason text NULL CHECK (ended_reason IN
                 ('logout', 'replaced', 'disabled', 'password', 'revoked', 'expired')),
    client       text NULL CHECK (length(client) <= 64),       -- the client's address
    user_agent   text NULL CHECK (length(user_agent) <= 160),  -- truncated
    CHECK ((ended_at IS NULL) = (ended_reason IS NULL))
);
CREATE INDEX staff_sessions_open_idx ON staff_sessions (username) WHERE ended_at IS NULL;
CREATE INDEX staff_sessions_ended_idx ON staff_sessions (ended_at) WHERE ended_at IS NOT NULL;
