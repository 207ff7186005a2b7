"""The layers, each a pydantic-settings source: config/default.toml, then a `--config` file,
then RUNSTREAM_* variables, then explicit overrides (the CLI's flags). Later layers win."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_settings import (
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    TomlConfigSettingsSource,
)
from pydantic_settings import SettingsError as SourceError

from service.settings.errors import Layer, Problem, SettingsError, unknown_key
from service.settings.model import Settings, tables, validated
from service.settings.names import ENV_NESTED_DELIMITER, ENV_PREFIX

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "default.toml"


class EnvironmentSource(EnvSettingsSource):
    """RUNSTREAM_* variables of `environ`; a prefixed variable that names no setting is
    refused (pydantic-settings alone would ignore it, and a typo would go unnoticed)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        super().__init__(Settings)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # Settings are case-insensitive (model_config), so the source matches lower case.
        return {name.lower(): value for name, value in self.environ.items()}

    def unknown(self) -> list[Problem]:
        """A problem for each prefixed variable that names no setting (a table is no setting:
        its keys are, RUNSTREAM_ENGINE__<KEY>)."""
        known = _env_paths(Settings)
        problems = []
        for name in sorted(self.environ):
            suffix = name[len(ENV_PREFIX):].lower()
            if name.upper().startswith(ENV_PREFIX) and suffix not in known:
                key = suffix.replace(ENV_NESTED_DELIMITER, ".")
                problems.append(unknown_key(key, f"(from environment variable {name})"))
        return problems


def _env_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every variable suffix that names a setting: `port`, `engine__http_timeout_ms`."""
    nested = tables(model)
    paths = set()
    for name in model.model_fields:
        if name in nested:
            paths |= _env_paths(nested[name], prefix + name + ENV_NESTED_DELIMITER)
        else:
            paths.add(prefix + name)
    return paths


def _read(source: PydanticBaseSettingsSource, where: str) -> dict[str, Any]:
    try:
        return source()
    except SourceError as exc:  # e.g. a variable holding a table that is not JSON
        raise SettingsError(f"{where}: {exc}") from None


def _toml_layer(path: Path) -> Layer:
    if not path.is_file():
        raise SettingsError(f"config file {path} does not exist")
    try:
        source = TomlConfigSettingsSource(Settings, toml_file=path)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    return Layer(str(path), _read(source, str(path)), "file")


def _merge(low: dict[str, Any], high: Mapping[str, Any]) -> dict[str, Any]:
    """`high` over `low`; tables merge key by key (an [engine] key in a file keeps the rest)."""
    merged = dict(low)
    for key, value in high.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from every layer; `environ` defaults to this process's environment."""
    layers = [_toml_layer(DEFAULT_CONFIG)]
    if config_file is not None:
        layers.append(_toml_layer(Path(config_file)))
    env = EnvironmentSource(os.environ if environ is None else environ)
    unknown = env.unknown()
    if unknown:
        raise SettingsError.of(unknown)
    layers.append(Layer("the environment", _read(env, "the environment"), "env"))
    layers.append(Layer("the command line", dict(overrides or {})))
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = _merge(merged, layer.data)
    return validated(merged, layers[::-1])

