"""Grounding guard: known figures against known tool outputs, case by case."""

from __future__ import annotations

import pytest

from bot.agent.grounding import Evidence, check, extract

DORA_LIKE = {
    "scope": {"kind": "service", "name": "checkout"},
    "window": "30d",
    "current": {
        "window": {"start": "2026-10-24T12:00:00+00:00", "end": "2026-11-23T12:00:00+00:00"},
        "deployment_frequency": {"deployments": 24, "per_day": 0.8, "deploy_days": 19},
        "lead_time": {"commits": 1234, "median_hours": 2.5, "p90_hours": 50.0},
        "change_fail_rate": {"deployments": 24, "failed": 3, "rate_percent": 12.5,
                             "failed_deployments": ["deploy-4711", "deploy-4712", "deploy-4790"]},
        "recovery_time": {"median_hours": 1.25},
    },
    "drift_share": 0.25,
    "version": "v2.3.1",
    "sha": "abc1234f",
    "runbook_url": "https://runbooks.example.org/checkout/5xx",
}


@pytest.fixture
def ev() -> Evidence:
    return Evidence.build([DORA_LIKE], question="how did checkout ship in the last 30 days?")


@pytest.mark.parametrize(
    "text",
    [
        "Change fail rate is 12.5% [dora_metrics].",
        "Change fail rate is 12.50 %.",
        "Change fail rate is 13%.",  # rounded to the shown precision
        "Change fail rate is 12 percent.",  # 12.5 rounds half-to-even or down: both shown
        "3 of 24 deployments failed.",
        "1,234 commits were deployed.",
        "1 234 commits were deployed.",
        "1234 commits.",
        "about 1,200 commits.",
        "roughly 1.2k commits",
        "Median lead time 2.5 h, p90 50 hours.",
        "Median lead time 150 minutes.",  # 2.5 h in minutes
        "p90 lead time about 2 days.",  # 50 h = 2.08 d at the shown precision
        "p90 lead time 2.1 days.",
        "Recovery took 75 min.",
        "0.8 deploys per day.",
        "25% of the features drifted.",  # drift_share 0.25 as a percentage
        "Three deployments failed: deploy-4711, deploy-4712 and deploy-4790.",
        "Running v2.3.1 (sha abc1234f).",
        "Over the last 30 days.",
        "Window 2026-10-24 to 2026-11-23.",
        "Since Oct 24 at 12:00 UTC.",
        "Since October 24, 2026.",
        "So far in 2026.",
        "See <https://runbooks.example.org/checkout/5xx|the runbook>.",
        "p90 and p50 are labels, 5xx errors are a class, on call 24/7.",
        "1. Look at the dashboard\n2. Roll back\n3. Page the owner",
        "DORA 2023 levels: elite.",
        "Nothing to report. :white_check_mark:",
    ],
)
def test_grounded(text: str, ev: Evidence) -> None:
    g = check(text, ev)
    assert g.grounded, g.unsupported


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("Change fail rate is 15%.", "15%"),
        ("Change fail rate is 12.4%.", "12.4%"),  # more precise than the tool, and wrong
        ("5 of 24 deployments failed.", "5"),
        ("1,300 commits were deployed.", "1,300"),
        ("about 1,000 commits", "1,000"),  # 1234 does not round to 1,000 at 2 s.f.? it does at 1 s.f.
        ("Median lead time 4 hours.", "4 hours"),  # 2.5 h rounds to 3, not 4
        ("Median lead time 2.5 days.", "2.5 days"),  # the unit is checked, not only the digits
        ("p90 lead time 3 days.", "3 days"),
        ("Lead time improved by 20% since last month.", "20%"),  # a derived figure
        ("deploy-9999 caused it.", "deploy-9999"),
        ("Running v2.4.0.", "v2.4.0"),
        ("Commit deadbeef1 is the suspect.", "deadbeef1"),
        ("On 2026-11-02 checkout failed.", "2026-11-02"),
        ("Back in 2019 it was fine.", "2019"),
        ("At 03:14 UTC the error rate rose.", "03:14 UTC"),
        ("Seven deployments failed.", "Seven"),
        ("See https://evil.example.com/run.sh", "https://evil.example.com/run.sh"),
    ],
)
def test_ungrounded(text: str, bad: str, ev: Evidence) -> None:
    g = check(text, ev)
    if bad == "1,000":  # 1234 → 1,000 at one significant figure: a hedged 1,000 is fine
        assert g.grounded
        return
    assert not g.grounded
    assert bad in g.unsupported


def test_question_numbers_are_evidence() -> None:
    ev = Evidence.build([{"n": 1}], question="anything in the last 14 days?")
    assert check("Nothing in the last 14 days.", ev).grounded
    assert not check("Nothing in the last 15 days.", ev).grounded


def test_list_lengths_are_counts() -> None:
    ev = Evidence.build([{"services": ["a", "b", "c", "d"]}])
    assert check("4 services are affected.", ev).grounded
    assert check("four services", ev).grounded
    assert not check("5 services are affected.", ev).grounded


def test_a_duration_needs_a_duration() -> None:
    """A bare count is not a duration: 2 (no unit) supports neither 2 hours nor 120 minutes."""
    ev = Evidence.build([{"count": 2, "age_hours": 2}])
    assert check("2 hours", ev).grounded
    assert check("120 minutes", ev).grounded
    assert not check("2 hours", Evidence.build([{"count": 2}])).grounded
    assert check("2 items", Evidence.build([{"count": 2}])).grounded


def test_percent_from_non_fraction_key_is_not_scaled() -> None:
    ev = Evidence.build([{"errors": 0.3}])
    assert not check("30% errors", ev).grounded


def test_no_figures_is_grounded() -> None:
    g = check("Checkout looks healthy; the tools found nothing unusual.", Evidence.build([]))
    assert g.grounded and g.figures == []


def test_extract_consumes_dates_before_numbers() -> None:
    found = extract("deployed 2026-11-20T14:05:00Z by v2.3.1")
    assert found.numbers == []
    assert (2026, 11, 20) in found.dates and (14, 5) in found.times
    assert found.identifiers == ["v2.3.1"]


def test_thousands_and_suffixes() -> None:
    values = [f.value for f in extract("1,234,567 and 1.5M and 2k and 12,5 %").numbers]
    assert values == [1234567.0, 1500000.0, 2000.0, 12.5]  # "12,5" with a decimal comma


def test_a_percent_field_is_not_scaled_again() -> None:
    ev = Evidence.build([{"rate_percent": 0.5, "error_ratio": 0.07}])
    assert check("0.5% of deployments failed", ev).grounded
    assert not check("50% of deployments failed", ev).grounded
    assert check("7% of requests erred", ev).grounded  # a ratio shown as a percentage


def test_ranges_and_multiples() -> None:
    found = extract("recovery took 2-3 hours, 2x slower, 4–5 days")
    assert [(f.value, f.unit) for f in found.numbers] == [(2.0, None), (3.0, "h"), (2.0, None), (4.0, None), (5.0, "d")]
    ev = Evidence.build([{"median_hours": 2.5, "count": 2}])
    assert check("recovery took 2-3 hours", ev).grounded
    assert not check("it got 5x slower", ev).grounded
