"""Every request is checked against its contract's buf.validate rules before any service
code runs. A bad one gets INVALID_ARGUMENT with a google.rpc.BadRequest detail naming each
offending field ("lines[0].quantity") and a readable message listing them."""

import grpc
import protovalidate
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from chassis import status
from chassis.interceptors._base import Context, Handler, UnaryServerInterceptor


class ValidationInterceptor(UnaryServerInterceptor):
    async def around(
        self, handler: Handler, request: Message, context: Context, method: str
    ) -> Message:
        violations = protovalidate.collect_violations(request)
        if not violations:
            return await handler(request, context)
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=field_path(v.proto.field), description=v.proto.message
                )
                for v in violations
            ]
        )
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
