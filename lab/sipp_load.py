"""SIPp scenarios for load on the lab's real Asterisk (the lab bench, `make bench-lab`).

Unlike `lab.sipp`, where each SIPp is one phone or one call, these run many calls from
one SIPp: the values that differ per call come from an injection file (`-inf`, one line
per call, `;` between fields), and calls are placed at a rate (`-r`). Additive: nothing
in `lab.sipp` changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

from lab.sipp import _HEAD, _SDP, _response, _send


def write_injection(path: Path, rows: Iterable[Sequence[str]]) -> Path:
    """An injection file read in order (`SEQUENTIAL`), one call per row."""
    lines = ["SEQUENTIAL", *(";".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def register_rows(passwords: dict[str, str]) -> list[tuple[str, str]]:
    """Injection rows for `register_many_xml`: the extension, then SIPp's authentication
    keyword for it (SIPp expands a keyword read from the file; it cannot nest `[field1]`
    inside `[authentication ...]`)."""
    return [
        (ext, f"[authentication username={ext} password={password}]")
        for ext, password in passwords.items()
    ]


def register_many_xml() -> str:
    """REGISTER with digest authentication for each row of the injection file
    (`register_rows`): run with `-inf FILE -m ROWS` from one local port, every extension's
    contact is that port (one SIPp then answers for all of them)."""
    request = """REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@[remote_ip]>;tag=[pid]reg[call_number]
      To: <sip:[field0]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: {cseq} REGISTER
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Expires: 3600
      Max-Forwards: 70{auth}
      Content-Length: 0"""
    auth = "\n      [field1]"
    return (
        _HEAD
        + '<scenario name="lab many registers">\n'
        + _send(request.format(cseq=1, auth=""), retrans=True)
        + '  <recv response="401" auth="true"/>\n'
        + _send(request.format(cseq=2, auth=auth), retrans=True)
        + '  <recv response="200"/>\n</scenario>\n'
    )


def caller_load_xml(did: str, key_pcap: Path, key_after_ms: int, bye_within_ms: int) -> str:
    """A patient calling `did` on the trunk, caller number from the injection file's
    first field: waits for the answer, `key_after_ms` later plays `key_pcap` (one RFC 4733
    key press), then waits up to `bye_within_ms` for Asterisk's BYE and accepts it. A BYE
    that comes before the key (a shed call the front desk answered) is accepted too.

    No BYE in time is a failed call (SIPp aborts it with a BYE of its own). SIPp's
    response-time counter 1 runs from the ACK to the BYE (`-trace_rtt`: one value per
    call), so a call that ended early can be told from one that was answered and talked.
    """
    invite = f"""INVITE sip:{did}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]load[call_number]
      To: <sip:{did}@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      {_SDP.replace("[media_port]", "[auto_media_port]")}"""
    ack = f"""ACK sip:{did}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]load[call_number]
      To: <sip:{did}@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0"""
    pcap = quoteattr(str(key_pcap))
    return (
        _HEAD
        + '<scenario name="lab load caller">\n'
        + _send(invite, retrans=True)
        + "".join(f'  <recv response="{code}" optional="true"/>\n' for code in (100, 180, 183))
        + '  <recv response="200"/>\n'
        + _send(ack).replace("<send>", '<send start_rtd="1">', 1)
        # A BYE before the key: a call frontdesk shed to the dialplan's fallback (no
        # menu), answered at the front desk and ended there. Told apart by its length.
        + f'  <recv request="BYE" timeout="{key_after_ms}" ontimeout="key" rtd="1"'
        ' next="bye"/>\n'
        + '  <label id="key"/>\n'
        + f"  <nop><action><exec play_pcap_audio={pcap}/></action></nop>\n"
        + f'  <recv request="BYE" timeout="{bye_within_ms}" rtd="1"/>\n'
        + '  <label id="bye"/>\n'
        + _send(_response("200 OK", tag=False))
        + "</scenario>\n"
    )
