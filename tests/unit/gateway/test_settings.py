"""Gateway settings refuse what would be unsafe to run."""

from __future__ import annotations

import pytest

from gateway.settings import GatewaySettings, GatewaySettingsError


def test_admin_on_a_non_loopback_address_without_a_token_is_refused() -> None:
    with pytest.raises(GatewaySettingsError, match="without GATEWAY_ADMIN_TOKEN"):
        GatewaySettings.from_env({"GATEWAY_ADMIN_HOST": "0.0.0.0"})
    allowed = GatewaySettings.from_env(
        {"GATEWAY_ADMIN_HOST": "0.0.0.0", "GATEWAY_ADMIN_TOKEN": "a-long-enough-token-123"}
    )
    assert allowed.admin_tokens == (("admin", "a-long-enough-token-123"),)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"GATEWAY_ADMIN_TOKEN": "short"}, "at least 16 characters"),
        ({"GATEWAY_ADMIN_TOKEN": " " * 16}, "besides leading and trailing whitespace"),
        ({"GATEWAY_ADMIN_TOKEN": " short-token-1  \t\n"}, "besides leading and trailing"),
        ({"GATEWAY_ADMIN_TOKEN": "a" * 40}, "one character repeated"),
        ({"GATEWAY_ADMIN_TOKENS": "alice:" + "x" * 16}, "alice's token\\) is one character"),
        ({"GATEWAY_ADMIN_TOKENS": "alice"}, "name:token"),
        ({"GATEWAY_PORT": "eighty"}, "not a number"),
        ({"GATEWAY_SHADOW_MAX_BUSY": "soon"}, "not a number"),
        ({"GATEWAY_SHADOW_MAX_BUSY": "80"}, "at most 1"),
        ({"GATEWAY_SHADOW_MAX_BUSY": "0"}, "over 0"),
        ({"GATEWAY_HTTP_CLIENT": "curl"}, "must be one of http1, aiohttp"),
        ({"GATEWAY_SIGNALS_FLUSH_S": "0"}, "GATEWAY_SIGNALS_FLUSH_S is a number of seconds over 0"),
        ({"GATEWAY_SIGNALS_FLUSH_S": "120"}, "at most 60"),
        ({"GATEWAY_SIGNALS_FLUSH_S": "nan"}, "at most 60"),
    ],
)
def test_bad_settings_are_refused_with_a_message(environ: dict[str, str], message: str) -> None:
    with pytest.raises(GatewaySettingsError, match=message):
        GatewaySettings.from_env(environ)


def test_named_tokens_put_their_names_in_the_audit_log() -> None:
    settings = GatewaySettings.from_env(
        {"GATEWAY_ADMIN_TOKENS": "alice:0123456789abcdef,bob:fedcba9876543210"}
    )
    assert dict(settings.admin_tokens) == {"alice": "0123456789abcdef", "bob": "fedcba9876543210"}


def test_signals_are_flushed_every_second_unless_told_otherwise() -> None:
    assert GatewaySettings.from_env({}).signals_flush_s == 1.0
    assert GatewaySettings.from_env({"GATEWAY_SIGNALS_FLUSH_S": "0.25"}).signals_flush_s == 0.25
