"""Go-live testing: prove every path of the plan on the real PBX before the practice
switches its numbers over (docs/golive.md).

- `override`: the pure rule of when a call may carry its routing time (go-live mode on,
  a declared test caller, a sane ISO 8601 time with an offset); the ARI read lives in
  `frontdesk.calls.runtime`.
- `cases`: the `frontdesk paths` matrix as test cases (caller, DID, keys with timing,
  routing time, expected route).
- `sipp`: SIPp scenarios, injection files, the expectation and a README for a run.
- `verify`: matching the `calls` rows of a run to the cases, pass or fail per case.
- `cli`: `frontdesk golive PLAN --out DIR` and `frontdesk golive verify DIR`.
"""
