"""The template miner on hand-made messages with known templates, and the GA measure."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tools.alerts.templates import TemplateMiner, tokenize


def _bench_loghub():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_loghub", Path(__file__).parents[1] / "bench" / "loghub.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tokens_with_digits_and_paths_are_variables() -> None:
    assert tokenize("Disk /var/lib/docker at 91% on host-12, node=ip-10-0-0-7") == [
        "Disk", "<PATH>", "at", "<*>", "on", "<*>", "node", "<*>",
    ]


def test_known_templates_are_recovered_with_stable_ids() -> None:
    m = TemplateMiner()
    msgs = [
        "PacketResponder 1 for block blk_38865049064139660 terminating",
        "Received block blk_-1608999687919862906 of size 91178 from /10.250.10.6",
        "PacketResponder 0 for block blk_-6952295868487656571 terminating",
        "Connection refused by upstream payments after 3 retries",
        "Received block blk_8229193803249955061 of size 67108864 from /10.251.111.130",
        "Connection refused by upstream inventory after 5 retries",
    ]
    ids = [m.add(x) for x in msgs]
    assert ids == [0, 1, 0, 2, 1, 2]
    assert m.template(0) == "PacketResponder <*> for block <*> terminating"
    assert m.template(2) == "Connection refused by upstream <*> after <*> retries"
    assert m.match("PacketResponder 2 for block blk_1 terminating") == 0
    assert m.match("Something else entirely") is None
    assert m.templates[0].size == 2


def test_grouping_accuracy_counts_only_exact_groups() -> None:
    ga = _bench_loghub().grouping_accuracy
    assert ga(["a", "a", "b", "b"], [1, 1, 2, 2]) == 1.0
    assert ga(["a", "a", "b", "b"], [1, 1, 1, 1]) == 0.0  # merged: no line is right
    assert ga(["a", "a", "b", "c"], [1, 1, 2, 2]) == 0.5  # the a-group is exact, b+c is not
