"""The API's validation errors placed on a form's fields: the gateway names each offending
field by its path in the request ("product.price.amount_minor", "product.categories[2]");
a form names its inputs more simply. What no input stands for is shown above the form."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from shopweb.app import render

LIST_INDEX = re.compile(r"\[\d+\]")


@dataclass
class FormErrors:
    by_field: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.by_field or self.general)


def page(
    request: Request,
    template: str,
    values: dict[str, str],
    errors: FormErrors,
    status_code: int = 200,
    **shown: Any,
) -> Response:
    """A form page: its values, its errors, and a fresh idempotency key for its next
    submission (a reload of a result page cannot repeat the change); `shown`: the rest."""
    return render(
        request,
        template,
        status_code=status_code,
        values=values,
        errors=errors,
        idempotency_key=str(uuid.uuid4()),
        **shown,
    )


def place(
    violations: Mapping[str, str],
    inputs: Iterable[str],
    *,
    prefix: str = "",
    aliases: Mapping[str, str] | None = None,
) -> FormErrors:
    """Each violation on the input it concerns: its path without `prefix` and list indexes,
    then through `aliases` (path -> input), else the input of that name; several on one
    input are joined."""
    known = set(inputs)
    placed = FormErrors()
    for path, description in violations.items():
        name = LIST_INDEX.sub("", path.removeprefix(prefix))
        name = (aliases or {}).get(name, name)
        if name in known:
            earlier = placed.by_field.get(name)
            placed.by_field[name] = f"{earlier}; {description}" if earlier else description
        else:
            placed.general.append(f"{path}: {description}" if path else description)
    return placed


def text(form: FormData, name: str) -> str:
    return str(form.get(name, "")).strip()


def whole_number(form: FormData, name: str, errors: FormErrors) -> int | None:
    """The input as an integer, or an error on it (the API would refuse it anyway, but
    a number is what the request needs to be written at all)."""
    value = text(form, name)
    try:
        return int(value)
    except ValueError:
        errors.by_field[name] = "must be a whole number"
        return None
