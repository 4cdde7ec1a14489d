"""Admission control: when new calls are shed, and when they are taken again."""

from __future__ import annotations

import pytest

from frontdesk.calls.admission import (
    DIALPLAN_REFRESH,
    SHED_GLOBAL,
    URGENT_GLOBAL,
    Admission,
    AdmissionGate,
    Limits,
)

LIMITS = Limits(max_channels=10, loop_lag=0.2, event_delay=1.0, ari_latency=1.0, increase_per_s=0.1)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make() -> tuple[Admission, Clock]:
    clock = Clock()
    return Admission(clock, LIMITS), clock


def test_a_healthy_daemon_admits_every_call_under_capacity() -> None:
    admission, _ = make()
    admission.observe_loop_lag(0.01)
    admission.observe_ari_latency(0.02)
    assert all(admission.admit(n).admitted for n in range(10))
    assert admission.shed == {}


def test_capacity_is_a_plain_cap_and_urgent_calls_get_headroom() -> None:
    admission, _ = make()
    verdict = admission.admit(10)
    assert (verdict.admitted, verdict.reason) == (False, "max_channels")
    assert admission.admit(10, urgent=True).admitted  # up to 10 x 1.5
    assert not admission.admit(15, urgent=True).admitted
    assert admission.admit(9).admitted  # one call ended: room for one, at once
    assert admission.shed == {"max_channels": 2}


def test_past_a_limit_the_share_taken_halves_each_second_and_holds_near_the_limit() -> None:
    admission, clock = make()
    for _ in range(20):
        admission.observe_loop_lag(0.5)
    assert admission.admit(0).reason == "loop_lag"
    assert admission.overloaded
    assert admission.admit_ratio == 0.5  # halved at once
    assert [admission.admit(0).admitted for _ in range(5)] == [True, False, True, False, True]
    admission.tick()
    assert admission.admit_ratio == 0.5  # not again within `decrease_every`
    clock.t += 1.0
    admission.observe_loop_lag(0.5)
    admission.tick()
    assert admission.admit_ratio == 0.25  # still past its limit a second later
    for _ in range(40):
        admission.observe_loop_lag(0.15)  # under the limit, not yet under 60 % of it
    clock.t += 3.0
    admission.tick()
    assert admission.admit_ratio == 0.25  # near the limit: held
    taken = [admission.admit(0).admitted for _ in range(8)]
    assert taken.count(True) == 2  # one call in four


def test_calm_raises_the_share_and_overload_ends_with_every_call_taken() -> None:
    admission, clock = make()
    for _ in range(20):
        admission.observe_loop_lag(0.5)
    admission.tick()
    clock.t += 1.0
    admission.tick()
    assert admission.admit_ratio == 0.25
    for _ in range(40):
        admission.observe_loop_lag(0.01)  # calm: under 60 % of the limit
    admission.tick()
    clock.t += 2.0
    admission.tick()
    assert admission.admit_ratio == pytest.approx(0.45)  # + 0.1 a second
    clock.t += 3.0
    admission.tick()
    assert admission.overloaded  # calm for 5 s, but a quarter of the calls still shed
    assert admission.admit_ratio == pytest.approx(0.75)
    clock.t += 2.5
    assert not admission.tick()  # every call taken again
    assert admission.admit_ratio == 1.0
    assert admission.admit(0).admitted


def test_a_signal_past_its_limit_again_halves_the_share_again() -> None:
    admission, clock = make()
    for _ in range(20):
        admission.observe_loop_lag(0.5)
    admission.tick()
    for _ in range(40):
        admission.observe_loop_lag(0.01)
    admission.tick()
    clock.t += 4.0
    admission.tick()
    assert admission.admit_ratio == pytest.approx(0.9)
    for _ in range(20):
        admission.observe_loop_lag(0.5)  # the calls let in were too many after all
    admission.tick()
    assert admission.admit_ratio == pytest.approx(0.45)


def test_urgent_calls_are_admitted_while_overloaded_within_headroom() -> None:
    admission, _ = make()
    for _ in range(20):
        admission.observe_ari_latency(1.2)  # past 1.0, under 1.5
    assert not admission.admit(0).admitted
    assert admission.admit(0, urgent=True).admitted
    for _ in range(20):
        admission.observe_ari_latency(3.0)
    assert not admission.admit(0, urgent=True).admitted


def test_event_delay_is_measured_above_the_usual_so_clock_skew_cancels_out() -> None:
    admission, clock = make()
    for _ in range(50):
        admission.observe_event_delay(7.0)  # Asterisk's clock 7 s behind: the usual
        clock.t += 0.1
    assert admission.admit(0).admitted
    for _ in range(30):
        admission.observe_event_delay(9.5)  # 2.5 s of backlog on top
        clock.t += 0.1
    assert admission.admit(0).reason == "event_delay"


