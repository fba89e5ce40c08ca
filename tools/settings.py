"""One settings object for the whole process; nothing else reads the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Read from the environment and an optional `.env` file."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

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

    host: str = Field(default="127.0.0.1", validation_alias=_env("TRIOPS_HOST"))
    port: int = Field(default=3000, validation_alias=_env("PORT", "TRIOPS_PORT"))

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.home / 'triops.db').resolve()}"

    @property
    def services_path(self) -> Path:
        return self.services_file or self.home / "services.yaml"


def normalise_database_url(url: str) -> str:
    """Accept the libpq-style `postgresql://` and use the psycopg 3 driver that we install."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url
