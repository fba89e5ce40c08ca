"""A bounded client of the Prometheus HTTP API (`/api/v1/query`, `/api/v1/query_range`).

Bounds, so that no question loads millions of points: the step is widened until a range query
returns at most `max_points` points per series (Prometheus itself refuses more than 11,000),
at most `max_series` series are kept, the response size is capped, and every call has a
timeout. Every failure is a ToolError that says what failed (unreachable, bad PromQL, empty
result); NaN/Inf samples become gaps (NaN) that the detectors tolerate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from tools.errors import NoDataError, ToolError, UnreachableError
from tools.settings import Settings

MAX_BYTES = 64 * 1024 * 1024  # one response, at most
MAX_RANGE_S = 400 * 86400  # a range wider than ~13 months is refused, not thinned to nothing


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    timestamps: list[float]  # unix seconds, evenly spaced by `step`
    values: list[float]  # NaN where the sample was NaN/Inf


@dataclass(frozen=True)
class RangeResult:
    query: str
    start: float
    end: float
    step: float
    series: list[Series] = field(default_factory=list)
    truncated: bool = False  # more series matched than max_series


def choose_step(start: float, end: float, step: float | None, max_points: int) -> float:
    """The requested step (default: range/300), widened so (end-start)/step + 1 <= max_points."""
    span = end - start
    want = step if step and step > 0 else max(span / 300.0, 1.0)
    least = span / max(max_points - 1, 1)
    return float(max(want, math.ceil(least)))


class PrometheusClient:
    def __init__(self, url: str, *, token: str | None = None, username: str | None = None,
                 password: str | None = None, timeout_s: float = 10.0, max_points: int = 11_000,
                 max_series: int = 500, transport: httpx.BaseTransport | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ToolError(f"Prometheus URL must start with http:// or https:// (got {url[:60]!r})")
        auth = httpx.BasicAuth(username, password or "") if username else None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self.max_points, self.max_series = max_points, max_series
        self._http = httpx.Client(base_url=self.url, auth=auth, headers=headers, timeout=timeout_s,
                                  transport=transport)

    @classmethod
    def from_settings(cls, settings: Settings) -> PrometheusClient:
        if not settings.prometheus_url:
            raise ToolError("no Prometheus configured: set TRIOPS_PROMETHEUS_URL")
        return cls(settings.prometheus_url,
                   token=settings.prometheus_token.get_secret_value() if settings.prometheus_token else None,
                   username=settings.prometheus_username,
                   password=settings.prometheus_password.get_secret_value() if settings.prometheus_password else None,
                   timeout_s=settings.prometheus_timeout_s, max_points=settings.prometheus_max_points,
                   max_series=settings.prometheus_max_series)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, promql: str, at: datetime | float | None = None) -> list[tuple[dict[str, str], float]]:
        """An instant query: (labels, value) per series."""
        params: dict[str, str] = {"query": _check_query(promql)}
        if at is not None:
            params["time"] = str(_ts(at))
        data = self._get("/api/v1/query", params, promql)
        if data.get("resultType") == "scalar":
            return [({}, _num(data["result"][1]))]
        return [(dict(r.get("metric", {})), _num(r["value"][1])) for r in data.get("result", [])[: self.max_series]]

    def query_range(self, promql: str, start: datetime | float, end: datetime | float,
                    step: float | None = None) -> RangeResult:
        s, e = _ts(start), _ts(end)
        if not e > s:
            raise ToolError(f"empty time range: end ({e:.0f}) is not after start ({s:.0f})")
        if e - s > MAX_RANGE_S:
            raise ToolError(f"range of {(e - s) / 86400:.0f} days is too wide: at most {MAX_RANGE_S // 86400} days "
                            "per question (ask for a shorter window)")
        st = choose_step(s, e, step, self.max_points)
        data = self._get("/api/v1/query_range", {"query": _check_query(promql), "start": str(s), "end": str(e),
                                                  "step": str(st)}, promql)
        results = data.get("result", [])
        if not results:
            raise NoDataError(f"no series for {promql!r} between {_iso(s)} and {_iso(e)}")
        series = [Series(dict(r.get("metric", {})), [float(t) for t, _ in r.get("values", [])],
                         [_num(v) for _, v in r.get("values", [])]) for r in results[: self.max_series]]
        return RangeResult(promql, s, e, st, series, truncated=len(results) > self.max_series)

    def _get(self, path: str, params: dict[str, str], promql: str) -> dict[str, Any]:
        try:
            with self._http.stream("GET", path, params=params) as resp:
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_BYTES:
                        raise ToolError(f"Prometheus answer to {promql!r} exceeds {MAX_BYTES >> 20} MB: "
                                        "narrow the query (fewer series or a shorter range)")
                status = resp.status_code
        except httpx.TimeoutException:
            raise UnreachableError(f"Prometheus at {self.url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise UnreachableError(f"Prometheus at {self.url} is unreachable ({type(exc).__name__})") from None
        import json

        try:
            payload = json.loads(bytes(body))
        except ValueError:
            raise ToolError(f"Prometheus at {self.url} answered HTTP {status} with a non-JSON body") from None
        if status in (401, 403):
            raise ToolError(f"Prometheus at {self.url} refused the credentials (HTTP {status})")
        if payload.get("status") != "success":
            kind = payload.get("errorType", "error")
            msg = str(payload.get("error", f"HTTP {status}"))[:300]
            if kind == "bad_data":
                raise ToolError(f"bad PromQL {promql!r}: {msg}")
            raise ToolError(f"Prometheus could not run {promql!r} ({kind}): {msg}")
        data = payload.get("data")
        if not isinstance(data, dict):
            raise ToolError(f"Prometheus at {self.url} answered without data")
        return data


def _check_query(promql: str) -> str:
    q = promql.strip()
    if not q:
        raise ToolError("empty PromQL query")
    if len(q) > 4000:
        raise ToolError("PromQL query longer than 4000 characters")
    return q


def _num(text: Any) -> float:
    try:
        v = float(text)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) else math.nan


def _ts(t: datetime | float) -> float:
    return t.timestamp() if isinstance(t, datetime) else float(t)


def _iso(t: float) -> str:
    from datetime import UTC

    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")
