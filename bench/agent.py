"""Agent benchmark: planner start-up and routing speed, and grounding-check speed.

Baseline for start-up: the same features with scikit-learn's LogisticRegression (lbfgs),
the obvious first choice, against the SGD-fitted logistic model the planner uses.
Run: python bench/agent.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from bot.agent import eval_world
from bot.agent.grounding import Evidence, check
from bot.agent.planner import IntentFile, Planner, template_text
from bot.capabilities import capabilities


def timed(fn, n: int = 5) -> float:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main() -> None:
    ctx = eval_world.open_world()
    reg = capabilities().registry()
    spec = IntentFile.of(capabilities())
    texts = [template_text(e) for i in spec.intents for e in i.examples]
    labels = [i.name for i in spec.intents for _ in i.examples]
    planner = Planner(reg, ctx)
    sgd = timed(lambda: clone(planner.model).fit(texts, labels))
    lr_model = clone(planner.model)
    lr_model.steps[-1] = ("lr", LogisticRegression(C=20.0, max_iter=2000))
    lr = timed(lambda: clone(lr_model).fit(texts, labels), n=3)
    print(f"intent model training on {len(texts)} examples: SGD logistic {sgd * 1000:.0f} ms; "
          f"baseline LogisticRegression(lbfgs) {lr * 1000:.0f} ms; ratio {lr / sgd:.1f}x")

    cases = yaml.safe_load((Path(__file__).parent / "agent_eval.yaml").read_text())["cases"]
    qs = [c["question"] for c in cases]
    per = timed(lambda: [planner.route(q) for q in qs]) / len(qs)
    print(f"routing: {per * 1000:.2f} ms per question (median of 5 passes over {len(qs)} questions)")
    ans = planner.answer("how did checkout ship in the last 30 days?")
    ev = Evidence.build([c.output.model_dump(mode="json") for c in ans.calls])
    text = "Checkout shipped 10 deployments in the last 30 days; change fail rate 20% (2 of 10), median lead time 5 h [dora_metrics]."
    g = timed(lambda: check(text, ev), n=50)
    b = timed(lambda: Evidence.build([c.output.model_dump(mode="json") for c in ans.calls]), n=50)
    print(f"grounding: evidence from one DORA report {b * 1000:.2f} ms, check of a 5-figure answer {g * 1000:.2f} ms")


if __name__ == "__main__":
    main()
