"""One settings object for the whole process; nothing else reads the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Read from the environment and an optional `.env` file."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    def __init__(self, **values: Any) -> None:
        # Code may pass field names (`home=…`) or variable names (`TRIOPS_HOME=…`). Only the
        # variable names are read from the environment, so HOME never becomes `home`.
        super().__init__(**{_variable_of(k): v for k, v in values.items()})

    home: Path = Field(default=Path(".triops"), validation_alias=_env("TRIOPS_HOME"))
    database_url: str | None = Field(default=None, validation_alias=_env("TRIOPS_DATABASE_URL"))
    chroma_url: str | None = Field(default=None, validation_alias=_env("TRIOPS_CHROMA_URL"))
    services_file: Path | None = Field(default=None, validation_alias=_env("TRIOPS_SERVICES_FILE"))

    slack_bot_token: SecretStr | None = Field(default=None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(default=None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_api_url: str = Field(
        default="https://slack.com/api/", validation_alias=_env("SLACK_API_URL")
    )
    slack_command: str = Field(default="/triops", validation_alias=_env("TRIOPS_SLACK_COMMAND"))
    incident_channel: str | None = Field(
        default=None, validation_alias=_env("TRIOPS_INCIDENT_CHANNEL")
    )

    webhook_token: SecretStr | None = Field(
        default=None, validation_alias=_env("TRIOPS_WEBHOOK_TOKEN")
    )
    github_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("TRIOPS_GITHUB_SECRET")
    )
    pagerduty_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("TRIOPS_PAGERDUTY_SECRET")
    )

    openai_api_key: SecretStr | None = Field(default=None, validation_alias=_env("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(default=None, validation_alias=_env("OPENAI_BASE_URL"))
    llm_model: str = Field(default="gpt-4o-mini", validation_alias=_env("TRIOPS_LLM_MODEL"))
    # --- the agent: LLM call limits, budgets, prices, remediation --------------------------
    llm_timeout: float = Field(default=30.0, gt=0, validation_alias=_env("TRIOPS_LLM_TIMEOUT"))
    # Output tokens per model call (sent as max_tokens / max_completion_tokens): sized to a
    # short answer or one tool call, so a rambling small model cannot generate for minutes.
    llm_max_tokens: int = Field(default=512, ge=16, validation_alias=_env("TRIOPS_LLM_MAX_TOKENS"))
    # Stream responses: a timed-out generation is cancelled (the connection closes at the next
    # token, and llama.cpp-style servers stop computing) instead of left running.
    llm_stream: bool = Field(default=False, validation_alias=_env("TRIOPS_LLM_STREAM"))
    # tool_choice sent with the tools: auto, required_first (a tool call is required on the
    # first step of a question about the organisation's systems), or off (not sent).
    llm_tool_choice: Literal["auto", "required_first", "off"] = Field(
        default="auto", validation_alias=_env("TRIOPS_LLM_TOOL_CHOICE")
    )
    # The model's context in tokens (0: large / unknown). At 8k or less the compact tool set is
    # offered (auto) and tool outputs are capped to fit.
    llm_context_tokens: int = Field(default=0, ge=0, validation_alias=_env("TRIOPS_LLM_CONTEXT_TOKENS"))
    llm_tools: Literal["auto", "all", "compact"] = Field(default="auto", validation_alias=_env("TRIOPS_LLM_TOOLS"))
    llm_compact_tools: int = Field(default=3, ge=1, validation_alias=_env("TRIOPS_LLM_COMPACT_TOOLS"))
    # Write the offered tools' signatures into the system prompt, for servers whose chat
    # template drops `tools` (llama.cpp without a tool-aware template); calls come back as text.
    llm_tools_in_prompt: bool = Field(default=False, validation_alias=_env("TRIOPS_LLM_TOOLS_IN_PROMPT"))
    # Planner intents the LLM may answer (comma-separated; empty: all; "none": the planner
    # answers everything). `triops eval agent --llm` prints the list its figures support.
    llm_intents_csv: str = Field(default="", validation_alias=_env("TRIOPS_LLM_INTENTS"))
    llm_price_in: float | None = Field(
        default=None, ge=0, validation_alias=_env("TRIOPS_LLM_PRICE_IN")
    )  # USD per million input tokens; None = the built-in list price for known models
    llm_price_out: float | None = Field(
        default=None, ge=0, validation_alias=_env("TRIOPS_LLM_PRICE_OUT")
    )
    agent_max_tool_calls: int = Field(
        default=8, ge=1, validation_alias=_env("TRIOPS_AGENT_MAX_TOOL_CALLS")
    )
    agent_max_seconds: float = Field(
        default=60.0, gt=0, validation_alias=_env("TRIOPS_AGENT_MAX_SECONDS")
    )
    agent_max_answer_tokens: int = Field(
        default=60_000, ge=1000, validation_alias=_env("TRIOPS_AGENT_MAX_ANSWER_TOKENS")
    )
    agent_max_conversation_tokens: int = Field(
        default=300_000, ge=1000, validation_alias=_env("TRIOPS_AGENT_MAX_CONVERSATION_TOKENS")
    )
    agent_history_tokens: int = Field(
        default=3_000, ge=0, validation_alias=_env("TRIOPS_AGENT_HISTORY_TOKENS")
    )
    agent_tool_output_chars: int = Field(
        default=6_000, ge=500, validation_alias=_env("TRIOPS_AGENT_TOOL_OUTPUT_CHARS")
    )
    auto_triage: bool = Field(default=False, validation_alias=_env("TRIOPS_AUTO_TRIAGE"))
    action_allowlist_csv: str = Field(
        default="", validation_alias=_env("TRIOPS_ACTION_ALLOWLIST")
    )  # comma-separated tool names of mutating actions that may be executed after approval
    approver_user_group: str | None = Field(
        default=None, validation_alias=_env("TRIOPS_APPROVER_GROUP")
    )  # Slack user group id (S0…) whose members may approve actions

    # Runbook search: the offline MiniLM model unless "openai" (uses OPENAI_API_KEY/BASE_URL).
    embeddings: Literal["local", "openai"] = Field(
        default="local", validation_alias=_env("TRIOPS_EMBEDDINGS")
    )
    embedding_model: str = Field(
        default="text-embedding-3-small", validation_alias=_env("TRIOPS_EMBEDDING_MODEL")
    )
    # Overrides the calibrated "no runbook found" bar (knowledge/calibration.json).
    kb_min_confidence: float | None = Field(
        default=None, ge=0.0, le=1.0, validation_alias=_env("TRIOPS_KB_MIN_CONFIDENCE")
    )
    mlflow_tracking_uri: str | None = Field(default=None, validation_alias=_env("MLFLOW_TRACKING_URI"))
    mlflow_tracking_token: SecretStr | None = Field(
        default=None, validation_alias=_env("MLFLOW_TRACKING_TOKEN")
    )

    # --- serving: background workers, shutdown, the HTTP API's own pages --------------------
    triage_concurrency: int = Field(
        default=2, ge=1, validation_alias=_env("TRIOPS_TRIAGE_CONCURRENCY")
    )  # auto-triage conversations running at once; an alert storm queues behind them
    triage_queue: int = Field(
        default=50, ge=0, validation_alias=_env("TRIOPS_TRIAGE_QUEUE")
    )  # incidents waiting for triage; beyond it a new one is dropped (logged) untriaged
    incident_update_interval: float = Field(
        default=3.0, ge=0, validation_alias=_env("TRIOPS_INCIDENT_UPDATE_INTERVAL")
    )  # seconds between two edits of one incident's Slack message (updates are coalesced)
    correlator_lease_s: float = Field(
        default=5.0, gt=0, validation_alias=_env("TRIOPS_CORRELATOR_LEASE_S")
    )  # replicas: the correlator's lease lasts this long unrenewed (a takeover within about it)
    outbox_claim_s: float = Field(
        default=30.0, gt=0, validation_alias=_env("TRIOPS_OUTBOX_CLAIM_S")
    )  # replicas: an incident post claimed by a replica that died is retried after this
    shutdown_grace: float = Field(
        default=10.0, ge=0, validation_alias=_env("TRIOPS_SHUTDOWN_GRACE")
    )  # on SIGTERM: seconds to finish requests, then as long again to post queued updates
    api_docs: bool = Field(
        default=False, validation_alias=_env("TRIOPS_API_DOCS")
    )  # serve /docs, /redoc and /openapi.json (off: they map every webhook for anyone)

    host: str = Field(default="127.0.0.1", validation_alias=_env("TRIOPS_HOST"))
    port: int = Field(default=3000, validation_alias=_env("PORT", "TRIOPS_PORT"))

    # --- remediation actions (tools/actions, docs/actions.md): backends, bounds, limits ----
    action_http_timeout: float = Field(
        default=10.0, gt=0, validation_alias=_env("TRIOPS_ACTION_HTTP_TIMEOUT")
    )  # seconds for one call to an action's backend
    action_ttl: float = Field(
        default=3600.0, gt=0, validation_alias=_env("TRIOPS_ACTION_TTL")
    )  # seconds a suggestion may wait for a decision; older ones expire unexecuted
    action_rate_limit: int = Field(
        default=5, ge=0, validation_alias=_env("TRIOPS_ACTION_RATE_LIMIT")
    )  # executions of one action per hour, at most (0: never)
    action_verify_delay: float = Field(
        default=300.0, ge=0, validation_alias=_env("TRIOPS_ACTION_VERIFY_DELAY")
    )  # seconds after an execution before its follow-up check runs
    alertmanager_url: str | None = Field(default=None, validation_alias=_env("TRIOPS_ALERTMANAGER_URL"))
    silence_min_minutes: int = Field(default=5, ge=1, validation_alias=_env("TRIOPS_SILENCE_MIN_MINUTES"))
    silence_max_minutes: int = Field(default=480, ge=1, validation_alias=_env("TRIOPS_SILENCE_MAX_MINUTES"))
    pagerduty_api_url: str = Field(
        default="https://api.pagerduty.com", validation_alias=_env("TRIOPS_PAGERDUTY_API_URL")
    )
    pagerduty_api_token: SecretStr | None = Field(default=None, validation_alias=_env("TRIOPS_PAGERDUTY_TOKEN"))
    pagerduty_from: str | None = Field(
        default=None, validation_alias=_env("TRIOPS_PAGERDUTY_FROM")
    )  # the PagerDuty user's email sent as the From: header
    opsgenie_api_url: str = Field(
        default="https://api.opsgenie.com", validation_alias=_env("TRIOPS_OPSGENIE_API_URL")
    )
    opsgenie_api_key: SecretStr | None = Field(default=None, validation_alias=_env("TRIOPS_OPSGENIE_KEY"))
    github_api_url: str = Field(default="https://api.github.com", validation_alias=_env("TRIOPS_GITHUB_API_URL"))
    github_token: SecretStr | None = Field(default=None, validation_alias=_env("TRIOPS_GITHUB_TOKEN"))
    action_workflows_csv: str = Field(
        default="", validation_alias=_env("TRIOPS_ACTION_WORKFLOWS")
    )  # owner/repo/workflow-file pairs that may be dispatched, comma-separated
    kubernetes_api_url: str | None = Field(default=None, validation_alias=_env("TRIOPS_KUBERNETES_API_URL"))
    kubernetes_token: SecretStr | None = Field(default=None, validation_alias=_env("TRIOPS_KUBERNETES_TOKEN"))
    action_namespaces_csv: str = Field(
        default="", validation_alias=_env("TRIOPS_ACTION_NAMESPACES")
    )  # Kubernetes namespaces actions may touch, comma-separated
    action_services_csv: str = Field(
        default="", validation_alias=_env("TRIOPS_ACTION_SERVICES")
    )  # deployments (services) actions may touch, comma-separated; empty: none
    replicas_min: int = Field(default=1, ge=0, validation_alias=_env("TRIOPS_REPLICAS_MIN"))
    replicas_max: int = Field(default=20, ge=1, validation_alias=_env("TRIOPS_REPLICAS_MAX"))
    action_webhook_url: str | None = Field(
        default=None, validation_alias=_env("TRIOPS_ACTION_WEBHOOK_URL")
    )  # the deploy system's signed webhook for rollback/redeploy (tools/actions/webhook.py)
    action_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("TRIOPS_ACTION_WEBHOOK_SECRET")
    )  # HMAC-SHA256 key of its X-Triops-Signature
    action_error_drop: float = Field(
        default=0.5, gt=0, le=1, validation_alias=_env("TRIOPS_ACTION_ERROR_DROP")
    )  # a fix worked only if the service's error rate fell to at most this share of before
    action_models_csv: str = Field(
        default="", validation_alias=_env("TRIOPS_ACTION_MODELS")
    )  # registered MLflow models whose alias may be rolled back, comma-separated

    # --- MLOps loop (issue 15): the retraining pipeline, scheduled model checks -------------
    retrain_pipeline: Literal["github", "airflow", "webhook"] | None = Field(
        default=None, validation_alias=_env("TRIOPS_RETRAIN_PIPELINE")
    )  # where retrain_model dispatches (models allowed: TRIOPS_ACTION_MODELS)
    retrain_workflow: str | None = Field(
        default=None, validation_alias=_env("TRIOPS_RETRAIN_WORKFLOW")
    )  # github: owner/repo/workflow.yml, run with workflow_dispatch (token: TRIOPS_GITHUB_TOKEN)
    retrain_ref: str = Field(default="main", validation_alias=_env("TRIOPS_RETRAIN_REF"))
    airflow_url: str | None = Field(default=None, validation_alias=_env("TRIOPS_AIRFLOW_URL"))
    airflow_dag: str | None = Field(default=None, validation_alias=_env("TRIOPS_AIRFLOW_DAG"))
    airflow_user: str | None = Field(default=None, validation_alias=_env("TRIOPS_AIRFLOW_USER"))
    airflow_password: SecretStr | None = Field(default=None, validation_alias=_env("TRIOPS_AIRFLOW_PASSWORD"))
    airflow_token: SecretStr | None = Field(default=None, validation_alias=_env("TRIOPS_AIRFLOW_TOKEN"))
    retrain_webhook_url: str | None = Field(default=None, validation_alias=_env("TRIOPS_RETRAIN_WEBHOOK_URL"))
    retrain_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("TRIOPS_RETRAIN_WEBHOOK_SECRET")
    )  # HMAC-SHA256 of timestamp.body in X-Triops-Signature
    model_channel: str | None = Field(default=None, validation_alias=_env("TRIOPS_MODEL_CHANNEL"))
    model_check_interval: float = Field(
        default=0.0, ge=0, validation_alias=_env("TRIOPS_MODEL_CHECK_INTERVAL")
    )  # seconds between scheduled drift/performance checks of each model (0: off)
    model_check_intervals_csv: str = Field(
        default="", validation_alias=_env("TRIOPS_MODEL_CHECK_INTERVALS")
    )  # per model: name=seconds, comma-separated (overrides the default interval)

    @staticmethod
    def csv(value: str) -> list[str]:
        return [a.strip() for a in value.split(",") if a.strip()]
    # Sender sources (issue 10): signing secrets of senders that sign, and DORA incidents.
    grafana_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("TRIOPS_GRAFANA_SECRET")
    )  # Grafana contact point HMAC (X-Grafana-Alerting-Signature)
    mlflow_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("TRIOPS_MLFLOW_SECRET")
    )  # MLflow webhook secret (X-MLflow-Signature)
    gitlab_webhook_token: SecretStr | None = Field(
        default=None, validation_alias=_env("TRIOPS_GITLAB_TOKEN")
    )  # GitLab's plain X-Gitlab-Token
    dora_incidents_from: str = Field(
        default="", validation_alias=_env("TRIOPS_DORA_INCIDENTS_FROM")
    )  # comma list of alert sources (pagerduty, opsgenie) whose incidents count in DORA
    # --- resilience: input bounds, request limits, executors (issue 12) ---------------------
    time_bound_years: float = Field(
        default=10.0, gt=0, validation_alias=_env("TRIOPS_TIME_BOUND_YEARS")
    )  # a timestamp further than this from now (either way) is rejected with a 422
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, validation_alias=_env("TRIOPS_MAX_BODY_BYTES")
    )  # larger request bodies get a 413 before they are read whole (a 200k-row model window is ~9 MB)
    max_json_depth: int = Field(
        default=100, ge=2, validation_alias=_env("TRIOPS_MAX_JSON_DEPTH")
    )  # deeper nesting in a JSON body is a 400
    ack_workers: int = Field(
        default=16, ge=1, validation_alias=_env("TRIOPS_ACK_WORKERS")
    )  # threads that only verify, ack and return Slack requests (never answer work)
    answer_workers: int = Field(
        default=4, ge=1, validation_alias=_env("TRIOPS_ANSWER_WORKERS")
    )  # threads answering mentions and commands after the ack
    answer_queue: int = Field(
        default=16, ge=0, validation_alias=_env("TRIOPS_ANSWER_QUEUE")
    )  # answers waiting for a thread; beyond it the user is told "busy" at once
    store_retry_seconds: float = Field(
        default=20.0, ge=0, validation_alias=_env("TRIOPS_STORE_RETRY_SECONDS")
    )  # a slash command retries this long while the database is down (the user is told)

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.home / 'triops.db').resolve()}"

    @property
    def llm_intents(self) -> set[str] | None:
        """The planner intents the LLM may answer; None: all of them."""
        names = {x.strip() for x in self.llm_intents_csv.split(",") if x.strip()}
        return names or None

    @property
    def llm_enabled(self) -> bool:
        """An OpenAI-compatible endpoint is configured (a key, or a keyless local base URL)."""
        return bool(self.openai_api_key or self.openai_base_url)

    @property
    def action_allowlist(self) -> list[str]:
        return [a.strip() for a in self.action_allowlist_csv.split(",") if a.strip()]

    @property
    def services_path(self) -> Path:
        return self.services_file or self.home / "services.yaml"

    # Metrics (issue 13): the Prometheus HTTP API and the bounds of one read.
    prometheus_url: str | None = Field(default=None, validation_alias=_env("TRIOPS_PROMETHEUS_URL"))
    prometheus_token: SecretStr | None = Field(default=None, validation_alias=_env("TRIOPS_PROMETHEUS_TOKEN"))
    prometheus_username: str | None = Field(default=None, validation_alias=_env("TRIOPS_PROMETHEUS_USERNAME"))
    prometheus_password: SecretStr | None = Field(
        default=None, validation_alias=_env("TRIOPS_PROMETHEUS_PASSWORD")
    )
    prometheus_timeout_s: float = Field(default=10.0, validation_alias=_env("TRIOPS_PROMETHEUS_TIMEOUT_S"))
    prometheus_max_points: int = Field(default=11_000, validation_alias=_env("TRIOPS_PROMETHEUS_MAX_POINTS"))
    prometheus_max_series: int = Field(default=500, validation_alias=_env("TRIOPS_PROMETHEUS_MAX_SERIES"))
    # The proactive metrics scan (bot/metrics_scan.py): 0 = off.
    metrics_scan_interval_s: float = Field(default=0.0, validation_alias=_env("TRIOPS_METRICS_SCAN_INTERVAL_S"))
    metrics_scan_horizon: str = Field(default="2d", validation_alias=_env("TRIOPS_METRICS_SCAN_HORIZON"))


def _variable_of(name: str) -> str:
    field = Settings.model_fields.get(name)
    alias = field.validation_alias if field else None
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        return first if isinstance(first, str) else name
    return name


def normalise_database_url(url: str) -> str:
    """Accept the libpq-style `postgresql://` and use the psycopg 3 driver that we install."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url
