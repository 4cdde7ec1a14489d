"""A staff phone that can do an attended transfer, for the lab (SIPp cannot: the REFER's
`Replaces` names the consultation dialog, whose tags only exist at run time).

It answers Asterisk's call to the phone, calls a colleague (digest authentication), then
sends REFER on the first call with `Refer-To: <colleague?Replaces=consultation>`, as a
desk phone's transfer button does after a consultation; it answers the NOTIFYs and BYEs
that follow. Plain UDP on loopback, in a thread; every message it saw is kept.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote

from lab.pbx import SIP_PORT

SDP = (
    "v=0\r\no=lab 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
)


def header(message: str, name: str) -> str:
    match = re.search(rf"^{name}:\s*(.*)$", message, re.M | re.I)
    return match.group(1).strip() if match else ""


def tag_of(value: str) -> str:
    match = re.search(r";tag=([^;>\s]+)", value)
    return match.group(1) if match else ""


@dataclass
class Dialog:
    call_id: str
    local: str  # our From/To header value, with our tag
    remote: str  # theirs, with their tag
    target: str  # where in-dialog requests go (their Contact)
    cseq: int = 1


@dataclass
class AttendedTransferPhone:
    ext: str
    password: str
    port: int
    received: list[str] = field(default_factory=list)
    first: Dialog | None = None
    consult: Dialog | None = None

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.settimeout(0.2)
        self._stop = False
        self._responses: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    # -- the transfer -------------------------------------------------------------------------
    def transfer(self, colleague: str, *, consult_seconds: float = 2.0) -> None:
        """After the first call was answered: consult `colleague`, then complete."""
        self._wait(lambda: self.first is not None, "a call to answer")
        self.consult = self._call(colleague)
        time.sleep(consult_seconds)
        assert self.first is not None
        assert self.consult is not None
        replaces = (
            f"{self.consult.call_id};to-tag={tag_of(self.consult.remote)}"
            f";from-tag={tag_of(self.consult.local)}"
        )
        refer_to = f"<sip:{colleague}@127.0.0.1:{SIP_PORT}?Replaces={quote(replaces, safe='')}>"
        self._request(
            self.first,
            "REFER",
            [f"Refer-To: {refer_to}", f"Referred-By: <sip:{self.ext}@127.0.0.1>"],
        )
        self._wait_response("REFER", "202")

    # -- placing the consultation call ------------------------------------------------------
    def _call(self, colleague: str) -> Dialog:
        call_id = f"{secrets.token_hex(8)}@lab"
        local = f"<sip:{self.ext}@127.0.0.1>;tag={secrets.token_hex(4)}"
        uri = f"sip:{colleague}@127.0.0.1:{SIP_PORT}"
        dialog = Dialog(call_id, local, f"<{uri}>", uri)
        branch = self._request(dialog, "INVITE", [], body=SDP.format(port=self.port + 20000))
        challenge = self._wait_response("INVITE", "401")
        self._ack(dialog, challenge, branch)
        dialog.cseq += 1
        auth = self._authorization(header(challenge, "WWW-Authenticate"), "INVITE", uri)
        self._request(dialog, "INVITE", [auth], body=SDP.format(port=self.port + 20000))
        ok = self._wait_response("INVITE", "200", timeout=20)
        dialog.remote = header(ok, "To")
        contact = re.search(r"<([^>]+)>", header(ok, "Contact"))
        dialog.target = contact.group(1) if contact else uri
        self._ack(dialog, ok)
        return dialog

    def _authorization(self, challenge: str, method: str, uri: str) -> str:
        fields = dict(re.findall(r'(\w+)="?([^",]+)"?', challenge))
        realm, nonce = fields["realm"], fields["nonce"]
        ha1 = _md5(f"{self.ext}:{realm}:{self.password}")
        ha2 = _md5(f"{method}:{uri}")
        cnonce, nc = secrets.token_hex(4), "00000001"
        if "auth" in fields.get("qop", ""):
            response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
            qop = f', qop=auth, nc={nc}, cnonce="{cnonce}"'
        else:
            response, qop = _md5(f"{ha1}:{nonce}:{ha2}"), ""
        opaque = f', opaque="{fields["opaque"]}"' if "opaque" in fields else ""
        return (
            f'Authorization: Digest username="{self.ext}", realm="{realm}", nonce="{nonce}", '
            f'uri="{uri}", response="{response}", algorithm=MD5{qop}{opaque}'
        )

    def _ack(self, dialog: Dialog, response: str, branch: str | None = None) -> None:
        """ACK: a 2xx's in a transaction of its own; a failure's with the INVITE's branch."""
        to = header(response, "To")
        lines = [
            f"ACK {dialog.target} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch or 'z9hG4bK' + secrets.token_hex(6)}",
            f"From: {dialog.local}",
            f"To: {to}",
            f"Call-ID: {dialog.call_id}",
            f"CSeq: {dialog.cseq} ACK",
            "Max-Forwards: 70",
            "Content-Length: 0",
        ]
        self._send("\r\n".join(lines) + "\r\n\r\n")

    def _request(self, dialog: Dialog, method: str, extra: list[str], body: str = "") -> str:
        """Send an in-dialog (or dialog-creating) request; its Via branch."""
        branch = f"z9hG4bK{secrets.token_hex(6)}"
        lines = [
            f"{method} {dialog.target} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch}",
            f"From: {dialog.local}",
            f"To: {dialog.remote}",
            f"Call-ID: {dialog.call_id}",
            f"CSeq: {dialog.cseq} {method}",
            f"Contact: <sip:{self.ext}@127.0.0.1:{self.port}>",
            "Max-Forwards: 70",
            *extra,
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        self._send("\r\n".join(lines) + "\r\n\r\n" + body)
        if method != "INVITE":
            dialog.cseq += 1
        return branch

    # -- answering ---------------------------------------------------------------------------------
    def _serve(self) -> None:
        while not self._stop:
            try:
                data, _ = self.sock.recvfrom(65535)
            except OSError:
                continue
            message = data.decode(errors="replace")
            self.received.append(message)
            if message.startswith("SIP/2.0"):
                self._responses.append(message)
            elif message.startswith("INVITE") and self.first is None:
                self._answer(message)
            elif message.startswith(("NOTIFY", "BYE", "OPTIONS")):
                self._reply(message, "200 OK")
            elif message.startswith("INVITE"):
                self._reply(message, "486 Busy Here")

    def _answer(self, invite: str) -> None:
        local = f"{header(invite, 'To')};tag={secrets.token_hex(4)}"
        contact = re.search(r"<([^>]+)>", header(invite, "Contact"))
        target = contact.group(1) if contact else f"sip:127.0.0.1:{SIP_PORT}"
        self._reply(invite, "180 Ringing", to=local)
        sdp = SDP.format(port=self.port + 20000)
        self._reply(invite, "200 OK", to=local, body=sdp)
        self.first = Dialog(header(invite, "Call-ID"), local, header(invite, "From"), target)

    def _reply(self, request: str, status: str, *, to: str | None = None, body: str = "") -> None:
        vias = [v.strip() for v in re.findall(r"^Via:.*$", request, re.M | re.I)]
        lines = [
            f"SIP/2.0 {status}",
            *vias,
            f"From: {header(request, 'From')}",
            f"To: {to or header(request, 'To')}",
            f"Call-ID: {header(request, 'Call-ID')}",
            f"CSeq: {header(request, 'CSeq')}",
            f"Contact: <sip:{self.ext}@127.0.0.1:{self.port}>",
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        self._send("\r\n".join(lines) + "\r\n\r\n" + body)

    # -- plumbing ----------------------------------------------------------------------------------
    def _send(self, text: str) -> None:
        self.sock.sendto(text.encode(), ("127.0.0.1", SIP_PORT))

    def _wait(self, predicate: object, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not (callable(predicate) and predicate()):
            if time.monotonic() > deadline:
                raise AssertionError(f"phone {self.ext}: timed out waiting for {what}")
            time.sleep(0.05)

    def _wait_response(self, method: str, code: str, timeout: float = 10.0) -> str:
        found: list[str] = []

        def arrived() -> bool:
            for message in list(self._responses):
                if message.startswith(f"SIP/2.0 {code}") and header(message, "CSeq").endswith(
                    method
                ):
                    self._responses.remove(message)
                    found.append(message)
                    return True
            return False

        self._wait(arrived, f"{code} to {method}", timeout)
        return found[0]

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2)
        self.sock.close()


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # SIP digest authentication is MD5
