"""The no-LLM planner: keywords plus a small intent model pick the tools, slots fill them.

The intent model (TF-IDF word and character n-grams, a logistic model fitted by SGD) trains
at start-up in about a tenth of a second on the example utterances of every capability's
intents (bot/capabilities/*.yaml) plus the planner's own (help, smalltalk: `intents.yaml`).
Questions are normalised first — known services, teams, models and time phrases become
placeholders — so the model learns the shape of a question, not the names in it. A new tool
family is a new capability with its intents; nothing here changes.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, Field
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import FeatureUnion, make_pipeline

import prompts
from bot.agent.models import AgentAnswer, ToolCallRecord
from bot.agent.slots import (
    Slots,
    Vocabulary,
    extract_slots,
    fill_args,
    lookup,
    missing_required,
    normalise,
    resolve,
)
from tools.contract import Tool, ToolContext, ToolRegistry
from tools.conversations import Turn
from tools.names import known_names

if TYPE_CHECKING:
    from bot.capabilities import Capabilities

INTENTS_FILE = Path(__file__).with_name("intents.yaml")
_PLACEHOLDERS = {"{service}": "SERVICE", "{team}": "TEAM", "{model}": "MODEL", "{window}": "WINDOW",
                 "{incident}": "INCIDENT", "{alert}": "ALERT"}
KEYWORD_WEIGHT = 0.25
MAX_FAN_OUT = 5
MIN_CONFIDENCE = 0.30
NO_TOOL_INTENTS = ("help", "smalltalk")
FOR_EACH = ("service", "team", "model")  # slots a step may take each known name of
VOCABULARY_MAX_AGE = 60.0  # seconds: names arrive with data, a minute late is fine
FOLLOW_UP_RE = re.compile(r"^\s*(?:and|what about|how about|same (?:for|with)|also|now|then|ok,? (?:and|what about))\b", re.I)


class ToolStep(BaseModel):
    tool: str  # a registered tool's name
    args: dict[str, str | None] | None = None  # null: never fill that field
    name: str | None = None  # what later steps call this step's output ("{name.path}")
    when: str | None = None  # run only if this slot/output reference has a value
    unless: str | None = None  # skip if this slot/output reference has a value
    for_each: str | None = None  # slot that, when not named, is each known name in turn (max 5)


class Intent(BaseModel):
    name: str
    title: str
    capability: str | None = None  # who declared it (None: the planner's own)
    tools: list[ToolStep] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    requires: list[str] = Field(default_factory=list)  # slots without which it is never chosen
    boost: list[str] = Field(default_factory=list)  # slots that, when present, point to it
    summary: list[str] = Field(default_factory=list)  # lines over the outputs; kept when all resolve
    examples: list[str] = Field(min_length=3)


class IntentFile(BaseModel):
    intents: list[Intent]

    @classmethod
    def parse(cls, raw: dict[str, Any], capability: str | None = None) -> IntentFile:
        """{name: spec} as written in an intents file (or a capability's inline dict)."""
        intents = []
        for name, body in raw.items():
            steps = [ToolStep(tool=step["tool"], args=step.get("args"), name=step.get("as"),
                              when=step.get("when"), unless=step.get("unless"), for_each=step.get("for_each"))
                     for step in body.get("tools") or []]
            intents.append(Intent(name=name, capability=capability, **{**body, "tools": steps}))
        return cls(intents=intents)

    @classmethod
    def load(cls, path: Path = INTENTS_FILE) -> IntentFile:
        """The planner's own intents (help, smalltalk)."""
        return cls.parse(yaml.safe_load(path.read_text())["intents"])

    @classmethod
    def of(cls, caps: Capabilities, own: Path = INTENTS_FILE) -> IntentFile:
        """Every capability's intents, in capability order, then the planner's own."""
        intents: list[Intent] = []
        for cap in caps:
            intents += cls.parse(cap.intent_specs, cap.name).intents
        intents += cls.load(own).intents
        seen: dict[str, str | None] = {}
        for i in intents:
            if i.name in seen:
                raise ValueError(f"intent {i.name!r} declared twice ({seen[i.name] or 'planner'}, "
                                 f"{i.capability or 'planner'})")
            seen[i.name] = i.capability
        return cls(intents=intents)


def template_text(example: str) -> str:
    out = example.lower()
    for ph, token in _PLACEHOLDERS.items():
        out = out.replace(ph, f" {token} ")
    return re.sub(r"\s+", " ", out).strip()


@dataclass
class Route:
    intent: str
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)
    slots: Slots | None = None


