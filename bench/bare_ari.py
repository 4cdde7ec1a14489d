"""A bare ARI app: the bench's main journey with nothing else (the baseline of load.py).

    python bench/bare_ari.py --url http://127.0.0.1:8088/ari --agents 3000-3599

One aiohttp loop: answer, play a prompt, a digit plays the second menu, a second digit
puts the caller in a holding bridge and originates to a free agent; when the agent
answers, both go into a mixing bridge; when either leaves, the other is hung up.
No plan, no ACD, no records, no logs: what any ARI app must at least send.

The lab bench (bench/lab_bench.py, a real Asterisk) runs it as `--keys 1` (one digit
queues the caller), `--prompt` the bench plan's menu prompts, `--moh default` (music
on hold in the holding bridge, as frontdesk's queues have) and `--agents` the plan's
staff extensions.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
from typing import Any

import aiohttp

HOLD = "bare-hold"


class Bare:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        agents: list[str],
        *,
        keys: int = 2,
        prompt: str = "sound:bare-menu",
    ) -> None:
        self.session, self.url = session, url
        self.keys, self.prompt = keys, prompt
        self.free = list(agents)
        self.digits: dict[str, str] = {}  # caller channel -> digits so far
        self.peer: dict[str, str] = {}  # channel -> the other leg
        self.agent_of_leg: dict[str, str] = {}  # agent leg -> extension
        self.ids = itertools.count()

    async def rest(self, method: str, path: str, **params: str) -> None:
        async with self.session.request(method, self.url + path, params=params) as response:
            await response.read()

    async def on_event(self, event: dict[str, Any]) -> None:
        kind, channel = event["type"], event.get("channel", {}).get("id", "")
        if kind == "StasisStart" and event.get("args"):
            await self.agent_answered(channel, event["args"][1])
        elif kind == "StasisStart":
            self.digits[channel] = ""
            await self.rest("POST", f"/channels/{channel}/answer")
            await self.rest("POST", f"/channels/{channel}/play", media=self.prompt)
        elif kind == "ChannelDtmfReceived" and channel in self.digits:
            await self.digit(channel, event["digit"])
        elif kind in ("StasisEnd", "ChannelDestroyed"):
            await self.gone(channel)

    async def digit(self, channel: str, digit: str) -> None:
        self.digits[channel] += digit
        if len(self.digits[channel]) < self.keys:
            await self.rest("POST", f"/channels/{channel}/play", media="sound:bare-submenu")
            return
        del self.digits[channel]
        await self.rest("POST", f"/bridges/{HOLD}/addChannel", channel=channel)
        if not self.free:
            return  # the bench sizes the agents; a caller without one just waits
        agent = self.free.pop()
        leg = f"{channel}-a{next(self.ids)}"
        self.agent_of_leg[leg] = agent
        await self.rest(
            "POST", "/channels", endpoint=f"PJSIP/{agent}", app="frontdesk",
            appArgs=f"agent,{channel}", channelId=leg, timeout="20",
        )  # fmt: skip

    async def agent_answered(self, leg: str, caller: str) -> None:
        self.peer[leg], self.peer[caller] = caller, leg
        await self.rest("POST", f"/bridges/{HOLD}/removeChannel", channel=caller)
        await self.rest("POST", f"/bridges/talk-{caller}", type="mixing")
        await self.rest("POST", f"/bridges/talk-{caller}/addChannel", channel=f"{caller},{leg}")

    async def gone(self, channel: str) -> None:
        self.digits.pop(channel, None)
        agent = self.agent_of_leg.pop(channel, None)
        if agent is not None:
            self.free.append(agent)
        peer = self.peer.pop(channel, None)
        if peer is None:
            return
        self.peer.pop(peer, None)
        caller = channel if agent is None else peer
        await self.rest("DELETE", f"/channels/{peer}")
        await self.rest("DELETE", f"/bridges/talk-{caller}")


async def main(args: argparse.Namespace) -> None:
    url = args.url
    auth = aiohttp.BasicAuth(args.user, args.password)
    async with aiohttp.ClientSession(auth=auth) as session:
        app = Bare(session, url, args.agents, keys=args.keys, prompt=args.prompt)
        await app.rest("POST", f"/bridges/{HOLD}", type="holding")
        if args.moh:
            await app.rest("POST", f"/bridges/{HOLD}/moh", mohClass=args.moh)
        ws_url = url.replace("http", "ws", 1) + "/events?app=frontdesk&subscribeAll=false"
        async with session.ws_connect(ws_url) as ws:
            pending: set[asyncio.Task[None]] = set()
            async for message in ws:
                task = asyncio.create_task(app.on_event(json.loads(message.data)))
                pending.add(task)
                task.add_done_callback(pending.discard)


def extensions(spec: str) -> list[str]:
    first, _, last = spec.partition("-")
    return [str(n) for n in range(int(first), int(last or first) + 1)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8088/ari")
    parser.add_argument("--user", default="frontdesk")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--agents", type=extensions, default=extensions("3000-3599"))
    parser.add_argument("--keys", type=int, default=2, help="digits before the queue")
    parser.add_argument("--prompt", default="sound:bare-menu", help="the menu's media")
    parser.add_argument("--moh", default="", help="music-on-hold class of the holding bridge")
    asyncio.run(main(parser.parse_args()))
