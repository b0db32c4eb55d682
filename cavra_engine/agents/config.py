"""Where an adapter finds the portal and its credential: environment first, then a credentials file
that lives outside the repository (never a secret in `.claude/settings.json` or the repo)."""

from __future__ import annotations

import json
import os
from pathlib import Path

DEFAULT_TIMEOUT = 5.0
DEFAULT_APPROVAL_WAIT = 25.0
MAX_APPROVAL_WAIT = 3600.0


class ConfigError(Exception):
    """The adapter cannot be configured; every adapter turns this into a deny."""


def default_credentials_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cavra" / "credentials.json"


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "cavra"


def _number(name: str, value, default: float, upper: float) -> float:
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number of seconds, not {value!r}.")
    if not 0 <= number <= upper:
        raise ConfigError(f"{name} must be between 0 and {upper:g} seconds.")
    return number


def _inside(path: Path, root: Path | None) -> bool:
    if root is None:
        return False
    try:
        path.resolve().relative_to(root.resolve())
    except (OSError, ValueError):
        return False
    return True


class AgentConfig:
    """The adapter's settings (a plain class: the hook avoids importing dataclasses at start-up)."""

    def __init__(
        self,
        url: str,
        token: str,
        repository: str | None = None,
        environment: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        approval_wait: float = DEFAULT_APPROVAL_WAIT,
        state_dir: Path | None = None,
        offline: str | None = None,  # "bundle": decide from a signed bundle when the portal is unreachable
        bundle: Path | None = None,
        trust_root: Path | None = None,
    ):
        self.url, self.token, self.repository, self.environment = url, token, repository, environment
        self.timeout, self.approval_wait, self.state_dir = timeout, approval_wait, state_dir
        self.offline, self.bundle, self.trust_root = offline, bundle, trust_root

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")


def load_config(
    environ: dict | None = None, *, project_dir: str | None = None, token_required=True
) -> AgentConfig:
    """Settings from CAVRA_* variables, falling back to the credentials file (JSON with `url`, `token`
    and the same optional keys). A credentials file inside the project directory is refused."""
    env = os.environ if environ is None else environ
    file_values: dict = {}
    creds_path = (
        Path(env["CAVRA_CREDENTIALS"]) if env.get("CAVRA_CREDENTIALS") else default_credentials_path()
    )
    if creds_path.is_file():
        if _inside(creds_path, Path(project_dir) if project_dir else None):
            raise ConfigError(
                f"The credentials file {creds_path} is inside the project; move it out of the repository."
            )
        try:
            file_values = json.loads(creds_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"Cannot read the credentials file {creds_path}: {exc}")
        if not isinstance(file_values, dict):
            raise ConfigError(f"The credentials file {creds_path} must hold a JSON object.")
    elif env.get("CAVRA_CREDENTIALS"):
        raise ConfigError(f"CAVRA_CREDENTIALS names {creds_path}, which does not exist.")

    def pick(name: str, key: str):
        value = env.get(name)
        return value if value not in (None, "") else file_values.get(key)

    url = pick("CAVRA_URL", "url")
    if not url or not str(url).startswith(("http://", "https://")):
        raise ConfigError("No portal URL: set CAVRA_URL (or `url` in the credentials file) to http(s)://…")
    token = env.get("CAVRA_TOKEN") or ""
    if not token and env.get("CAVRA_TOKEN_FILE"):
        token_file = Path(env["CAVRA_TOKEN_FILE"])
        if _inside(token_file, Path(project_dir) if project_dir else None):
            raise ConfigError(
                f"CAVRA_TOKEN_FILE {token_file} is inside the project; keep tokens out of the repo."
            )
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"Cannot read CAVRA_TOKEN_FILE {token_file}: {exc.strerror or exc}")
    token = token or str(file_values.get("token") or "")
    if token_required and not token:
        raise ConfigError(
            "No agent token: set CAVRA_TOKEN, CAVRA_TOKEN_FILE or `token` in the credentials file."
        )
    offline = pick("CAVRA_OFFLINE", "offline") or None
    if offline not in (None, "bundle", "off"):
        raise ConfigError("CAVRA_OFFLINE must be `bundle` or `off`.")
    bundle = pick("CAVRA_BUNDLE", "bundle")
    trust_root = pick("CAVRA_TRUST_ROOT", "trust_root")
    state = pick("CAVRA_STATE_DIR", "state_dir")
    return AgentConfig(
        url=str(url),
        token=token,
        repository=pick("CAVRA_REPOSITORY", "repository") or None,
        environment=pick("CAVRA_ENVIRONMENT", "environment") or None,
        timeout=_number("CAVRA_TIMEOUT", pick("CAVRA_TIMEOUT", "timeout"), DEFAULT_TIMEOUT, 120),
        approval_wait=_number(
            "CAVRA_APPROVAL_WAIT",
            pick("CAVRA_APPROVAL_WAIT", "approval_wait"),
            DEFAULT_APPROVAL_WAIT,
            MAX_APPROVAL_WAIT,
        ),
        state_dir=Path(state) if state else default_state_dir(),
        offline=None if offline == "off" else offline,
        bundle=Path(bundle) if bundle else None,
        trust_root=Path(trust_root) if trust_root else None,
    )
