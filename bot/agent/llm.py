"""The LLM edge: a ChatOpenAI for any OpenAI-compatible endpoint, and what its answers cost."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage

from bot.agent.models import Usage
from tools.settings import Settings

# OpenAI list prices, USD per million tokens (input, output), November 2026; override with
# TRIOPS_LLM_PRICE_IN / TRIOPS_LLM_PRICE_OUT for other models, providers or discounts.
LIST_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
}


def make_chat_model(settings: Settings, *, timeout: float | None = None) -> BaseChatModel:
    """ChatOpenAI from settings; works with OpenAI, Azure's v1 API, vLLM, Ollama, LiteLLM."""
    from langchain_openai import ChatOpenAI

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
    return ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.openai_base_url,
        api_key=key,
        timeout=timeout or settings.llm_timeout,
        max_retries=1,
        temperature=0,
        stream_usage=True,
    )


def prices(settings: Settings) -> tuple[float, float] | None:
    if settings.llm_price_in is not None and settings.llm_price_out is not None:
        return settings.llm_price_in, settings.llm_price_out
    model = settings.llm_model.lower()
    for name in sorted(LIST_PRICES, key=len, reverse=True):  # longest prefix wins
        if model == name or model.startswith(name + "-20"):
            return LIST_PRICES[name]
    return None


def cost(input_tokens: int, output_tokens: int, price: tuple[float, float] | None) -> float | None:
    if price is None:
        return None
    return round((input_tokens * price[0] + output_tokens * price[1]) / 1_000_000, 8)


def usage_of(messages: Iterable[BaseMessage], settings: Settings) -> Usage:
    """Sum the usage metadata of the model's messages (OpenAI's `usage` on each response)."""
    tin = tout = calls = 0
    for m in messages:
        if isinstance(m, AIMessage):
            calls += 1
            meta: Any = m.usage_metadata or {}
            tin += int(meta.get("input_tokens", 0) or 0)
            tout += int(meta.get("output_tokens", 0) or 0)
    return Usage(
        model=settings.llm_model,
        input_tokens=tin,
        output_tokens=tout,
        llm_calls=calls,
        cost_usd=cost(tin, tout, prices(settings)),
    )
