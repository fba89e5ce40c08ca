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
