-- A call that ended while frontdesk could not see it (Asterisk restarted or crashed, or
-- the caller hung up during a network cut): outcome 'interrupted', ended_at = when
-- frontdesk found it gone. The CHECK of 0001 is replaced, with the same name.

ALTER TABLE calls DROP CONSTRAINT calls_outcome_check;
ALTER TABLE calls ADD CONSTRAINT calls_outcome_check
    CHECK (outcome IN ('answered', 'abandoned', 'voicemail', 'callback',
                       'transferred_external', 'failed', 'interrupted'));
