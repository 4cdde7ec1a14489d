-- Staff accounts for the dashboard (frontdesk.store.accounts; roles in frontdesk.web.roles).
-- Passwords are argon2id hashes (argon2-cffi's encoded form), never the password.
CREATE TABLE IF NOT EXISTS staff_accounts (
    username      text PRIMARY KEY CHECK (username ~ '^[a-z0-9._-]{1,64}$'),
    display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    role          text NOT NULL
                  CHECK (role IN ('agent', 'charge_nurse', 'supervisor', 'admin')),
    extension     text NULL CHECK (extension ~ '^[0-9]{1,16}$'),
    password_hash text NOT NULL,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
