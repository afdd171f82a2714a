"""Loading the configuration: YAML file -> environment overrides -> validated `Config` with
absolute paths. Every problem is reported at once (ConfigError, one line each)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError as PydanticValidationError

from vmsd.config.messages import format_pydantic_error
from vmsd.config.schema import Config
from vmsd.core.errors import ConfigError

DEFAULT_CONFIG_PATHS = (Path("/etc/vmsd/vmsd.yml"), Path("config/vmsd.yml"))

# Environment variables that override one key each, so secrets and the DSN need not be in
# the file (systemd's EnvironmentFile=, or a container's environment).
ENV_OVERRIDES: Mapping[str, tuple[str, ...]] = {
    "VMSD_DATABASE_URL": ("database", "url"),
    "VMSD_SECRETS_KEY": ("secrets", "key"),
    "VMSD_STATE_DIR": ("state_dir",),
    "VMSD_SERVER_HOST": ("server", "host"),
    "VMSD_SERVER_PORT": ("server", "port"),
    "VMSD_LOG_LEVEL": ("log", "level"),
    "VMSD_LOG_FORMAT": ("log", "format"),
}


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """`$VMSD_CONFIG`, else /etc/vmsd/vmsd.yml if it exists, else ./config/vmsd.yml."""
    env = os.environ if environ is None else environ
    if env.get("VMSD_CONFIG"):
        return Path(env["VMSD_CONFIG"])
    for candidate in DEFAULT_CONFIG_PATHS:
        if candidate.is_file():
            return candidate
    return DEFAULT_CONFIG_PATHS[-1]


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, override from the environment, validate. Raises ConfigError with every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(
            f"cannot read config file {path}", [f"{path}: {err.strerror or err}"]
        ) from err
    raw = parse_yaml(text, path)
    overridden = apply_env_overrides(raw, os.environ if environ is None else environ)
    config = validate_config(raw, source=str(path), overridden=overridden)
    return resolve_paths(config, path.resolve().parent)


def parse_yaml(text: str, path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{path} is not valid YAML", [f"{where}: {problem}"]) from err
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path} is not a YAML mapping",
            [f"(root): must be a mapping of sections (got {type(raw).__name__})"],
        )
    return raw


def apply_env_overrides(
    raw: dict[str, Any], environ: Mapping[str, str]
) -> dict[tuple[str, ...], str]:
    """Sets each overridden key in `raw`; returns {key path: the variable that set it}."""
    overridden: dict[tuple[str, ...], str] = {}
    for var, key_path in ENV_OVERRIDES.items():
        if var not in environ:
            continue
        overridden[key_path] = var
        node = raw
        for key in key_path[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = {}
                node[key] = child
            node = child
        node[key_path[-1]] = environ[var]
    return overridden


def validate_config(
    raw: Mapping[str, Any],
    source: str = "config",
    overridden: Mapping[tuple[str, ...], str] | None = None,
) -> Config:
    """`overridden`: keys set from the environment ({key path: variable}); a problem with one
    of them is blamed on its variable, not on `source`."""
    problems = _duplicate_camera_names(raw)
    from_env = 0
    config: Config | None = None
    try:
        config = Config.model_validate(raw)
    except PydanticValidationError as err:
        lines = []
        for error in err.errors():
            var = _variable_for(tuple(error["loc"]), overridden or {})
            from_env += var is not None
            lines.append(format_pydantic_error(error, variable=var))
        problems = lines + problems
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        where = _blamed(source, from_env, len(problems))
        raise ConfigError(f"{where}: {len(problems)} {noun}", problems)
    assert config is not None
    return config


def _blamed(source: str, from_env: int, total: int) -> str:
    if from_env == 0:
        return source
    return "the environment" if from_env == total else f"{source} and the environment"


def _variable_for(
    loc: tuple[int | str, ...], overridden: Mapping[tuple[str, ...], str]
) -> str | None:
    for key_path, var in overridden.items():
        if loc[: len(key_path)] == key_path:
            return var
    return None


def resolve_paths(config: Config, base_dir: Path) -> Config:
    """Relative paths in the file are relative to the file's directory, not to the CWD."""

    def absolute(path: Path) -> Path:
        return path if path.is_absolute() else (base_dir / path).resolve()

    state_dir = absolute(config.state_dir)
    mediamtx = config.mediamtx.model_copy(
        update={
            "base_config": absolute(config.mediamtx.base_config),
            "config_path": absolute(config.mediamtx.config_path)
            if config.mediamtx.config_path
            else state_dir / "mediamtx.yml",
        }
    )
    secrets = config.secrets.model_copy(
        update={
            "key_file": absolute(config.secrets.key_file)
            if config.secrets.key_file
            else state_dir / "credentials.key"
        }
    )
    storage = config.storage.model_copy(
        update={"paths": tuple(absolute(p) for p in config.storage.paths)}
    )
    return config.model_copy(
        update={
            "state_dir": state_dir,
            "mediamtx": mediamtx,
            "storage": storage,
            "secrets": secrets,
        }
    )


def _duplicate_camera_names(raw: Mapping[str, Any]) -> list[str]:
    cameras = raw.get("cameras")
    if not isinstance(cameras, list):
        return []
    first_index: dict[str, int] = {}
    problems = []
    for index, camera in enumerate(cameras):
        name = camera.get("name") if isinstance(camera, dict) else None
        if not isinstance(name, str):
            continue
        if name in first_index:
            problems.append(
                f'cameras[{index}].name: duplicate name "{name}" '
                f"(already used by cameras[{first_index[name]}])"
            )
        else:
            first_index[name] = index
    return problems


class ConfigHolder:
    """The configuration in force; replaced as a whole on a successful reload (SIGHUP)."""

    def __init__(self, config: Config, path: Path) -> None:
        self.current = config
        self.path = path
