"""AMI actions with the exact replies of flow (l): Login, Logoff, Ping, Events, UserEvent,
CoreShowChannels, Originate; anything else gets Asterisk's "Invalid/unknown command".

CoreStatus answers as the real Asterisk 22 did (tests/asterisk/recorded/
ami_core_status.jsonl): the start and last reload as PBX-local date and time (the
emulator's `timezone`), the live and processed call counts; no current time.

PJSIPShowContacts is not in the transcripts: its replies follow res_pjsip's source and the
AMI docs (ContactList fields in the documented order; "No Contacts found" when none).
Filter follows main/manager.c (`action_filter`, `manager_add_filter`).

An action the user's `write` classes do not cover (`ami_access.AUTHORITY`: Filter and
PJSIPShowContacts need `system`, Originate `originate`...) is answered as manager.c does:
`Response: Error` / `Message: Permission denied`, plus a `RequestNotAllowed` security event.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from frontdesk.emulator import originate
from frontdesk.emulator.ami_access import ALL, FilterError, parse_filter
from frontdesk.emulator.ami_server import AmiServer, AmiSession, Message, header, reply
from frontdesk.emulator.clock import ami_timestamp, ari_time, core_status_times, now
from frontdesk.emulator.errors import AriError
from frontdesk.emulator.events import ami_event, channel_block
from frontdesk.emulator.model import Channel, Phone
from frontdesk.emulator.swagger import as_int

if TYPE_CHECKING:
    from frontdesk.emulator.pbx import Pbx

Action = Callable[[AmiSession, Message], Awaitable[None]]
PRE_LOGIN = frozenset({"login", "logoff", "challenge"})
EVENT_CLASSES = ALL  # manager.c's event classes (ami_access)
NEVER = "1970-01-01T00:00:00.000+0000"


def event_mask(text: str) -> frozenset[str] | None:
    """`Events:`/`EventMask:` values: on (everything), off (nothing) or a class list."""
    value = text.strip().lower()
    if value in ("", "on", "yes", "true", "all", "1"):
        return None
    if value in ("off", "no", "false", "0"):
        return frozenset()
    return frozenset(part.strip() for part in value.split(",")) & EVENT_CLASSES


class AmiActions:
    def __init__(self, pbx: Pbx, server: AmiServer) -> None:
        self.pbx = pbx
        self.server = server
        self.actions: dict[str, Action] = {
            "login": self.login,
            "logoff": self.logoff,
            "ping": self.ping,
            "events": self.events,
            "userevent": self.user_event,
            "coreshowchannels": self.core_show_channels,
            "corestatus": self.core_status,
            "pjsipshowcontacts": self.pjsip_show_contacts,
            "originate": self.originate,
            "filter": self.filter,
        }

    async def __call__(self, session: AmiSession, message: Message) -> None:
        name = header(message, "Action")
        action_id = header(message, "ActionID")
        if not name:
            session.send(reply("Error", action_id, [("Message", "Missing action in request")]))
            return
        request_type = [("RequestType", f"Action: {name}")]
        if not session.authenticated and name.lower() not in PRE_LOGIN:
            session.send(reply("Error", action_id, [("Message", "Permission denied")]))
            self._security(session, "RequestNotAllowed", "Error", request_type)
            return
        action = self.actions.get(name.lower())
        if action is None:
            text = f"Invalid/unknown command: {name}. Use Action: ListCommands to show available commands."
            session.send(reply("Error", action_id, [("Message", text)]))
            self._security(session, "RequestBadFormat", "Error", request_type)
            return
        if session.authenticated and not self.server.config.access.may_run(name):
            session.send(reply("Error", action_id, [("Message", "Permission denied")]))
            self._security(session, "RequestNotAllowed", "Error", request_type)
            return
        await action(session, message)

    # -- security events ---------------------------------------------------------------
    def _security(
        self,
        session: AmiSession,
        name: str,
        severity: str,
        extra: list[tuple[str, str]],
        version: str = "1",
        exclude: AmiSession | None = None,
    ) -> None:
        logged_in = session.authenticated
        fields = [
            ("EventTV", ari_time(now())),
            ("Severity", severity),
            ("Service", "AMI"),
            ("EventVersion", version),
        ]
        if name != "RequestBadFormat":
            fields.append(("AccountID", session.username))
        fields += [
            ("SessionID", session.session_id),
            ("LocalAddress", session.local),
            ("RemoteAddress", session.remote),
        ]
        if name == "SuccessfulAuth":
            fields.append(("UsingPassword", "0"))
        tail = [("SessionTV", ari_time(now()) if logged_in else NEVER)]
        if name == "RequestBadFormat":
            tail.append(("AccountID", session.username))
        event = ami_event(name, "security", [*fields, *extra, *tail])
        for other in list(self.server.sessions):
            if other is not exclude:
                other.deliver(event)

    # -- actions ------------------------------------------------------------------------
    async def login(self, session: AmiSession, message: Message) -> None:
        action_id = header(message, "ActionID")
        user, secret = header(message, "Username"), header(message, "Secret")
        config = self.server.config
        session.username = user
        good = hmac.compare_digest(user.encode(), config.user.encode()) and hmac.compare_digest(
            secret.encode(), config.secret.encode()
        )
        if not good:
            kind = "InvalidPassword" if user == config.user else "InvalidAccountID"
            self._security(session, kind, "Error", [], version="2", exclude=session)
            await asyncio.sleep(config.failure_delay)
            session.send(reply("Error", action_id, [("Message", "Authentication failed")]))
            session.close()
            return
        session.authenticated = True
        session.read = config.access.read
        session.filters = config.access.filters()
        session.mask = event_mask(header(message, "Events"))
        session.send(reply("Success", action_id, [("Message", "Authentication accepted")]))
        if (session.mask is None or "system" in session.mask) and "system" in session.read:
            uptime = str(int(now() - self.pbx.started))
            booted = [("Uptime", uptime), ("LastReload", uptime), ("Status", "Fully Booted")]
            session.send(ami_event("FullyBooted", "system", booted, system_name=False).encode(""))
        self._security(session, "SuccessfulAuth", "Informational", [])

    async def logoff(self, session: AmiSession, message: Message) -> None:
        fields = [("Message", "Thanks for all the fish.")]
        session.send(reply("Goodbye", header(message, "ActionID"), fields))
        session.close()

    async def ping(self, session: AmiSession, message: Message) -> None:
        action_id = header(message, "ActionID")
        if self.pbx.shutting_down:
            session.send(reply("Error", action_id, [("Message", "Asterisk is shutting down")]))
            return
        fields = [("Ping", "Pong"), ("Timestamp", ami_timestamp(now()))]
        session.send(reply("Success", action_id, fields))

    async def events(self, session: AmiSession, message: Message) -> None:
        session.mask = event_mask(header(message, "EventMask"))
        state = "Off" if session.mask == frozenset() else "On"
        session.send(reply("Success", header(message, "ActionID"), [("Events", state)]))

    async def user_event(self, session: AmiSession, message: Message) -> None:
        action_id = header(message, "ActionID")
        name = header(message, "UserEvent")
        if not name:
            session.send(reply("Error", action_id, [("Message", "UserEvent header missing")]))
            return
        body = [(k, v) for k, v in message if k.lower() not in ("action", "userevent")]
        session.send(reply("Success", action_id, [("Message", "Event Sent")]))
        self.server.event(ami_event("UserEvent", "user", [("UserEvent", name), *body]))

    async def filter(self, session: AmiSession, message: Message) -> None:
        """`action_filter`: `Operation: Add`, `Filter: <pattern>`, optional `MatchCriteria`
        (the advanced options, as in `eventfilter(<MatchCriteria>)` of manager.conf)."""
        action_id = header(message, "ActionID")
        if header(message, "Operation").lower() != "add":
            session.send(reply("Error", action_id, [("Message", "Unknown operation")]))
            return
        criteria = header(message, "MatchCriteria")
        key = f"eventfilter({criteria})" if criteria else "eventfilter"
        try:
            session.filters.append(parse_filter(key, header(message, "Filter")))
        except FilterError as exc:
            text = (
                "Filter did not compile.  Check the syntax of the filter given."
                if exc.kind == "compile"
                else "Filter was formatted incorrectly.  Check the syntax of the filter given."
            )
            session.send(reply("Error", action_id, [("Message", text)]))
            return
        session.send(reply("Success", action_id, [("Message", "Success")]))

    async def core_show_channels(self, session: AmiSession, message: Message) -> None:
        action_id = header(message, "ActionID")
        fields = [("EventList", "start"), ("Message", "Channels will follow")]
        session.send(reply("Success", action_id, fields))
        channels = list(self.pbx.channels.values())
        for ch in channels:
            item = ami_event("CoreShowChannel", "", _show_channel(ch), system_name=False)
            session.send(item.encode("", action_id or None))
        done = [("EventList", "Complete"), ("ListItems", str(len(channels)))]
        complete = ami_event("CoreShowChannelsComplete", "", done, system_name=False)
        session.send(complete.encode("", action_id or None))

    async def core_status(self, session: AmiSession, message: Message) -> None:
        """`action_corestatus` (main/manager.c), its fields in its order."""
        started_date, started_time = core_status_times(self.pbx.started, self.pbx.zone)
        fields = [
            ("CoreStartupDate", started_date),
            ("CoreStartupTime", started_time),
            ("CoreReloadDate", started_date),  # never reloaded: the start, as Asterisk
            ("CoreReloadTime", started_time),
            ("CoreCurrentCalls", str(len(self.pbx.channels))),
            ("CoreProcessedCalls", str(len(self.pbx.history))),
        ]
        session.send(reply("Success", header(message, "ActionID"), fields))

    async def pjsip_show_contacts(self, session: AmiSession, message: Message) -> None:
        """One `ContactList` per contact: registered phones and the trunk's static one."""
        action_id = header(message, "ActionID")
        phones = [p for p in self.pbx.phones.values() if p.reachable]
        if not phones:
            session.send(reply("Error", action_id, [("Message", "No Contacts found")]))
            return
        listing = "A listing of Contacts follows, presented as ContactList events"
        session.send(reply("Success", action_id, [("EventList", "start"), ("Message", listing)]))
        for phone in phones:
            item = ami_event("ContactList", "", _contact_list(phone), system_name=False)
            session.send(item.encode("", action_id or None))
        done = [("EventList", "Complete"), ("ListItems", str(len(phones)))]
        complete = ami_event("ContactListComplete", "", done, system_name=False)
        session.send(complete.encode("", action_id or None))

    async def originate(self, session: AmiSession, message: Message) -> None:
        action_id = header(message, "ActionID")
        target = header(message, "Channel")
        if not target:
            session.send(reply("Error", action_id, [("Message", "Channel not specified")]))
            return
        is_async = header(message, "Async").lower() in ("true", "yes", "1", "on")
        try:
            ch = self._originate(message, target)
        except AriError:
            if not is_async:
                session.send(reply("Error", action_id, [("Message", "Originate failed")]))
                return
            session.send(
                reply("Success", action_id, [("Message", "Originate successfully queued")])
            )
            self._originate_response(message, "Failure", "0", "<unknown>")
            return
        session.send(reply("Success", action_id, [("Message", "Originate successfully queued")]))

        def result(answered: bool) -> None:
            status, reason = ("Success", "4") if answered else ("Failure", "3")
            self._originate_response(message, status, reason, ch.id)

        ch.on_result = result

    def _originate(self, message: Message, target: str) -> Channel:
        app = header(message, "Application")
        request = originate.OriginateRequest(
            endpoint=target,
            caller_id=header(message, "CallerID") or None,
            timeout=max(1, as_int(header(message, "Timeout") or "30000") // 1000),
            context=header(message, "Context") or None,
            extension=header(message, "Exten") or ("s" if app else None),
            priority=as_int(header(message, "Priority") or "1"),
            application=(app, header(message, "Data")) if app else None,
        )
        return originate.originate(self.pbx, request)

    def _originate_response(self, message: Message, result: str, reason: str, unique: str) -> None:
        party = originate.parse_callerid(header(message, "CallerID"))
        fields = [("ActionID", header(message, "ActionID")), ("Response", result)]
        fields.append(("Channel", header(message, "Channel")))
        app = header(message, "Application")
        if app:
            fields += [("Application", app), ("Data", header(message, "Data"))]
        else:
            fields += [("Context", header(message, "Context")), ("Exten", header(message, "Exten"))]
        fields += [
            ("Reason", reason),
            ("Uniqueid", unique),
            ("CallerIDNum", party.number or "<unknown>"),
            ("CallerIDName", party.name or "<unknown>"),
        ]
        self.server.event(ami_event("OriginateResponse", "call", fields))


def _show_channel(ch: Channel) -> list[tuple[str, str]]:
    seconds = int(now() - ch.created)
    duration = f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return [
        *channel_block(ch),
        ("Application", ch.dialplan.app_name),
        ("ApplicationData", ch.dialplan.app_data),
        ("Duration", duration),
        ("BridgeId", ch.bridge_id or ""),
    ]


def _contact_list(phone: Phone) -> list[tuple[str, str]]:
    """A contact's sorcery fields; its id is `<aor>;@<hash>` (`<aor>@@<hash>` if static)."""
    digest = hashlib.md5(phone.contact.encode()).hexdigest()
    name = f"{phone.resource}@@{digest}" if phone.static_contact else f"{phone.resource};@{digest}"
    via: list[tuple[str, str]] = []
    if not phone.static_contact:  # ViaAddr/ViaPort/CallId: only for a REGISTER
        host, _, port = phone.contact.rpartition("@")[2].partition(":")
        via = [("ViaAddr", host), ("ViaPort", port), ("QualifyTimeout", "3.000000")]
        via.append(("CallId", f"{digest[:16]}@{host}"))
    else:
        via = [("QualifyTimeout", "3.000000")]
    return [
        ("ObjectType", "contact"),
        ("ObjectName", name),
        *via,
        ("RegServer", ""),
        ("PruneOnBoot", "false" if phone.static_contact else "true"),
        ("Path", ""),
        ("Endpoint", "" if phone.static_contact else phone.resource),
        ("AuthenticateQualify", "false"),
        ("Uri", phone.contact),
        ("QualifyFrequency", "0"),
        ("UserAgent", "" if phone.static_contact else "SIPp"),
        ("ExpirationTime", "0" if phone.static_contact else str(int(now()) + 3600)),
        ("OutboundProxy", ""),
        ("Status", "NonQualified"),  # qualify is off, as in flow d2
        ("RoundtripUsec", "N/A"),
    ]
