"""Settings: the model's defaults, then config/default.toml, then a `--config` file, then
RUNSTREAM_* variables, then the command line; unknown keys and values out of bounds are
refused with a message naming the key, the value and where it came from."""

from __future__ import annotations

import os
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import annotated_types
import pytest

from service import keys
from service.app import create_app
from service.cli import build_parser, settings_from
from service.settings import DEFAULT_CONFIG, EngineSettings, Settings, SettingsError, load_settings
from service.settings.names import MOVED, env_name
from service.settings.reference import OPERATIONS_DOC, generated, toml_value

ROOT = Path(__file__).resolve().parents[2]


def toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def refused(**kwargs: Any) -> str:
    """The message of the SettingsError that load_settings raises for `kwargs`."""
    kwargs.setdefault("environ", {})
    with pytest.raises(SettingsError) as caught:
        load_settings(**kwargs)
    return str(caught.value)


# -- layers and precedence -------------------------------------------------------------


def test_with_no_file_and_no_variable_the_settings_are_the_models_defaults() -> None:
    assert load_settings(environ={}) == Settings()


def test_each_layer_overrides_the_one_before(tmp_path: Path) -> None:
    config = toml(tmp_path / "runstream.toml",
                  'port = 4000\nhost = "0.0.0.0"\nstream_max_per_user = 7\n')
    settings = load_settings(
        config, overrides={"host": "127.0.0.2"},
        environ={"RUNSTREAM_PORT": "5000", "RUNSTREAM_SESSION_COOKIE_SECURE": "true",
                 "OTHER_PORT": "1"},
    )
    assert settings.stream_max_per_user == 7  # file over default
    assert settings.port == 5000  # environment over file
    assert settings.host == "127.0.0.2"  # command line over environment
    assert settings.session_cookie_secure is True
    assert settings.login_max_failures == Settings().login_max_failures  # the default


