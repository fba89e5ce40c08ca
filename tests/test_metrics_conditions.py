"""The scan's posted conditions in the store (SQLite and PostgreSQL): one claim wins however
many replicas race, a failed post gives the claim back, a stale claim can be taken over,
and a resolved condition may be posted again."""

from __future__ import annotations

import threading

from tools.metrics import conditions as mc
from tools.store import Store
from tools.store.metric_conditions import CLAIM_LEASE_S

KEY = "exhaustion:disk:instance=node-3,mountpoint=/data"


def test_one_of_many_racing_replicas_wins_the_claim(store: Store) -> None:
    wins: list[bool] = []
    barrier = threading.Barrier(6)

    def replica() -> None:
        barrier.wait()
        wins.append(mc.claim(store, KEY, "exhaustion", "C-INC", "full in ~19 h", 1000.0))

    threads = [threading.Thread(target=replica) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 5 + [True]
    assert mc.open_conditions(store, "C-INC") == {KEY: (None, "full in ~19 h")}  # in flight: no ts yet


def test_post_update_resolve_and_post_again(store: Store) -> None:
    assert mc.claim(store, KEY, "exhaustion", "C-INC", "a", 1000.0)
    mc.posted(store, KEY, "1700000000.000100", 1000.0)
    assert not mc.claim(store, KEY, "exhaustion", "C-INC", "a", 1001.0)  # open: nobody re-posts
    assert mc.retext(store, KEY, "a", "b", 1002.0) == "1700000000.000100"
    assert mc.retext(store, KEY, "a", "c", 1002.0) is None  # a replica with the old text loses
    assert mc.open_conditions(store, "C-INC") == {KEY: ("1700000000.000100", "b")}
    assert mc.resolve(store, KEY, 1003.0) == ("1700000000.000100", "b")
    assert mc.resolve(store, KEY, 1003.0) is None
    assert mc.open_conditions(store, "C-INC") == {}
    assert mc.claim(store, KEY, "exhaustion", "C-INC", "d", 1004.0)  # back again: a new message


def test_a_failed_post_is_released_and_a_stale_claim_taken_over(store: Store) -> None:
    assert mc.claim(store, KEY, "exhaustion", "C-INC", "a", 1000.0)
    mc.release(store, KEY)
    assert mc.claim(store, KEY, "exhaustion", "C-INC", "a", 1001.0)
    # the replica that claimed crashed before posting: after the lease another may post
    assert not mc.claim(store, KEY, "exhaustion", "C-INC", "a", 1001.0 + CLAIM_LEASE_S / 2)
    assert mc.claim(store, KEY, "exhaustion", "C-INC", "a", 1002.0 + CLAIM_LEASE_S)


def test_a_claim_whose_poster_died_is_unposted_to_the_scan_after_the_lease(store: Store) -> None:
    """Claimed, then the poster crashed before recording the message: within the lease the
    claim counts as in flight; after it the scan sees the condition as new and may claim it."""
    assert mc.claim(store, KEY, "exhaustion", "C-INC", "a", 1000.0)  # ... and the replica dies here
    assert mc.open_conditions(store, "C-INC", 1000.0 + CLAIM_LEASE_S / 2) == {KEY: (None, "a")}
    later = 1001.0 + CLAIM_LEASE_S
    assert mc.open_conditions(store, "C-INC", later) == {}
    assert mc.claim(store, KEY, "exhaustion", "C-INC", "a", later)
    mc.posted(store, KEY, "1700000000.000200", later)
    assert mc.open_conditions(store, "C-INC", later + 10 * CLAIM_LEASE_S) == {KEY: ("1700000000.000200", "a")}


def test_an_expired_claim_of_a_cleared_condition_is_dropped(store: Store) -> None:
    other = "anomaly:payments:errors"
    assert mc.claim(store, KEY, "exhaustion", "C-INC", "a", 1000.0)
    assert mc.claim(store, other, "anomaly", "C-INC", "b", 1000.0)
    assert mc.drop_expired(store, "C-INC", 1000.0 + CLAIM_LEASE_S / 2, keep=set()) == 0  # still in flight
    later = 1001.0 + CLAIM_LEASE_S
    assert mc.drop_expired(store, "C-INC", later, keep={other}) == 1  # `other` is still a finding
    assert mc.open_conditions(store, "C-INC") == {other: (None, "b")}
    assert mc.claim(store, other, "anomaly", "C-INC", "b", later)  # renewed: no longer expired
    assert mc.drop_expired(store, "C-INC", later, keep=set()) == 0
