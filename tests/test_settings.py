from pathlib import Path

from tools.settings import Settings, normalise_database_url


def test_only_triops_variables_set_the_home(monkeypatch):
    monkeypatch.delenv("TRIOPS_HOME", raising=False)
    monkeypatch.setenv("HOME", "/somewhere/else")
    assert Settings().home == Path(".triops")
    monkeypatch.setenv("TRIOPS_HOME", "/data/triops")
    assert Settings().sqlalchemy_url == "sqlite:////data/triops/triops.db"


def test_postgres_urls_use_psycopg3():
    assert normalise_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"


def test_secrets_do_not_print(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1234567890-abcdef")
    s = Settings()
    assert "xoxb" not in repr(s) and "xoxb" not in str(s.model_dump())


def test_a_resource_is_built_once_under_concurrent_first_use():
    import threading
    import time

    from tools.contract import ToolContext

    ctx = ToolContext(settings=Settings(), store=None, catalog=None)
    built = []

    def factory():
        time.sleep(0.05)
        built.append(1)
        return object()

    got = []
    threads = [threading.Thread(target=lambda: got.append(ctx.resource("kb", factory))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 1 and len({id(g) for g in got}) == 1
