"""Settings from an explicit environment and CLI overrides: strict casts, clear errors,
and a webhook secret that never shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.errors import SettingError
from callcenter.settings import Secret, Settings, env_name, load_settings

SECRET_VALUE = "hunter2-do-not-print"


def test_defaults_with_an_empty_environment() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert (settings.host, settings.port, settings.redis_url) == ("127.0.0.1", 8080, None)
    assert (settings.rules_dir, settings.default_queue) == (None, "general")
    assert (settings.log_level, settings.log_json, settings.dev) == ("INFO", False, False)
    assert (settings.max_body_bytes, settings.max_batch_events) == (1_048_576, 500)
    assert not settings.webhook_secret
    assert settings.webhook_secret.reveal() == ""
    assert settings.gateway_webhook_url is None
    assert (settings.signature_tolerance_seconds, settings.dedupe_window_seconds) == (300, 86_400)
    assert (settings.call_retention_days, settings.history_retention_days) == (7, 400)
    assert (settings.token_cache_seconds, settings.shutdown_timeout_seconds) == (5.0, 10.0)
    # jambonz agents are its registered users (the generic template's client: is Twilio's)
    assert (settings.jambonz_api_url, settings.jambonz_agent_dial_template) == (
        None,
        "user:{agent_id}",
    )
    assert (settings.jambonz_agent_ring_seconds, settings.jambonz_api_key) == (30, Secret(""))


def test_default_data_dir_follows_xdg_data_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert load_settings({}).data_dir == tmp_path / "callcenter"


def test_other_variables_are_ignored() -> None:
    assert load_settings({"PATH": "/bin", "CALLCENTERX": "1", "REDIS_URL": "x"}) == Settings()


def test_env_name() -> None:
    assert env_name("max_body_bytes") == "CALLCENTER_MAX_BODY_BYTES"


GOOD = [
    ("host", "0.0.0.0", "0.0.0.0"),
    ("port", "9000", 9000),
    ("port", "0", 0),
    ("port", "65535", 65535),
    ("redis_url", "redis://localhost:6379/0", "redis://localhost:6379/0"),
    ("redis_url", " rediss://cache.example:6380 ", "rediss://cache.example:6380"),
    ("redis_url", "unix:///run/redis.sock", "unix:///run/redis.sock"),
    ("redis_url", "", None),
    ("redis_url", "   ", None),
    ("data_dir", "/var/lib/callcenter", Path("/var/lib/callcenter")),
    ("rules_dir", "rules", Path("rules")),
    ("log_level", "debug", "DEBUG"),
    ("log_level", " Warning ", "WARNING"),
    ("log_level", "CRITICAL", "CRITICAL"),
    ("log_json", "true", True),
    ("log_json", "TRUE", True),
    ("log_json", "1", True),
    ("log_json", "false", False),
    ("log_json", " False ", False),
    ("log_json", "0", False),
    ("dev", "1", True),
    ("dev", "false", False),
    ("max_body_bytes", "1", 1),
    ("max_body_bytes", "2048", 2048),
    ("max_batch_events", "10", 10),
    ("default_queue", "billing", "billing"),
    ("default_queue", "tier-2.support_x", "tier-2.support_x"),
    ("default_queue", "q" * 64, "q" * 64),
    ("webhook_secret", SECRET_VALUE, Secret(SECRET_VALUE)),
    ("gateway_webhook_url", " https://gw.example/hook ", "https://gw.example/hook"),
    ("gateway_webhook_url", "http://10.0.0.5:8080/x", "http://10.0.0.5:8080/x"),
    ("gateway_webhook_url", "", None),
    ("signature_tolerance_seconds", "60", 60),
    ("dedupe_window_seconds", "3600", 3600),
    ("call_retention_days", "1", 1),
    ("history_retention_days", "30", 30),
    ("token_cache_seconds", "0", 0.0),
    ("token_cache_seconds", "2.5", 2.5),
    ("shutdown_timeout_seconds", "0.5", 0.5),
    ("smtp_implicit_tls", "true", True),
    ("smtp_ca_file", __file__, Path(__file__)),
    ("jambonz_api_url", " https://api.jambonz.us ", "https://api.jambonz.us"),
    ("jambonz_api_url", "", None),
    (
        "jambonz_account_sid",
        "9351f46a-678c-43f5-b8a6-d4eb58d131af",
        "9351f46a-678c-43f5-b8a6-d4eb58d131af",
    ),
    ("jambonz_api_key", SECRET_VALUE, Secret(SECRET_VALUE)),
    ("jambonz_agent_dial_template", "sip:{agent_id}@pbx.example", "sip:{agent_id}@pbx.example"),
    ("jambonz_agent_ring_seconds", "20", 20),
]


@pytest.mark.parametrize(("name", "raw", "value"), GOOD)
def test_good_values_are_cast(name: str, raw: str, value: object) -> None:
    settings = load_settings({env_name(name): raw})
    assert getattr(settings, name) == value


BAD = [
    ("port", "65536"),
    ("port", "-1"),
    ("port", "http"),
    ("port", ""),
    ("redis_url", "http://localhost:6379"),
    ("redis_url", "localhost:6379"),
    ("redis_url", "redis:/localhost"),
    ("gateway_webhook_url", "ftp://gw.example/hook"),
    ("gateway_webhook_url", "gw.example/hook"),
    ("log_level", "TRACE"),
    ("log_level", ""),
    ("log_json", "yes"),
    ("log_json", "no"),
    ("log_json", "on"),
    ("log_json", "2"),
    ("log_json", ""),
    ("dev", "y"),
    ("max_body_bytes", "0"),
    ("max_body_bytes", "-5"),
    ("max_body_bytes", "1.5"),
    ("max_body_bytes", "1MB"),
    ("max_batch_events", ""),
    ("signature_tolerance_seconds", "0"),
    ("dedupe_window_seconds", "-1"),
    ("call_retention_days", "0"),
    ("history_retention_days", "a year"),
    ("token_cache_seconds", "-1"),
    ("token_cache_seconds", "nan"),
    ("shutdown_timeout_seconds", "0"),
    ("shutdown_timeout_seconds", "-2"),
    ("shutdown_timeout_seconds", "nan"),
    ("default_queue", ""),
    ("default_queue", "two words"),
    ("default_queue", "a/b"),
    ("default_queue", "q" * 65),
    # Queue names are ASCII everywhere else (event `queue`, rule files): not just isalnum().
    ("default_queue", "caf\u00e9"),
    ("default_queue", "\u0661\u0662"),
    ("smtp_ca_file", "/no/such/ca.pem"),
    ("smtp_ca_file", "/"),
    ("jambonz_api_url", "api.jambonz.us"),
    ("jambonz_agent_dial_template", "user:ann"),
    ("jambonz_agent_ring_seconds", "0"),
    ("jambonz_agent_ring_seconds", "half a minute"),
    ("asterisk_callback_endpoint", "PJSIP/trunk"),
    ("asterisk_caller_id", "5551234"),
    ("freeswitch_callback_dial_template", "sofia/gateway/provider"),
    ("freeswitch_callback_dial_template", "sofia/gateway/p/{number} x"),
    ("freeswitch_caller_id", "+1"),
    ("callback_gateway", "jambonz"),
]


@pytest.mark.parametrize(("name", "raw"), BAD)
def test_bad_values_name_the_variable_and_the_value(name: str, raw: str) -> None:
    with pytest.raises(SettingError) as caught:
        load_settings({env_name(name): raw})
    assert caught.value.name == env_name(name)
    assert repr(raw) in caught.value.reason
    assert str(caught.value).startswith(f"setting {env_name(name)}: ")


def test_error_message_reads_well() -> None:
    with pytest.raises(SettingError) as caught:
        load_settings({"CALLCENTER_PORT": "70000"})
    assert str(caught.value) == (
        "setting CALLCENTER_PORT: '70000' is not valid: expected a port number 0..65535"
    )


def test_cli_overrides_win_over_the_environment() -> None:
    settings = load_settings(
        {"CALLCENTER_PORT": "9000", "CALLCENTER_HOST": "10.0.0.1"},
        {"port": "9100", "log_level": "error"},
    )
    assert (settings.port, settings.host, settings.log_level) == (9100, "10.0.0.1", "ERROR")


def test_an_override_replaces_a_bad_environment_value() -> None:
    assert load_settings({"CALLCENTER_PORT": "nope"}, {"port": "9100"}).port == 9100


def test_an_override_of_none_leaves_the_environment_value() -> None:
    overrides: dict[str, str] = {}
    assert load_settings({"CALLCENTER_PORT": "9000"}, overrides).port == 9000


def test_a_bad_override_names_the_flag() -> None:
    with pytest.raises(SettingError) as caught:
        load_settings({"CALLCENTER_MAX_BODY_BYTES": "10"}, {"max_body_bytes": "0"})
    assert caught.value.name == "--max-body-bytes"
    assert "'0'" in caught.value.reason


@pytest.mark.parametrize(
    "variable",
    [
        "CALLCENTER_PORTT",
        "CALLCENTER_REDIS",
        "CALLCENTER_",
        # Environment names are case-sensitive: this one is never read, so it is unknown.
        "CALLCENTER_port",
        "CALLCENTER_Log_Level",
    ],
)
def test_an_unknown_callcenter_variable_is_an_error(variable: str) -> None:
    with pytest.raises(SettingError) as caught:
        load_settings({variable: "9000"})
    assert caught.value.name == variable
    assert "unknown" in caught.value.reason


def test_errors_never_show_the_webhook_secret() -> None:
    cases = [
        {"CALLCENTER_WEBHOOK_SECRET": SECRET_VALUE, "CALLCENTER_PORT": "x"},
        {"CALLCENTER_WEBHOOK_SECRET": SECRET_VALUE, "CALLCENTER_BOGUS": SECRET_VALUE[:3]},
    ]
    for environ in cases:
        with pytest.raises(SettingError) as caught:
            load_settings(environ)
        assert SECRET_VALUE not in str(caught.value)
        assert SECRET_VALUE not in repr(caught.value)
        assert all(SECRET_VALUE not in str(arg) for arg in caught.value.args)


def test_settings_never_show_the_webhook_secret() -> None:
    settings = load_settings({"CALLCENTER_WEBHOOK_SECRET": SECRET_VALUE})
    assert settings.webhook_secret.reveal() == SECRET_VALUE
    assert SECRET_VALUE not in repr(settings)
    assert SECRET_VALUE not in str(settings)


def test_secret_never_reveals_itself() -> None:
    secret = Secret(SECRET_VALUE)
    shown = [repr(secret), str(secret), f"{secret}", "%s" % secret, "%r" % secret]  # noqa: UP031
    assert all(SECRET_VALUE not in text for text in shown)
    assert repr(secret) == str(secret) == "Secret('**********')"
    assert repr(Secret("")) == "Secret('')"
    assert secret.reveal() == SECRET_VALUE
    assert bool(secret) and not Secret("")
    assert secret == Secret(SECRET_VALUE)
    assert secret != Secret("other")
    assert secret != SECRET_VALUE
    assert hash(secret) == hash(Secret(SECRET_VALUE))
