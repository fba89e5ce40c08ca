import logging

from bot.logs import RedactSecrets, redact


def test_tokens_are_masked():
    line = "posting with xoxb-123456789012-abcdefghij and Bearer abcdefghijklmnopqrstuv, api_key=sk-live-123456"
    out = redact(line)
    assert "123456789012" not in out and "abcdefghijklmnopqrstuv" not in out and "sk-live-123456" not in out
    assert redact("deploy checkout v1.42 finished in 12 min") == "deploy checkout v1.42 finished in 12 min"


def test_filter_masks_formatted_args(caplog):
    logger = logging.getLogger("triops.test-redact")
    logger.addFilter(RedactSecrets())
    with caplog.at_level(logging.INFO, logger="triops.test-redact"):
        logger.info("token is %s", "xapp-1-A0000-verysecretvalue")
    assert "verysecretvalue" not in caplog.text


def test_tracebacks_and_url_passwords_are_masked(caplog):
    logger = logging.getLogger("triops.test-redact-exc")
    logger.addFilter(RedactSecrets())
    with caplog.at_level(logging.INFO, logger="triops.test-redact-exc"):
        try:
            raise RuntimeError("auth failed token=xoxb-1234567890-abcdef for postgresql://app:hunter2pass@db/x")
        except RuntimeError:
            logger.exception("command failed")
        logger.warning("dsn %s", "postgresql+psycopg://app:hunter2pass@db:5432/triops")
    assert "hunter2pass" not in caplog.text and "1234567890-abcdef" not in caplog.text
    assert "RuntimeError" in caplog.text and "postgresql+psycopg://app:[redacted]@db:5432/triops" in caplog.text