def test_the_baseline_forgets_a_minimum_older_than_a_minute() -> None:
    admission, clock = make()
    admission.observe_event_delay(0.0)
    clock.t += 61
    for _ in range(30):
        admission.observe_event_delay(3.0)  # the new usual (a clock step)
        clock.t += 0.1
    assert admission.admit(0).admitted


def test_a_signal_without_samples_for_long_reads_zero() -> None:
    admission, clock = make()
    for _ in range(20):
        admission.observe_ari_latency(4.0)
    assert admission.tick()
    clock.t += 11  # no request since: nothing is waiting on Asterisk
    assert admission.signals()["ari_latency"] == 0.0
    assert admission.tick()  # calm starts now ...
    clock.t += 5
    assert not admission.tick()  # ... and lasts: overload over, without a new call


def test_one_stalled_request_is_not_an_overload_four_in_a_row_are() -> None:
    admission, _ = make()
    for _ in range(10):
        admission.observe_ari_latency(0.01)
    admission.observe_ari_latency(5.0)  # one request timed out
    assert admission.admit(0).admitted
    for _ in range(3):
        admission.observe_ari_latency(5.0)
    assert admission.admit(0).reason == "ari_latency"


def test_a_lasting_backlog_of_requests_sheds_a_burst_does_not() -> None:
    admission, clock = make()  # ari_backlog limit: 64 (the default)
    for _ in range(20):
        assert admission.admit(0, backlog=5).admitted
    assert admission.admit(0, backlog=200).admitted  # one burst: the mean moves to ~43
    for _ in range(10):
        admission.tick(backlog=100)  # a backlog that lasts
    assert admission.admit(0, backlog=100).reason == "ari_backlog"
    for _ in range(30):
        admission.tick(backlog=5)
    assert admission.tick(backlog=5)  # calm now, not yet for long enough
    clock.t += 5.1
    assert not admission.tick(backlog=5)


def gate(urgent: frozenset[str] = frozenset()) -> tuple[AdmissionGate, Clock]:
    admission, clock = make()
    return AdmissionGate(admission, urgent, "US"), clock


def overload(admission: Admission) -> None:
    for _ in range(20):
        admission.observe_loop_lag(0.5)
    admission.tick()


def test_the_dialplan_sheds_the_share_and_urgent_numbers_are_marked_first() -> None:
    door, clock = gate(frozenset({"+13125550911"}))
    assert door.dialplan_globals() == [(SHED_GLOBAL, "0")]  # at start: take every call
    assert door.dialplan_globals() == []  # nothing new
    overload(door.admission)
    assert door.dialplan_globals() == [
        (URGENT_GLOBAL + "13125550911", "1"),  # both forms a trunk may send, before the share
        (URGENT_GLOBAL + "3125550911", "1"),
        (SHED_GLOBAL, "50"),  # half the new calls
    ]
    assert door.dialplan_globals() == []
    clock.t += 1.0
    overload(door.admission)
    assert door.dialplan_globals()[-1] == (SHED_GLOBAL, "75")  # changed: sent at once
    clock.t += DIALPLAN_REFRESH  # the same again: a `dialplan reload` clears globals
    for _ in range(40):
        door.admission.observe_loop_lag(0.15)  # held: between 60 % and 100 % of the limit
    door.admission.tick()
    assert door.dialplan_globals()[-1] == (SHED_GLOBAL, "75")
    for _ in range(40):
        door.admission.observe_loop_lag(0.0)
    door.admission.tick()
    clock.t += 10.0
    door.admission.tick()
    clock.t += LIMITS.resume_after
    door.admission.tick()
    assert not door.admission.overloaded
    assert door.dialplan_globals() == [(SHED_GLOBAL, "0")]


def test_after_a_reconnect_the_share_is_sent_at_once() -> None:
    door, _ = gate()
    door.dialplan_globals()
    assert door.dialplan_globals() == []
    door.forget_dialplan()
    assert door.dialplan_globals() == [(SHED_GLOBAL, "0")]


def test_calls_the_dialplan_shed_are_counted_and_logged_once_per_interval() -> None:
    door, clock = gate()
    assert door.shed_in_dialplan() == (True, 0)
    assert door.shed_in_dialplan() == (False, 0)
    assert door.shed_in_dialplan() == (False, 0)
    clock.t += door.log_every
    assert door.shed_in_dialplan() == (True, 2)
    assert door.admission.shed == {"dialplan": 4}