class Planner:
    def __init__(
        self,
        registry: ToolRegistry,
        ctx: ToolContext,
        intents: IntentFile | None = None,
        *,
        capabilities: Capabilities | None = None,
        vocabulary: Vocabulary | None = None,
    ):
        """Intents from `intents`, else from `capabilities` (default: the process's)."""
        if intents is None:
            if capabilities is None:
                from bot.capabilities import capabilities as default_capabilities

                capabilities = default_capabilities()
            intents = IntentFile.of(capabilities)
        self.registry = registry
        self.ctx = ctx
        self.spec = intents
        self.intents = {i.name: i for i in self.spec.intents}
        self.tools = self._check(self.spec, registry)
        self._labels = [i.name for i in self.spec.intents]
        started = time.perf_counter()
        texts = [template_text(e) for i in self.spec.intents for e in i.examples]
        labels = [i.name for i in self.spec.intents for _ in i.examples]
        self.model = make_pipeline(
            FeatureUnion([
                ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True,
                                          token_pattern=r"(?u)\b\w+\b")),
                ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)),
            ]),
            # logistic loss by SGD: probabilities like logistic regression, trained in ~50 ms
            SGDClassifier(loss="log_loss", alpha=1e-4, max_iter=50, tol=None, random_state=0),
        )
        self.model.fit(texts, labels)
        self.train_ms = (time.perf_counter() - started) * 1000
        self._keyword_res = {
            i.name: [re.compile(r"(?<!\w)" + re.escape(k.lower()) + r"(?!\w)") for k in i.keywords]
            for i in self.spec.intents
        }
        self._fixed_vocab = vocabulary  # tests and evals; otherwise the store's names
        self._vocab: Vocabulary | None = vocabulary
        self._vocab_at = 0.0

    @staticmethod
    def _check(spec: IntentFile, registry: ToolRegistry) -> dict[str, Tool]:
        """The tools the steps name, loaded: a step naming a tool that is not registered, or
        one that changes a system, is a wrong declaration and stops the start."""
        tools: dict[str, Tool] = {}
        for i in spec.intents:
            where = f"intent {i.name!r}" + (f" of capability {i.capability}" if i.capability else "")
            for step in i.tools:
                if step.tool not in registry:
                    raise ValueError(f"{where}: step tool {step.tool!r} is not registered "
                                     f"(registered: {', '.join(sorted(registry.names()))})")
                t = registry.get(step.tool)
                if t.mutates:
                    raise ValueError(f"{where}: {step.tool} changes a system; the planner only reads")
                if step.for_each is not None and step.for_each not in FOR_EACH:
                    raise ValueError(f"{where}: for_each {step.for_each!r} is not one of {', '.join(FOR_EACH)}")
                tools[t.name] = t
        return tools

    # --- understanding ------------------------------------------------------------------
    def vocabulary(self, max_age: float = VOCABULARY_MAX_AGE) -> Vocabulary:
        """The names to recognise: read again when older than `max_age` seconds."""
        if self._fixed_vocab is not None:
            return self._fixed_vocab
        if self._vocab is None or time.monotonic() - self._vocab_at > max_age:
            self._vocab = known_names(self.ctx)
            self._vocab_at = time.monotonic()
        return self._vocab

    def route(self, question: str) -> Route:
        slots = extract_slots(question, self.vocabulary(), self.ctx.now())
        text = normalise(question, slots)
        proba = self.model.predict_proba([text])[0]
        classes = list(self.model.classes_)
        scores = {str(c): float(p) for c, p in zip(classes, proba, strict=True)}
        low = question.lower()
        for name, res in self._keyword_res.items():
            hits = sum(1 for r in res if r.search(low))
            scores[name] = scores.get(name, 0.0) + KEYWORD_WEIGHT * min(hits, 2)
        have = slots.as_dict()
        for i in self.spec.intents:  # "show incident X" needs an X, and an X points to it
            if i.requires and not all(have.get(r) for r in i.requires):
                scores[i.name] = 0.0
                continue
            if any(have.get(b) for b in [*i.requires, *i.boost]):
                scores[i.name] = scores.get(i.name, 0.0) + KEYWORD_WEIGHT
        best = max(scores, key=scores.__getitem__)
        total = sum(scores.values()) or 1.0
        confidence = scores[best] / total
        if confidence < MIN_CONFIDENCE and scores[best] < 0.5:
            best = "help"
        return Route(intent=best, confidence=round(confidence, 3), scores=scores, slots=slots)

    def summary(self, intent: Intent, route: Route, calls: list[ToolCallRecord]) -> list[str]:
        """The intent's summary lines whose every reference has a value in this answer."""
        assert route.slots is not None
        values = route.slots.as_dict()
        outputs = {c.tool: c.output.model_dump(mode="json") for c in calls if c.output is not None}
        for step in intent.tools:  # the names steps gave their outputs
            for c in calls:
                if step.name and c.output is not None and c.tool == step.tool:
                    outputs[step.name] = outputs[c.tool]
        lines = []
        for line in intent.summary:
            refs = [r.removeprefix("?") for r in re.findall(r"\{([^{}]+)\}", line)]
            if all(lookup(r, values, outputs) is not None for r in refs):  # "{?ref}": a condition only
                lines.append(resolve(re.sub(r"\{\?[^{}]+\}", "", line), values, outputs))
        return lines

    def run_steps(self, route: Route) -> list[ToolCallRecord]:
        """Run the intent's steps in order; a step may use slots and earlier steps' outputs.

        A step whose `when`/`unless` says so, or whose required fields nothing could fill, is
        skipped rather than called to fail.
        """
        intent = self.intents[route.intent]
        assert route.slots is not None
        values = route.slots.as_dict()
        outputs: dict[str, Any] = {}
        calls: list[ToolCallRecord] = []
        for step in intent.tools:
            t = self.tools[step.tool]
            if step.when and lookup(step.when, values, outputs) is None:
                continue
            if step.unless and lookup(step.unless, values, outputs) is not None:
                continue
            variants = [route.slots]
            if step.for_each and not values.get(step.for_each):
                known = self.vocabulary().of_kind(step.for_each)[:MAX_FAN_OUT]
                variants = []
                for name in known:
                    named: dict[str, Any] = {step.for_each: name}
                    variants.append(replace(route.slots, **named))
            for slots in variants:
                args = fill_args(t.input_model, slots, step.args, self.ctx.now(), outputs)
                if missing_required(t.input_model, args):
                    continue
                record = self._call(t, args)
                calls.append(record)
                if record.output is not None:
                    dumped = record.output.model_dump(mode="json")
                    outputs[t.name] = dumped
                    if step.name:
                        outputs[step.name] = dumped
        return calls

    def _call(self, t: Tool, args: dict[str, Any]) -> ToolCallRecord:
        return ToolCallRecord.of(t.run(self.ctx, args), by="planner")

    # --- answering ----------------------------------------------------------------------
    def follow_up(self, question: str, route: Route, previous: Turn | None) -> Route:
        """"and payments?" after a DORA answer: the same intent, the new names, the old window."""
        if previous is None or previous.intent not in self.intents or previous.intent in NO_TOOL_INTENTS:
            return route
        slots = route.slots
        assert slots is not None
        mentions = bool(slots.scope or slots.model or slots.window)
        looks_like = bool(FOLLOW_UP_RE.search(question)) or (route.intent in NO_TOOL_INTENTS and mentions)
        # "and payments?" has no words of its own intent: the thread's intent carries on
        own_words = any(r.search(question.lower()) for r in self._keyword_res.get(route.intent, []))
        if not looks_like or (route.intent not in NO_TOOL_INTENTS and route.intent != previous.intent
                              and route.confidence >= 0.5 and own_words):
            return route
        if slots.window is None and previous.slots.get("window"):
            slots.window = previous.slots["window"]
            slots.window_phrase = previous.slots.get("window_phrase") or f"over {slots.window}"
        if not (slots.scope or slots.model):
            slots.service = previous.slots.get("service")
            slots.services = [slots.service] if slots.service else []
            slots.team = previous.slots.get("team")
            slots.model = previous.slots.get("model")
        return Route(intent=previous.intent, confidence=route.confidence, scores=route.scores, slots=slots)

    def ranked_tools(self, route: Route) -> list[str]:
        """The tools of the intents in the order the route scores them (best first): the
        compact tool set a small-context model is offered."""
        out: list[str] = []
        for name in sorted(route.scores, key=route.scores.__getitem__, reverse=True):
            spec = self.intents.get(name)
            for step in spec.tools if spec else []:
                if step.tool not in out:
                    out.append(step.tool)
        return out

    def intent_of_tool(self, name: str) -> str | None:
        """The first intent whose first step calls tool `name` (to label an LLM turn)."""
        return next((i.name for i in self.spec.intents if i.tools and i.tools[0].tool == name), None)

    def answer(self, question: str, previous: Turn | None = None, *, intent: str | None = None) -> AgentAnswer:
        """Answer one question; `intent` forces the route (auto-triage knows what it asks)."""
        started = time.perf_counter()
        route = self.route(question)
        if intent is not None and intent in self.intents:
            route = Route(intent=intent, confidence=1.0, scores=route.scores, slots=route.slots)
        else:
            route = self.follow_up(question, route, previous)
        spec = self.intents[route.intent]
        calls = self.run_steps(route)
        text = self._intro(route, spec, calls)
        slots = route.slots
        assert slots is not None
        kept = {"service": slots.service, "team": slots.team, "model": slots.model,
                "window": slots.window, "window_phrase": slots.window_phrase}
        return AgentAnswer(
            question=question,
            text=text,
            path="planner",
            intent=route.intent,
            slots={k: v for k, v in kept.items() if v},
            calls=calls,
            latency_ms=(time.perf_counter() - started) * 1000,
            render_outputs=True,
        )

    def _intro(self, route: Route, intent: Intent, calls: list[ToolCallRecord]) -> str:
        if intent.name in NO_TOOL_INTENTS or not intent.tools:
            return prompts.render("planner_intro", intent=intent.name, examples=self.examples())
        if not calls:  # nothing named and nothing known to go through: say what is known
            kind = next((s.for_each for s in intent.tools if s.for_each), None)
            return prompts.render("planner_intro", intent="missing", title=intent.title,
                                  known=self.vocabulary().of_kind(kind)[:10] if kind else [])
        slots = route.slots
        assert slots is not None
        return prompts.render(
            "planner_intro",
            intent=intent.name,
            title=intent.title,
            scope=slots.scope or slots.model,
            window=slots.window_phrase if slots.window else None,
            tools=[c.tool for c in calls],
            summary=self.summary(intent, route, calls),
        )

    def examples(self) -> list[str]:
        """One example question per intent that calls a tool."""
        out = []
        vocab = self._vocab or Vocabulary()
        fill = {"{service}": (vocab.services or ["checkout"])[0], "{team}": (vocab.teams or ["payments"])[0],
                "{model}": (vocab.models or ["ranking"])[0], "{window}": "this month"}
        for i in self.spec.intents:
            if i.name in NO_TOOL_INTENTS or not i.tools:
                continue
            ex = i.examples[0]
            for ph, v in fill.items():
                ex = ex.replace(ph, v)
            out.append(ex)
        return out


def routing_accuracy(planner: Planner, labelled: list[tuple[str, str]]) -> tuple[float, list[tuple[str, str, str]]]:
    """Share of questions routed to their labelled intent, and the misses."""
    misses = []
    for q, want in labelled:
        got = planner.route(q).intent
        if got != want:
            misses.append((q, want, got))
    return 1 - len(misses) / max(1, len(labelled)), misses


__all__ = ["Intent", "IntentFile", "Planner", "Route", "routing_accuracy"]
