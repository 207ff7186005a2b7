"""Settings: config/default.toml, then a `--config` file, then RUNSTREAM_* variables, then
explicit overrides; unknown keys and impossible values are refused at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.settings import POSITIVE, Settings, SettingsError, load_settings


def test_each_layer_overrides_the_one_before(tmp_path: Path) -> None:
    config = tmp_path / "runstream.toml"
    config.write_text('port = 4000\nhost = "0.0.0.0"\nstream_max_per_user = 7\n')
    settings = load_settings(
        config, overrides={"host": "127.0.0.2"},
        environ={"RUNSTREAM_PORT": "5000", "RUNSTREAM_SESSION_COOKIE_SECURE": "true",
                 "OTHER_PORT": "1"},
    )
    assert (settings.port, settings.host) == (5000, "127.0.0.2")
    assert settings.stream_max_per_user == 7
    assert settings.session_cookie_secure is True
    assert settings.login_max_failures == Settings().login_max_failures  # the default


@pytest.mark.parametrize("environ", [
    {"RUNSTREAM_NO_SUCH_THING": "1"},
    {"RUNSTREAM_PORT": "eighty"},
    {"RUNSTREAM_SESSION_COOKIE_SECURE": "maybe"},
    {"RUNSTREAM_SYNCHRONOUS": "sometimes"},
])
def test_unknown_keys_and_bad_values_are_refused(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        load_settings(environ=environ)


@pytest.mark.parametrize("key", POSITIVE)
@pytest.mark.parametrize("value", ["0", "-1"])
def test_intervals_and_sizes_must_be_positive(key: str, value: str) -> None:
    """0 would not mean "off" for these: a stream's timer would fire without pause."""
    with pytest.raises(SettingsError, match=key):
        load_settings(environ={f"RUNSTREAM_{key.upper()}": value})
