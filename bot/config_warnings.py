"""What ``otklik check-config`` warns about in a config that loads but would not work well.

Each warning is one line for the administrator; none of them stops the bot.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from bot.config import (
    HTTP_TOKEN_ENV,
    SECRET_TOKEN_ENV,
    SMTP_PASSWORD_ENV,
    TOKEN_ENV,
    VK_TOKEN_ENVS,
    Config,
)
from workflows.model import Role

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def config_warnings(config: Config, example: Path = EXAMPLE) -> list[str]:
    s = config.settings
    found: list[str] = []
    where = str(config.path)

    written = [("telegram.token", s.telegram.token, TOKEN_ENV),
               ("telegram.secret_token", s.telegram.secret_token, SECRET_TOKEN_ENV),
               ("http.token", s.http.token, HTTP_TOKEN_ENV),
               *((f"vk.{key}", getattr(s.vk, key), env) for key, env in VK_TOKEN_ENVS.items()),
               ("email.password", s.email.password, SMTP_PASSWORD_ENV)]
    for key, secret, env in written:
        if secret.get_secret_value().strip():
            found.append(f"{where}: {key}: a token is written in the file; anyone who can read "
                         f"the file can use it (better: leave it empty and set {env})")

    managers = [p for p in s.people
                if {Role.COORDINATOR, Role.ADMIN} & set(p.roles)
                and (p.telegram_id is not None or p.vk_id is not None)]
    if not managers:
        found.append(f"{where}: people: no coordinator or admin has a telegram_id or vk_id, so "
                     "nobody could ever send /invite (give one of them their numeric id)")

    staffed = {d for p in s.people if Role.EXECUTOR in p.roles for d in p.departments}
    for i, d in enumerate(s.departments):
        if d.key not in staffed:
            found.append(f"{where}: departments[{i}]: no executor in department {d.key!r} "
                         "(add one to people, or invite one with /invite)")
    for i, c in enumerate(s.categories):
        if c.department not in staffed:
            found.append(f"{where}: categories[{i}]: incidents of {c.key!r} go to department "
                         f"{c.department!r}, which has no executor")

    if s.vk.communities and not any(c.keywords for c in s.categories):
        found.append(f"{where}: vk.communities: walls are watched, but no category has "
                     "keywords, so no complaint would ever be found (add keywords to categories)")

    found += _heads_missing(config)
    found += _left_from_example(config, example)
    return found


def _heads_missing(config: Config) -> list[str]:
    """Policies in use whose incidents go to the head of the department, where a department
    has no head: its incidents are routed to the executors directly."""
    s = config.settings
    used = {s.sla.default_policy, *s.sla.sources.values()}
    headed = {d for p in s.people if Role.DEPARTMENT_HEAD in p.roles for d in p.departments}
    found = []
    for name in sorted(used):
        procedure = config.procedures.get(name)
        if procedure is None or not procedure.head_assigns:
            continue
        missing = [d.key for d in s.departments if d.key not in headed]
        if missing:
            found.append(f"{config.path}: sla.policies.{name}.head_assigns: no department_head "
                         f"for {', '.join(missing)}; incidents of those departments go to "
                         "their executors directly (add a head to people, or invite one)")
    return found


def _left_from_example(config: Config, example: Path) -> list[str]:
    """The example's placeholder ids and sample people, still in a real config."""
    if config.path.resolve() == example.resolve():
        return []
    try:
        sample: dict[str, Any] = tomllib.loads(example.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return []  # an installed package without the example: nothing to compare with
    names = {p.get("name") for p in sample.get("people", [])}
    ids = {(key, p[key]) for p in sample.get("people", [])
           for key in ("telegram_id", "vk_id") if p.get(key) is not None}
    found = []
    where = str(config.path)
    for i, p in enumerate(config.settings.people):
        if p.name in names:
            found.append(f"{where}: people[{i}].name: {p.name!r} is a sample person from "
                         "config.example.toml (replace or remove them)")
        for key in ("telegram_id", "vk_id"):
            value = getattr(p, key)
            if (key, value) in ids:
                found.append(f"{where}: people[{i}].{key}: {value} is the example's "
                             "placeholder, not a real id (a user sees theirs with @userinfobot)")
    return found
