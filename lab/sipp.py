"""SIPp for the lab tier: staff phones that register and answer, the trunk's far end (the
PSTN: externals and callbacks are dialled there), and patients calling in on the trunk.

Every SIPp writes its message trace (`-trace_msg`); tests judge a call by what the far
ends saw in those traces (and by the call row), not by SIPp's exit code: a caller still
inside a `<pause>` when Asterisk hangs up exits 1 although the call was fine.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from frontdesk.golive.dtmf_pcap import write_key_pcaps  # RTP that rises across keys
from lab.pbx import SIP_PORT

SIPP = "sipp"
AUDIO_PCAP = "/usr/share/sip-tester/g711a.pcap"  # 8 s of speech-like PCMA (for voicemail)

_SDP = """v=0
      o=lab 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=sendrecv"""

_HEAD = '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'


def _send(text: str, *, retrans: bool = False, next_label: str | None = None) -> str:
    attrs = (' retrans="500"' if retrans else "") + (f' next="{next_label}"' if next_label else "")
    return f"  <send{attrs}>\n    <![CDATA[\n      {text}\n    ]]>\n  </send>\n"


def _response(code: str, *, sdp: bool = False, tag: bool = True) -> str:
    body = (
        f"Content-Type: application/sdp\n      Content-Length: [len]\n\n      {_SDP}"
        if sdp
        else "Content-Length: 0"
    )
    return f"""SIP/2.0 {code}
      [last_Via:]
      [last_From:]
      [last_To:]{";tag=[pid]lab[call_number]" if tag else ""}
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      {body}"""


def register_xml(ext: str, password: str, *, expires: int = 3600) -> str:
    """REGISTER with digest authentication, once (`expires=0`: unregister)."""
    request = """REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{ext}@[remote_ip]>;tag=[pid]reg[call_number]
      To: <sip:{ext}@[remote_ip]>
      Call-ID: [call_id]
      CSeq: {cseq} REGISTER
      Contact: <sip:{ext}@[local_ip]:[local_port]>
      Expires: {expires}
      Max-Forwards: 70{auth}
      Content-Length: 0"""
    auth = f"\n      [authentication username={ext} password={password}]"
    return (
        _HEAD
        + '<scenario name="lab phone register">\n'
        + _send(request.format(ext=ext, cseq=1, auth="", expires=expires), retrans=True)
        + '  <recv response="401" auth="true"/>\n'
        + _send(request.format(ext=ext, cseq=2, auth=auth, expires=expires), retrans=True)
        + '  <recv response="200"/>\n</scenario>\n'
    )


def answering_xml(
    ring_ms: int, talk_ms: int, *, transfer_to: str | None = None, busy: bool = False
) -> str:
    """A phone (or the PSTN far end) that rings `ring_ms`, answers, and hangs up after
    `talk_ms` unless the other side hangs up first. With `transfer_to`, the phone's
    transfer button instead: after `talk_ms` a blind REFER to that extension, then it
    answers Asterisk's NOTIFYs until Asterisk hangs it up. `busy`: answers every call
    486 Busy Here."""
    if busy:
        return (
            _HEAD
            + '<scenario name="lab busy">\n'
            + '  <recv request="INVITE" crlf="true"/>\n'
            + _send(_response("486 Busy Here"))
            + '  <recv request="ACK" optional="false"/>\n</scenario>\n'
        )
    after_answer = _blind_transfer(ring_ms, talk_ms, transfer_to) if transfer_to else ""
    bye = """BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [last_To:]
      [last_From:]
      [last_Call-ID:]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0"""
    bye = bye.replace("[last_To:]", "From: [$to]").replace("[last_From:]", "To: [$from]")
    return (
        _HEAD
        + '<scenario name="lab answering">\n'
        + '  <recv request="INVITE" crlf="true" rrs="true">\n'
        + '    <action><ereg regexp=".*" search_in="hdr" header="From:" assign_to="from"/>\n'
        + '    <ereg regexp=".*" search_in="hdr" header="To:" assign_to="to0"/>\n'
        + '    <assignstr assign_to="to" value="[$to0];tag=[pid]lab[call_number]"/></action>\n'
        + "  </recv>\n"
        + _send(_response("180 Ringing"))
        + f'  <pause milliseconds="{ring_ms}"/>\n'
        + _send(_response("200 OK", sdp=True), retrans=True)
        + '  <recv request="ACK" optional="false"/>\n'
        + after_answer
        + f'  <recv request="BYE" timeout="{talk_ms}" ontimeout="hangup"/>\n'
        + _send(_response("200 OK", tag=False), next_label="end")
        + '  <label id="hangup"/>\n'
        + _send(bye, retrans=True)
        + '  <recv response="200" crlf="true"/>\n'
        + '  <label id="end"/>\n</scenario>\n'
    )


def _blind_transfer(ring_ms: int, talk_ms: int, target: str) -> str:
    refer = f"""REFER [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$to]
      To: [$from]
      [last_Call-ID:]
      CSeq: 2 REFER
      Contact: <sip:[local_ip]:[local_port]>
      Refer-To: <sip:{target}@[remote_ip]:[remote_port]>
      Max-Forwards: 70
      Content-Length: 0"""
    return (
        f'  <pause milliseconds="{talk_ms}"/>\n'
        + _send(refer, retrans=True)
        + '  <recv response="202"/>\n'
        + '  <label id="xfer"/>\n'
        + '  <recv request="NOTIFY" optional="true" next="notified"/>\n'
        + '  <recv request="BYE" next="done" timeout="30000"/>\n'
        + '  <label id="notified"/>\n'
        + _send(_response("200 OK", tag=False), next_label="xfer")
        + '  <label id="done"/>\n'
        + _send(_response("200 OK", tag=False), next_label="end")
    )


@dataclass(frozen=True)
class Call:
    """A patient on the trunk: who, which number, the keys with the pause before each
    (`None`: stay silent for that long), then how long to stay on the line."""

    caller: str
    did: str
    keys: tuple[tuple[float, str | None], ...] = ()
    hold: float = 20.0
    # Play 8 s of audio this many seconds after the keys (a voicemail message, after the
    # greeting). Not at once: a new play_pcap_audio cuts the key that is still playing.
    speak: float | None = None
    headers: tuple[tuple[str, str], ...] = ()


def caller_xml(call: Call, pcap_dir: Path) -> str:
    presses = [(pause, key) for pause, key in call.keys if key is not None]
    pcaps = write_key_pcaps([k for _, k in presses], pcap_dir, gaps=[p for p, _ in presses])
    extra = "".join(f"\n      {name}: {value}" for name, value in call.headers)
    invite = f"""INVITE sip:{call.did}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{call.caller}@[local_ip]:[local_port]>;tag=[pid]lab[call_number]
      To: <sip:{call.did}@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:{call.caller}@[local_ip]:[local_port]>
      Max-Forwards: 70{extra}
      Content-Type: application/sdp
      Content-Length: [len]

      {_SDP.replace("[media_port]", "[auto_media_port]")}"""

    def in_dialog(method: str, cseq: int) -> str:
        return f"""{method} sip:{call.did}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{call.caller}@[local_ip]:[local_port]>;tag=[pid]lab[call_number]
      To: <sip:{call.did}@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Max-Forwards: 70
      Content-Length: 0"""

    parts = [_HEAD, '<scenario name="lab caller">\n', _send(invite, retrans=True)]
    parts += [f'  <recv response="{code}" optional="true"/>\n' for code in (100, 180, 183)]
    parts += ['  <recv response="200" rtd="true"/>\n', _send(in_dialog("ACK", 1))]
    played = iter(pcaps)
    for pause, key in call.keys:
        parts.append(f'  <pause milliseconds="{round(pause * 1000)}"/>\n')
        if key is not None:
            pcap = quoteattr(str(next(played)))
            parts.append(f"  <nop><action><exec play_pcap_audio={pcap}/></action></nop>\n")
    if call.speak is not None:
        parts.append(f'  <pause milliseconds="{round(call.speak * 1000)}"/>\n')
        audio = quoteattr(AUDIO_PCAP)
        parts.append(f"  <nop><action><exec play_pcap_audio={audio}/></action></nop>\n")
    parts += [
        f'  <recv request="BYE" timeout="{round(call.hold * 1000)}" ontimeout="hangup"/>\n',
        _send(_response("200 OK"), next_label="end"),
        '  <label id="hangup"/>\n',
        _send(in_dialog("BYE", 2), retrans=True),
        '  <recv response="200" crlf="true"/>\n',
        '  <label id="end"/>\n</scenario>\n',
    ]
    return "".join(parts)


def dial_xml(ext: str, password: str, number: str, hold_ms: int = 15000) -> str:
    """A staff phone dials `number` (a feature code such as *45), authenticating."""

    def invite(cseq: int, auth: str) -> str:
        return f"""INVITE sip:{number}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{ext}@[remote_ip]>;tag=[pid]dial[call_number]
      To: <sip:{number}@[remote_ip]>
      Call-ID: [call_id]
      CSeq: {cseq} INVITE
      Contact: <sip:{ext}@[local_ip]:[local_port]>
      Max-Forwards: 70{auth}
      Content-Type: application/sdp
      Content-Length: [len]

      {_SDP.replace("[media_port]", "[auto_media_port]")}"""

    ack = """ACK sip:{number}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{ext}@[remote_ip]>;tag=[pid]dial[call_number]
      To: <sip:{number}@[remote_ip]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} ACK
      Max-Forwards: 70
      Content-Length: 0"""
    bye = ack.replace("ACK sip", "BYE sip").replace("{cseq} ACK", "{cseq} BYE")
    auth = f"\n      [authentication username={ext} password={password}]"
    return (
        _HEAD
        + '<scenario name="lab phone dials">\n'
        + _send(invite(1, ""), retrans=True)
        + '  <recv response="100" optional="true"/>\n'
        + '  <recv response="401" auth="true"/>\n'
        + _send(ack.format(number=number, ext=ext, cseq=1))
        + _send(invite(2, auth), retrans=True)
        + '  <recv response="100" optional="true"/>\n'
        + '  <recv response="180" optional="true"/>\n'
        + '  <recv response="183" optional="true"/>\n'
        + '  <recv response="200"/>\n'
        + _send(ack.format(number=number, ext=ext, cseq=2))
        + f'  <recv request="BYE" timeout="{hold_ms}" ontimeout="hangup"/>\n'
        + _send(_response("200 OK", tag=False), next_label="end")
        + '  <label id="hangup"/>\n'
        + _send(bye.format(number=number, ext=ext, cseq=3), retrans=True)
        + '  <recv response="200" crlf="true"/>\n'
        + '  <label id="end"/>\n</scenario>\n'
    )


class Sipp:
    """One SIPp process on a fixed local port, its message trace in `workdir`."""

    def __init__(self, name: str, workdir: Path, port: int, xml: str, *, calls: int | None) -> None:
        self.name, self.port = name, port
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.scenario = self.dir / "scenario.xml"
        self.scenario.write_text(xml)
        self.trace = self.dir / "messages.log"
        argv = [
            SIPP,
            f"127.0.0.1:{SIP_PORT}",
            "-sf",
            str(self.scenario),
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-mp",
            # Media ports far apart: each SIPp binds several from its base, and a caller
            # whose RTP socket cannot bind sends no keys at all.
            str(20000 + (port - 5000) * 20),
            "-nostdin",
            "-trace_msg",
            "-message_file",
            str(self.trace),
            "-trace_err",
            "-error_file",
            str(self.dir / "errors.log"),
            "-max_recv_loops",
            "100",
        ]
        if calls is not None:
            argv += ["-m", str(calls)]
        self.argv = argv
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Sipp:
        with (self.dir / "stdout.log").open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
            )
        return self

    def wait(self, timeout: float) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(timeout=10)

    def received(self, method: str) -> list[str]:
        """The SIP messages of one method (or response code) this SIPp received."""
        text = self.trace.read_text(errors="replace") if self.trace.exists() else ""
        found = []
        for block in re.split(r"-{20,}[^\n]*\n", text):
            lines = block.split("message received", 1)
            if len(lines) < 2:
                continue
            message = lines[1].split("\n", 2)[-1].lstrip()
            if message.startswith(method):
                found.append(message)
        return found

    def sent(self, start: str) -> list[str]:
        text = self.trace.read_text(errors="replace") if self.trace.exists() else ""
        found = []
        for block in re.split(r"-{20,}[^\n]*\n", text):
            lines = block.split("message sent", 1)
            if len(lines) < 2:
                continue
            message = lines[1].split("\n", 2)[-1].lstrip()
            if message.startswith(start):
                found.append(message)
        return found


def invites_from(sipp: Sipp, number: str) -> list[str]:
    """INVITEs whose From names `number` (caller ID as Asterisk presented it)."""
    digits = number.lstrip("+")
    return [m for m in sipp.received("INVITE") if re.search(rf"From:[^\n]*{digits}", m)]


def wait_until(predicate: object, what: str, timeout: float = 30.0) -> float:
    start = time.monotonic()
    while True:
        if callable(predicate) and predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)
