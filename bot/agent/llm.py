"""The LLM edge: a ChatOpenAI for any OpenAI-compatible endpoint, and what its answers cost."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
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


class LLMTimeout(TimeoutError):
    """The answer's time ran out while the model was still generating."""


class Deadline(BaseCallbackHandler):
    """Raises at the first streamed token after the deadline: the stream is closed there, so
    the server sees the client go and stops generating (llama.cpp, vLLM and Ollama do)."""

    raise_error = True

    def __init__(self, seconds: float):
        self.at = time.monotonic() + seconds

    def on_llm_new_token(self, token: Any, **kwargs: Any) -> None:
        if time.monotonic() > self.at:
            raise LLMTimeout("the answer's time budget ran out during generation")


def openai_hosted(settings: Settings) -> bool:
    """OpenAI itself (or Azure's v1 API), which takes max_completion_tokens; self-hosted
    servers (llama.cpp, Ollama, older vLLM) read max_tokens and ignore the newer name."""
    url = (settings.openai_base_url or "").lower()
    return not url or "openai.com" in url or "azure.com" in url


def make_chat_model(settings: Settings, *, timeout: float | None = None) -> BaseChatModel:
    """ChatOpenAI from settings; works with OpenAI, Azure's v1 API, vLLM, Ollama, LiteLLM.

    Every call is bounded: `max_tokens` caps the output, the timeout is per request, and a
    request is never retried by the client (the agent retries a 429/5xx once, honouring
    Retry-After; a timed-out generation never)."""
    from langchain_openai import ChatOpenAI

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
    cap: dict[str, Any] = (
        {"max_tokens": settings.llm_max_tokens} if openai_hosted(settings)
        else {"extra_body": {"max_tokens": settings.llm_max_tokens}}
    )
    return ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.openai_base_url,
        api_key=key,
        timeout=timeout or settings.llm_timeout,
        max_retries=0,
        temperature=0,
        streaming=settings.llm_stream,
        stream_usage=True,
        **cap,
    )


def failure_reason(exc: BaseException) -> tuple[str, str]:
    """(reason, detail) for an exception from a model call: timeout, or llm_error."""
    import httpx
    import openai

    if isinstance(exc, LLMTimeout | openai.APITimeoutError | httpx.TimeoutException | TimeoutError):
        return "timeout", ""
    status = getattr(exc, "status_code", None)
    if status is not None:
        return "llm_error", f"HTTP {status}"
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError | ConnectionError):
        return "llm_unreachable", ""
    return "llm_error", type(exc).__name__


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
