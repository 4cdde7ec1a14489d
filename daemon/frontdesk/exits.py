"""The exit codes of every `frontdesk` command, for scripts and CI (README, "Exit codes").

A code means the same in every command, so a script can tell "the command could not do
its work" (2) from "it did, and the answer is no" (1) without knowing which command ran:

- 0 `EXIT_OK`: done; warnings may have been printed.
- 1 the command ran and what it found fails the check (each command names its own case):
  `EXIT_AT_RISK` (`paths --at-risk`: a clinical route misses a live person),
  `EXIT_FAILED` (`golive verify`: a case failed), `EXIT_ALL_REJECTED`
  (`directory import`: every row was rejected, or the file has none),
  `EXIT_NEEDS_REPAIR` (`db repair-times`: a dry run found call times to repair).
- 2 `EXIT_INVALID`: the command could not do its work: the plan or another input is
  invalid or refused, the command line is wrong, or something it needs is missing or
  failed (espeak-ng or Graphviz, the database, a port to listen on).
- 3 `EXIT_ALREADY_RUNNING`: `frontdesk run` refused to start because another daemon
  already runs the same Stasis application (`frontdesk.instance`).
"""

from typing import Final

EXIT_OK: Final = 0
EXIT_AT_RISK: Final = 1
EXIT_FAILED: Final = 1
EXIT_ALL_REJECTED: Final = 1
EXIT_NEEDS_REPAIR: Final = 1
EXIT_INVALID: Final = 2
EXIT_ALREADY_RUNNING: Final = 3
