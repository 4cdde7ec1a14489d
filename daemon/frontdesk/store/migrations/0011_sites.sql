-- Several sites on one database (issue 15, part 3; docs/scale.md "Several sites").
--
-- Every row of a site's own data carries its site: the frontdesk that wrote it. Writers
-- are unchanged: the column's default is the connection's `frontdesk.site` setting,
-- which every connection the daemon opens passes as a server setting (store/db.py
-- `site_settings`), and 'main' when it does not (a script, `frontdesk db upgrade`).
-- Rows that existed before this migration belong to site 'main' (the default site: a
-- practice with one frontdesk keeps it; docs/scale.md says how to rename).
--
-- Shared by every site: the patient directory (`patients`), the staff accounts (one
-- login for the group; each has a home site and the sites it may see) and their
-- sessions. Keys of calls stay the linkedid: each Asterisk sets its own `systemname`
-- (frontdesk asterisk-conf), so uniqueids of two sites never collide.

ALTER TABLE calls ADD COLUMN site text NOT NULL DEFAULT 'main';
ALTER TABLE call_events ADD COLUMN site text NOT NULL DEFAULT 'main';
ALTER TABLE callbacks ADD COLUMN site text NOT NULL DEFAULT 'main';
ALTER TABLE voicemails ADD COLUMN site text NOT NULL DEFAULT 'main';
ALTER TABLE agent_state_changes ADD COLUMN site text NOT NULL DEFAULT 'main';
ALTER TABLE dispositions ADD COLUMN site text NOT NULL DEFAULT 'main';
ALTER TABLE audit_log ADD COLUMN site text NOT NULL DEFAULT 'main';
ALTER TABLE pending_callbacks ADD COLUMN site text NOT NULL DEFAULT 'main';
ALTER TABLE agent_presence ADD COLUMN site text NOT NULL DEFAULT 'main';
ALTER TABLE active_daemons ADD COLUMN site text NOT NULL DEFAULT 'main';

-- From now on a new row takes the writer's site.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['calls', 'call_events', 'callbacks', 'voicemails',
                             'agent_state_changes', 'dispositions', 'audit_log',
                             'pending_callbacks', 'agent_presence', 'active_daemons']
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN site SET DEFAULT '
                       'coalesce(nullif(current_setting(''frontdesk.site'', true), ''''), ''main'')', t);
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (site ~ ''^[a-z0-9][a-z0-9_-]{0,31}$'')',
                       t, t || '_site_check');
    END LOOP;
END;
$$;

-- Extension 2001 may exist at two sites; each site's daemon is active on its own.
ALTER TABLE agent_presence DROP CONSTRAINT agent_presence_pkey;
ALTER TABLE agent_presence ADD PRIMARY KEY (site, agent);
ALTER TABLE active_daemons DROP CONSTRAINT active_daemons_pkey;
ALTER TABLE active_daemons ADD PRIMARY KEY (site, app);

-- Reads of one site: the board's and reports' ranges, the agent page's calls today.
CREATE INDEX calls_site_started_at_idx ON calls (site, started_at);
CREATE INDEX calls_site_agent_started_at_idx ON calls (site, agent, started_at);
CREATE INDEX agent_state_changes_site_at_idx ON agent_state_changes (site, at);

-- Staff accounts are shared by the sites: a home site, and the sites the account may
-- see besides it (`{*}`: every site). Existing accounts see their home site only.
ALTER TABLE staff_accounts ADD COLUMN site text NOT NULL DEFAULT 'main'
    CHECK (site ~ '^[a-z0-9][a-z0-9_-]{0,31}$');
ALTER TABLE staff_accounts ADD COLUMN sites text[] NOT NULL DEFAULT '{}';

-- Each site's live board, for viewers at another site (web/live.py): the board as its
-- daemon renders it with full numbers (masked for each viewer by role when read), at
-- most once a second and only when it changed. One row per site, overwritten.
CREATE TABLE site_boards (
    site  text PRIMARY KEY CHECK (site ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    at    timestamptz NOT NULL,
    board jsonb NOT NULL
);
