"""A callback task names the queue the caller kept their place in (the agent page shows
each agent the tasks of their own queues): here, a callback restored after closing time."""

from __future__ import annotations

from datetime import timedelta

from frontdesk.asterisk.ari import AriClient, AriConfig
from frontdesk.calls.events import CallbackTaskRaised, HubEvent
from frontdesk.calls.runtime import CallRuntime
from frontdesk.plan import Plan
from frontdesk.store.records import PendingCallback
from tests.conftest import local

EVENING = local("2026-11-30 20:00")  # billing closed at 16:00


async def test_a_callback_given_up_at_closing_time_is_a_task_of_its_queue(plan: Plan) -> None:
    ari = AriClient(AriConfig("http://127.0.0.1:9/ari", "frontdesk", "unused"))
    runtime = CallRuntime(plan, ari, now=lambda: EVENING)
    acd = runtime.acd
    assert acd is not None
    facts: list[HubEvent] = []
    runtime.hub.add_listener(facts.append)
    runtime.executor.submit = lambda lane, commands: None  # type: ignore[method-assign,assignment]
    try:
        acd.callbacks.take_held()  # as after the first resync
        queued_at = EVENING - timedelta(hours=5)
        acd.restore_callbacks(
            [
                PendingCallback(
                    "W", 1, "pending", "billing", "normal", None, None, "forms", "en",
                    "+13125551007", queued_at, 1, None, False, queued_at,
                )
            ]
        )  # fmt: skip
        tasks = [f for f in facts if isinstance(f, CallbackTaskRaised)]
        assert tasks == [CallbackTaskRaised("W", "forms", "billing")]
    finally:
        acd.close()
        await runtime.close()
        await ari.close()
