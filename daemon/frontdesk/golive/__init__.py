"""Go-live testing: prove every path of the plan on the real PBX before the practice
switches its numbers over (docs/golive.md).

- `override`: the pure rule of when a call may carry its routing time (go-live mode on,
  a declared test caller, a sane ISO 8601 time with an offset) and its case id (a short
  `[A-Za-z0-9._:-]` id); the ARI reads live in `frontdesk.calls.runtime`.
- `cases`: the `frontdesk paths` matrix as test cases (caller, DID, keys with timing,
  routing time, expected route).
- `sipp`: SIPp scenarios, injection files, the expectation, `run.sh [--parallel N]` and
  a README for a run.
- `dtmf_pcap`: each scenario's key presses as RFC 4733 pcaps of one growing RTP stream
  (SIPp's stock pcaps replay fixed numbers, and Asterisk drops a press that looks older).
- `verify`: matching the `calls` rows of a run to the cases by the case id each call
  sent (by order for rows without one), pass or fail per case.
- `cli`: `frontdesk golive PLAN --out DIR` and `frontdesk golive verify DIR`.
"""
