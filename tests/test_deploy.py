"""Deployment files: the Dockerfile, compose file, systemd unit and .env.example parse and agree."""

from __future__ import annotations

import fnmatch
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
# Every variable bot/settings.py reads, e.g. _text(env, "TELEGRAM_BOT_TOKEN").
SETTING_NAME = re.compile(r"""\b_\w+\(env, "([A-Z_]+)\"""")
DOCUMENTED = {"TELEGRAM_BOT_TOKEN", "TELEGRAM_BASE_URL", "TELEGRAM_BASE_FILE_URL", "BOT_DATA_DIR",
              "LOG_LEVEL", "DIALOGUE_TIMEOUT", "WEBHOOK_URL", "WEBHOOK_SECRET", "WEBHOOK_LISTEN",
              "WEBHOOK_PORT", "HEALTH_PORT", "ADMIN_IDS", "GROUP_COOLDOWN", "HEALTH_TOKEN"}
RUN_CMD = ["python", "-m", "bot", "run", "--knowledge", "/app/knowledge"]


# ----- Dockerfile -----

def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines = [ln for ln in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines()
             if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, args = line.strip().partition(" ")
            out.append((instruction.upper(), args.strip()))
    return out


def instructions(name: str) -> list[str]:
    return [args for instruction, args in dockerfile() if instruction == name]


def test_dockerfile_base_user_volumes_cmd() -> None:
    parsed = dockerfile()
    assert parsed[0] == ("FROM", "python:3.11-slim")
    users = instructions("USER")
    assert users and users[-1] not in ("root", "0")
    user_at = max(i for i, (ins, _) in enumerate(parsed) if ins == "USER")
    assert parsed[-1][0] == "CMD" and user_at < len(parsed) - 1
    assert json.loads(instructions("CMD")[-1]) == RUN_CMD
    volumes = [v for args in instructions("VOLUME") for v in json.loads(args)]
    assert {"/app/knowledge", "/data"} <= set(volumes)
    assert any("BOT_DATA_DIR=/data" in env for env in instructions("ENV"))
    assert any("pip install" in run for run in instructions("RUN"))


def _dockerignored(path: str) -> bool:
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    return any(fnmatch.fnmatch(path, p) for p in patterns if not p.startswith("!"))


def test_copied_files_exist_and_are_not_ignored() -> None:
    for args in instructions("COPY"):
        *sources, _target = args.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not _dockerignored(source), f"{source} is excluded by .dockerignore"
    for secret in (".env", "data", ".git", "deploy/.env", "tests"):
        assert _dockerignored(secret), f".dockerignore should exclude {secret}"


def healthcheck_command() -> list[str]:
    (check,) = instructions("HEALTHCHECK")
    command = json.loads(check[check.index("CMD") + len("CMD"):].strip())
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def health_server() -> Iterator[tuple[int, type[_Health]]]:
    handler = type("Handler", (_Health,), {"status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # Polled every 0.05 s (not 0.5 s) for the shutdown at the end, which waits for that poll.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield server.server_address[1], handler
    server.shutdown()
    server.server_close()


def _check(env: dict[str, str]) -> int:
    # A dead proxy in the environment: the check must not go through it.
    base = {"PATH": "/usr/bin:/bin", "HTTP_PROXY": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}
    return subprocess.run(healthcheck_command(), env={**base, **env}, capture_output=True,
                          timeout=30).returncode


def test_healthcheck_polls_healthz(health_server: tuple[int, type[_Health]]) -> None:
    port, handler = health_server
    assert "/healthz" in instructions("HEALTHCHECK")[0]
    assert _check({"HEALTH_PORT": str(port)}) == 0
    assert _check({"WEBHOOK_URL": "https://example.org/tg", "WEBHOOK_PORT": str(port)}) == 0
    handler.status = 503
    assert _check({"HEALTH_PORT": str(port)}) != 0


def test_healthcheck_fails_without_a_server(health_server: tuple[int, type[_Health]]) -> None:
    port, _ = health_server
    assert _check({"HEALTH_PORT": str(port), "WEBHOOK_URL": "https://example.org/tg",
                   "WEBHOOK_PORT": "9"}) != 0


# ----- docker-compose.yml -----

def test_compose_file() -> None:
    text = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")
    compose = yaml.safe_load(text)
    bot = compose["services"]["bot"]
    context = (DEPLOY / bot["build"]["context"]).resolve()
    assert context == ROOT and (context / bot["build"]["dockerfile"]).is_file()
    env_files = bot["env_file"] if isinstance(bot["env_file"], list) else [bot["env_file"]]
    assert ".env" in env_files
    targets = [v.split(":")[1] for v in bot["volumes"]]
    assert {"/app/knowledge", "/data"} <= set(targets)
    assert bot["restart"] in {"always", "unless-stopped", "on-failure"}
    assert bot["environment"]["BOT_DATA_DIR"] == "/data"
    assert "ports" not in bot and re.search(r"^\s*# ports:", text, re.M)  # webhook: commented
    named = {v.split(":")[0] for v in bot["volumes"] if not v.startswith((".", "/"))}
    assert named <= set(compose.get("volumes") or {})


# ----- systemd unit -----

def unit() -> dict[str, dict[str, list[str]]]:
    """The unit as section → key → values (keys such as Environment= may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in (DEPLOY / "shebao-bot.service").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_systemd_unit_hardening() -> None:
    service = unit()["Service"]
    one = {key: values[-1] for key, values in service.items()}
    assert one["User"] == "shebao" and one["Group"] == "shebao"
    assert one["WorkingDirectory"].startswith("/")
    assert one["EnvironmentFile"].startswith("/")
    exec_start = one["ExecStart"].split()
    assert exec_start[0].endswith("/.venv/bin/python") and exec_start[1:5] == ["-m", "bot", "run", "--knowledge"]
    assert one["Restart"] == "on-failure"
    assert one["ExecReload"] == "/bin/kill -HUP $MAINPID"
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes"}.items():
        assert one[key] == value, key
    data_dir = next(v.split("=", 1)[1] for v in service["Environment"] if v.startswith("BOT_DATA_DIR="))
    assert data_dir in one["ReadWritePaths"].split()
    assert "WantedBy" in unit()["Install"]


def test_systemd_unit_limits_system_calls_proc_users_and_files() -> None:
    """A system call allow-list, /proc hiding, a private user namespace, and enough file
    descriptors that the webhook's connection cap (half the soft limit, at most 512) holds."""
    from bot.telegram.webserver import FD_SHARE, MAX_CONNECTIONS

    service = unit()["Service"]
    one = {key: values[-1] for key, values in service.items()}
    filters = " ".join(service["SystemCallFilter"]).split()
    assert "@system-service" in filters and "~@privileged" in filters
    assert one["SystemCallErrorNumber"] == "EPERM"  # a call outside the list fails, not a kill
    assert one["ProtectProc"] == "invisible" and one["PrivateUsers"] == "yes"
    assert int(one["LimitNOFILE"]) * FD_SHARE >= MAX_CONNECTIONS * 4


# ----- constraints -----

def constraints() -> dict[str, str]:
    """deploy/constraints.txt as canonical name → pinned version."""
    from packaging.utils import canonicalize_name

    pins = {}
    for line in (DEPLOY / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep, f"not pinned: {line!r}"
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_constraints_pin_every_runtime_dependency_within_its_range() -> None:
    """Each [project] dependency is pinned to a version its specifier allows; no test tools."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = constraints()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for line in project["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in deploy/constraints.txt (run freeze_constraints.py)"
        assert requirement.specifier.contains(pins[name], prereleases=True), (name, pins[name])
    assert not {"pytest", "ruff", "mypy"} & set(pins)
    assert "pip install -c deploy/constraints.txt" in (DEPLOY / "README.md").read_text(encoding="utf-8")


def test_aiohttp_floor_excludes_request_smuggling_releases() -> None:
    """aiohttp before 3.12.14 has request-smuggling advisories: the floor excludes them."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (aiohttp,) = [Requirement(r) for r in project["dependencies"] if r.startswith("aiohttp")]
    assert not aiohttp.specifier.contains("3.12.13") and aiohttp.specifier.contains("3.12.14")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd's own parser: no unknown keys or bad values (the venv path is swapped for one that exists)."""
    text = (DEPLOY / "shebao-bot.service").read_text(encoding="utf-8")
    python = unit()["Service"]["ExecStart"][0].split()[0]
    copy = tmp_path / "shebao-bot.service"
    copy.write_text(text.replace(python, sys.executable), encoding="utf-8")
    out = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr


# ----- .env.example -----

def env_example() -> dict[str, list[str]]:
    """Each variable in .env.example (set or commented out) → the comment lines just above it."""
    found: dict[str, list[str]] = {}
    comments: list[str] = []
    for line in (DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"#?\s*([A-Z][A-Z0-9_]*)=.*", line.strip())
        if match:
            found[match.group(1)] = comments
            comments = []
        elif line.startswith("#"):
            comments.append(line)
        else:
            comments = []
    return found


def test_env_example_lists_every_setting_with_a_comment() -> None:
    read = set(SETTING_NAME.findall((ROOT / "bot" / "settings.py").read_text(encoding="utf-8")))
    assert read, "no settings found in bot/settings.py: update SETTING_NAME"
    listed = env_example()
    missing = (read | DOCUMENTED) - set(listed)
    assert not missing, f".env.example does not list {sorted(missing)}"
    uncommented = [name for name, comments in listed.items() if not comments]
    assert not uncommented, f"no comment above {uncommented}"


def test_env_example_values_are_valid() -> None:
    settings = Settings.from_env(environ={}, env_file=DEPLOY / ".env.example")
    assert settings.webhook_url is None  # polling unless the operator sets a URL
    assert settings.health_port is not None  # the Docker HEALTHCHECK needs the endpoint
