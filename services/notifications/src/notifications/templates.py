"""Message templates: one file per consumed event type in templates/ (package data), its
first line `Subject: ...`, a blank line, then the plain-text body. Placeholders are
`$name` (string.Template), filled from the Cause's values; a template naming a value its
event does not provide is a bug, and rendering raises instead of sending a half message."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources
from string import Template

from notifications.domain import RenderedMessage

SUBJECT_PREFIX = "Subject: "


class MalformedTemplate(Exception):
    """A template file does not start with its subject line and a blank line."""


def render(template: str, values: Mapping[str, str]) -> RenderedMessage:
    subject, body = _load(template)
    return RenderedMessage(subject.substitute(values), body.substitute(values))


def names() -> list[str]:
    """Every template there is (a consumed event type each)."""
    folder = resources.files(__package__).joinpath("templates")
    return sorted(f.name.removesuffix(".txt") for f in folder.iterdir() if f.name.endswith(".txt"))


@functools.cache
def _load(template: str) -> tuple[Template, Template]:
    text = resources.files(__package__).joinpath("templates", f"{template}.txt").read_text()
    head, blank, body = text.partition("\n\n")
    if not head.startswith(SUBJECT_PREFIX) or "\n" in head or not blank:
        raise MalformedTemplate(f"{template}: wants 'Subject: ...', a blank line, the body")
    return Template(head.removeprefix(SUBJECT_PREFIX)), Template(body)