def test_the_command_lines_flags_win_over_the_environment_and_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = toml(tmp_path / "runstream.toml", 'port = 4000\ndata_dir = "/from/file"\n')
    for name in [n for n in os.environ if n.startswith("RUNSTREAM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("RUNSTREAM_PORT", "5000")
    monkeypatch.setenv("RUNSTREAM_HOST", "127.0.0.9")
    settings = settings_from(build_parser().parse_args(
        ["serve", "--config", str(config), "--port", "6000", "--host", "127.0.0.3"]))
    assert (settings.port, settings.host) == (6000, "127.0.0.3")
    assert settings.data_dir == Path("/from/file")  # no flag: the file's value


def test_a_table_merges_key_by_key_across_layers(tmp_path: Path) -> None:
    config = toml(tmp_path / "runstream.toml",
                  "[engine]\nhttp_timeout_ms = 1234\nmax_concurrent_runs = 3\n")
    settings = load_settings(config, environ={"RUNSTREAM_ENGINE__MAX_CONCURRENT_RUNS": "9"})
    assert settings.engine.http_timeout_ms == 1234
    assert settings.engine.max_concurrent_runs == 9
    assert settings.engine.http_max_redirects == EngineSettings().http_max_redirects


def test_lists_are_toml_arrays_in_a_file_and_comma_separated_in_the_environment(
    tmp_path: Path,
) -> None:
    config = toml(tmp_path / "runstream.toml", '[engine]\nhttp_allow_hosts = ["a", "b"]\n')
    assert load_settings(config, environ={}).engine.http_allow_hosts == ("a", "b")
    environ = {"RUNSTREAM_ENGINE__HTTP_ALLOW_HOSTS": "127.0.0.1, 10.0.0.0/8,"}
    assert load_settings(environ=environ).engine.http_allow_hosts == ("127.0.0.1", "10.0.0.0/8")


def test_replace_validates_its_changes_like_any_layer() -> None:
    settings = load_settings(environ={})
    changed = settings.replace(splox_max_duration_s=0.5, engine={"http_timeout_ms": 5})
    assert (changed.splox_max_duration_s, changed.engine.http_timeout_ms) == (0.5, 5)
    assert changed.engine.max_concurrent_runs == settings.engine.max_concurrent_runs
    with pytest.raises(SettingsError, match=r"port = -1 \(from replace\(\)\)"):
        settings.replace(port=-1)


# -- the engine's table ----------------------------------------------------------------


def test_the_engine_follows_the_stores_event_limit() -> None:
    settings = load_settings(environ={"RUNSTREAM_MAX_EVENT_BYTES": "100000"})
    assert settings.engine.max_event_bytes == 100_000


async def test_the_app_hands_the_engine_table_to_the_engine(
    aiohttp_client: Any, tmp_path: Path,
) -> None:
    config = toml(tmp_path / "runstream.toml",
                  'admin_password = "admin-password-for-tests"\nsynchronous = "NORMAL"\n'
                  f'data_dir = "{tmp_path / "data"}"\nmax_event_bytes = 100000\n'
                  '[engine]\nmax_concurrent_runs = 3\nhttp_allow_hosts = ["127.0.0.1"]\n')
    client = await aiohttp_client(create_app(load_settings(config, environ={})))
    engine = client.app[keys.ENGINE]
    assert engine.settings.max_concurrent_runs == 3
    assert engine.settings.http_allow_hosts == ("127.0.0.1",)
    assert engine.settings.max_event_bytes == 100_000
    # Left empty, the secrets key is generated once into the data dir and handed over.
    assert engine.settings.secrets_key
    assert (tmp_path / "data" / "secrets.key").read_text().strip() == engine.settings.secrets_key


@pytest.mark.parametrize("old", sorted(MOVED))
def test_a_key_that_moved_is_refused_with_its_new_name(old: str, tmp_path: Path) -> None:
    new = MOVED[old]
    table, _, name = old.rpartition(".")
    text = (f"[{table}]\n" if table else "") + f"{name} = 1\n"
    config = toml(tmp_path / "old.toml", text)
    message = refused(config_file=config)
    assert f"unknown setting {old!r} (in {config})" in message
    assert env_name(new) in message
    assert repr(new.rpartition(".")[2]) in message
    message = refused(environ={env_name(old): "1"})
    assert f"environment variable {env_name(old)}" in message
    assert env_name(new) in message


# -- unknown keys ----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "key"), [
    ("no_such_thing = 1\n", "no_such_thing"),
    ("[engine]\nno_such_thing = 1\n", "engine.no_such_thing"),
    ("[no_such_table]\nport = 1\n", "no_such_table"),
])
def test_an_unknown_key_in_a_file_is_refused_naming_it_and_the_file(
    text: str, key: str, tmp_path: Path,
) -> None:
    config = toml(tmp_path / "runstream.toml", text)
    assert f"unknown setting {key!r} (in {config})" in refused(config_file=config)


@pytest.mark.parametrize(("variable", "key"), [
    ("RUNSTREAM_NO_SUCH_THING", "no_such_thing"),
    ("RUNSTREAM_ENGINE__NO_SUCH_THING", "engine.no_such_thing"),
    ("RUNSTREAM_ENGINE", "engine"),  # a table is set key by key
    ("runstream_prot", "prot"),  # names are case-insensitive, typos are not forgiven
])
def test_an_unknown_runstream_variable_is_refused_naming_it(variable: str, key: str) -> None:
    message = refused(environ={variable: "1"})
    assert f"unknown setting {key!r} (from environment variable {variable})" in message


def test_every_problem_is_reported_at_once() -> None:
    message = refused(environ={"RUNSTREAM_PORT": "eighty", "RUNSTREAM_SYNCHRONOUS": "sometimes"})
    assert message.startswith("2 settings are invalid")
    assert "RUNSTREAM_PORT" in message
    assert "RUNSTREAM_SYNCHRONOUS" in message


def test_a_missing_or_malformed_config_file_is_refused_naming_it(tmp_path: Path) -> None:
    assert f"config file {tmp_path / 'nope.toml'} does not exist" in refused(
        config_file=tmp_path / "nope.toml")
    broken = toml(tmp_path / "broken.toml", "port = \n")
    assert f"config file {broken} is not valid TOML" in refused(config_file=broken)


# -- bounds ----------------------------------------------------------------------------


def _fields() -> list[tuple[str, Any]]:
    top = [(name, field) for name, field in Settings.model_fields.items() if name != "engine"]
    return top + [(f"engine.{name}", field) for name, field in EngineSettings.model_fields.items()]


