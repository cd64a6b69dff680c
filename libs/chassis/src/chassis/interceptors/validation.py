"""Every request is checked against its contract's buf.validate rules before any service
code runs. A bad one gets INVALID_ARGUMENT with a google.rpc.BadRequest detail naming each
offending field ("lines[0].quantity") and a readable message listing them.

One rule holds for every contract without being written in each: no string contains the
NUL character (U+0000). Protobuf and JSON allow it, but every service stores text in
PostgreSQL, which cannot, so it would fail as INTERNAL deep inside the service instead."""

from collections.abc import Iterator

import grpc
import protovalidate
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from chassis import status
from chassis.interceptors._base import Context, Handler, UnaryServerInterceptor


class ValidationInterceptor(UnaryServerInterceptor):
    async def around(
        self, handler: Handler, request: Message, context: Context, method: str
    ) -> Message:
        violations = [
            error_details_pb2.BadRequest.FieldViolation(
                field=field_path(v.proto.field), description=v.proto.message
            )
            for v in protovalidate.collect_violations(request)
        ]
        violations += [
            error_details_pb2.BadRequest.FieldViolation(field=path, description=NUL_VIOLATION)
            for path in strings_with_nul(request)
        ]
        if not violations:
            return await handler(request, context)
        bad_request = error_details_pb2.BadRequest(field_violations=violations)
        readable = "; ".join(
            f"{fv.field}: {fv.description}" if fv.field else fv.description
            for fv in bad_request.field_violations
        )
        await status.abort(
            context, grpc.StatusCode.INVALID_ARGUMENT, f"invalid request: {readable}", [bad_request]
        )


def field_path(path: protovalidate.FieldPathPb | None) -> str:
    """A violation's field path as people write it: `lines[0].quantity`, `labels["k"]`.
    Empty for a rule on the whole request message."""
    if path is None:
        return ""
    parts: list[str] = []
    for element in path.elements:
        text = ("." if parts else "") + element.field_name
        subscript = element.subscript
        if subscript is not None:
            if subscript.field == "string_key":
                text += f'["{subscript.value}"]'
            elif subscript.field == "bool_key":
                text += f"[{str(subscript.value).lower()}]"
            else:
                text += f"[{subscript.value}]"
        parts.append(text)
    return "".join(parts)


NUL_VIOLATION = "must not contain the NUL character (U+0000)"


def strings_with_nul(message: Message, prefix: str = "") -> Iterator[str]:
    """Paths (as in `field_path`) of the strings in `message` that contain U+0000."""
    for field, value in message.ListFields():
        path = f"{prefix}.{field.name}" if prefix else field.name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for key, item in value.items():
                entry = f'{path}["{key}"]' if isinstance(key, str) else f"{path}[{key}]"
                if isinstance(key, str) and "\x00" in key:
                    yield entry
                yield from _nul_in(value_field, item, entry)
        elif field.is_repeated:
            for i, item in enumerate(value):
                yield from _nul_in(field, item, f"{path}[{i}]")
        else:
            yield from _nul_in(field, value, path)


def _nul_in(field: FieldDescriptor, value: object, path: str) -> Iterator[str]:
    if field.type == FieldDescriptor.TYPE_STRING and isinstance(value, str) and "\x00" in value:
        yield path
    elif isinstance(value, Message):
        yield from strings_with_nul(value, path)
