-- The active frontdesk of each Stasis app says where it runs (frontdesk/instance.py): a
-- standby's dashboard sends staff to `public_url`, or names the host. Written by each
-- daemon when it becomes active; a row outlives its daemon (it is only read while the
-- app's advisory lock is held by someone).
CREATE TABLE active_daemons (
    app        text PRIMARY KEY,
    host       text NOT NULL,
    pid        integer NOT NULL,
    public_url text,
    since      timestamptz NOT NULL DEFAULT now()
);