def _out_of_bounds() -> list[tuple[str, str, str]]:
    """(key, a value just outside a declared bound, what the message says) for every bound."""
    cases = []
    for key, field in _fields():
        if typing.get_origin(field.annotation) is typing.Literal:
            cases.append((key, "sometimes", "Input should be"))
        if field.annotation is bool:
            cases.append((key, "maybe", "valid boolean"))
        if field.annotation in (int, float):
            cases.append((key, "eighty", "valid"))
        for bound in field.metadata:
            if isinstance(bound, annotated_types.Gt):
                cases.append((key, str(bound.gt), f"greater than {bound.gt}"))
            elif isinstance(bound, annotated_types.Ge):
                cases.append((key, str(bound.ge - 1), f"greater than or equal to {bound.ge}"))
            elif isinstance(bound, annotated_types.Le):
                cases.append((key, str(bound.le + 1), f"less than or equal to {bound.le}"))
            elif isinstance(bound, annotated_types.MinLen) and bound.min_length:
                cases.append((key, "", "at least"))
    return cases


OUT_OF_BOUNDS = _out_of_bounds()


def test_the_bounds_are_declared_on_the_model() -> None:
    bounded = {key for key, _, _ in OUT_OF_BOUNDS}
    assert {"port", "max_event_bytes", "stream_write_deadline_s", "synchronous",
            "engine.max_concurrent_runs", "engine.http_timeout_ms"} <= bounded


@pytest.mark.parametrize(("key", "value", "says"), OUT_OF_BOUNDS,
                         ids=[f"{key}={value}" for key, value, _ in OUT_OF_BOUNDS])
def test_a_value_out_of_bounds_is_refused_naming_key_value_and_variable(
    key: str, value: str, says: str,
) -> None:
    message = refused(environ={env_name(key): value})
    assert f"setting {key} = {value!r} (from environment variable {env_name(key)}): " in message
    assert says in message


def test_a_bad_value_in_a_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    config = toml(tmp_path / "runstream.toml", "[engine]\nhttp_timeout_ms = 0\n")
    assert (f"setting engine.http_timeout_ms = 0 (in {config}): Input should be greater than 0"
            in refused(config_file=config))


def test_the_ring_must_hold_the_largest_event() -> None:
    message = refused(environ={"RUNSTREAM_MAX_EVENT_BYTES": "100000",
                               "RUNSTREAM_LIVE_RING_BYTES": "70000"})
    assert "live_ring_bytes (70000) must be at least max_event_bytes (100000)" in message


# -- the generated reference -----------------------------------------------------------


def test_default_toml_and_the_operations_table_are_generated_from_the_model() -> None:
    """Stale? Run `python -m service.settings.reference`."""
    files = generated()
    assert set(files) == {DEFAULT_CONFIG, OPERATIONS_DOC}
    for path, text in files.items():
        assert path.read_text() == text, f"{path} is stale: python -m service.settings.reference"


def test_the_generated_reference_names_every_setting_and_its_default() -> None:
    table = generated()[OPERATIONS_DOC]
    for key, field in _fields():
        default = toml_value(field.get_default(call_default_factory=True))
        assert f"| `{key}` | `{env_name(key)}` | `{default}` |" in table


# -- at `runstream serve` --------------------------------------------------------------


def serve(tmp_path: Path, *args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNSTREAM_")}
    env.update(environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "serve", "--data-dir", str(tmp_path / "data"),
         *args],
        env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.slow
def test_serve_with_a_bad_variable_exits_non_zero_with_a_readable_message(
    tmp_path: Path,
) -> None:
    done = serve(tmp_path, RUNSTREAM_ENGINE__MAX_CONCURRENT_RUNS="0")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "runstream: setting engine.max_concurrent_runs = '0' (from environment variable "
        "RUNSTREAM_ENGINE__MAX_CONCURRENT_RUNS): Input should be greater than or equal to 1")
    assert not (tmp_path / "data").exists()  # refused before anything was opened


@pytest.mark.slow
def test_serve_with_an_old_key_in_its_config_file_names_the_new_one(tmp_path: Path) -> None:
    config = toml(tmp_path / "old.toml", "max_concurrent_runs = 4\n")
    done = serve(tmp_path, "--config", str(config))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"unknown setting 'max_concurrent_runs' (in {config})" in done.stderr
    assert "RUNSTREAM_ENGINE__MAX_CONCURRENT_RUNS" in done.stderr
