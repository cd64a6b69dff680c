"""The mesh policy (mesh/policy.yaml): typed, validated against the contracts.

Mesh-neutral on purpose: the same values are rendered into Envoy locally and into Linkerd
and NetworkPolicy on Kubernetes, so nothing here names a proxy's knobs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import descriptor_pb2

from shop.common.v1 import event_pb2
from shoptools.contracts.model import Access, Method, Service, descriptor_set, load_contracts

GATEWAY = "gateway"  # the API gateway's mesh identity
MIN_FILL_INTERVAL_S = 0.05  # what Envoy's token buckets accept
RETRY_CONDITIONS = frozenset({"unavailable", "reset", "connect-failure", "refused-stream"})
# A durable consumer's name: "<service>-<what it does>", one NATS subject token.
_CONSUMER_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class PolicyError(ValueError):
    """The policy file is invalid; the message says where and why."""


@dataclass(frozen=True)
class Timeouts:
    timeout: float  # seconds, the whole call including retries
    per_try_timeout: float


@dataclass(frozen=True)
class Retries:
    attempts: int  # the first try included
    backoff_base: float
    backoff_max: float
    conditions: tuple[str, ...]  # which failures are retried


@dataclass(frozen=True)
class CircuitBreaker:
    max_connections: int
    max_pending_requests: int
    max_requests: int
    max_retries: int


@dataclass(frozen=True)
class OutlierDetection:
    consecutive_failures: int
    interval: float
    base_ejection_time: float
    max_ejection_percent: int


@dataclass(frozen=True)
class HealthCheck:
    interval: float
    timeout: float
    unhealthy_threshold: int
    healthy_threshold: int


@dataclass(frozen=True)
class Defaults:
    timeouts: Timeouts
    retries: Retries
    circuit_breaker: CircuitBreaker
    outlier_detection: OutlierDetection
    health_check: HealthCheck


@dataclass(frozen=True)
class ServicePolicy:
    name: str
    method_timeouts: dict[str, Timeouts]
    callers: dict[str, frozenset[str]]  # caller identity -> methods it may call


@dataclass(frozen=True)
class Jwt:
    issuer: str
    audience: str


@dataclass(frozen=True)
class TokenBucket:
    max_tokens: int  # the burst
    tokens_per_fill: int
    fill_interval: float  # seconds


@dataclass(frozen=True)
class RateLimits:
    """Fair use at the edge: a call takes a token from its client's bucket, then one from
    the overall bucket; either empty, the call is refused (429)."""

    per_customer: TokenBucket  # calls with a verified token, by its subject
    per_address: TokenBucket  # calls without one, by the client's address
    overall: TokenBucket  # every call the gateway lets through
    tracked_clients: int  # clients with a bucket at once; the least recently seen go first


@dataclass(frozen=True)
class GatewayPolicy:
    jwt: Jwt
    rate_limit: RateLimits


@dataclass(frozen=True)
class EventSubscription:
    """One durable consumer a service may run: which events it reads, all of one context
    (whose stream it consumes)."""

    service: str
    name: str  # the durable consumer's name (the chassis Subscription's), "<service>-..."
    context: str  # the publishing context, e.g. "orders"
    subjects: tuple[str, ...]  # event subjects; "<context>.>" for every event of it


@dataclass(frozen=True)
class MeshPolicy:
    defaults: Defaults
    services: dict[str, ServicePolicy]
    gateway: GatewayPolicy
    contracts: dict[str, Service]
    # Who consumes which events: service -> its durable consumers. Publishing follows from
    # the contracts: a service publishes its own context's events.
    events: dict[str, tuple[EventSubscription, ...]] = field(default_factory=dict)

    def service(self, name: str) -> Service:
        try:
            return self.contracts[name]
        except KeyError:
            raise PolicyError(f"unknown service {name!r}") from None

    def timeouts(self, method: Method) -> Timeouts:
        overrides = self.services.get(method.service)
        if overrides and method.name in overrides.method_timeouts:
            return overrides.method_timeouts[method.name]
        return self.defaults.timeouts

    def callers(self, method: Method) -> list[str]:
        """Identities allowed to call `method`, sorted; the gateway for non-internal ones."""
        service = self.services.get(method.service)
        allowed = {
            caller
            for caller, methods in (service.callers.items() if service else ())
            if method.name in methods
        }
        if method.access is not Access.INTERNAL:
            allowed.add(GATEWAY)
        return sorted(allowed)

    def publishes_events(self, service: str) -> bool:
        """Whether `service` publishes events: its contract declares some."""
        return self.service(service).publishes_events

    def subscriptions(self, service: str) -> tuple[EventSubscription, ...]:
        """The durable consumers `service` may run; none unless the policy lists them."""
        self.service(service)
        return self.events.get(service, ())


@functools.cache
def event_subjects() -> dict[str, frozenset[str]]:
    """Every event subject the contracts declare ((shop.common.v1.event) on a message of an
    events.proto), by the context that publishes it: {"orders": {"orders.order.placed", ...}}."""
    subjects: dict[str, set[str]] = {}
    for file in descriptor_pb2.FileDescriptorSet.FromString(descriptor_set()).file:
        for message in file.message_type:
            if message.options.HasExtension(event_pb2.event):
                subject = message.options.Extensions[event_pb2.event].subject
                context = file.package.split(".")[1]
                if subject.split(".")[0] != context:  # its stream and its rights say so
                    raise ValueError(f"{file.name}: {subject!r} is not a subject of {context}")
                subjects.setdefault(context, set()).add(subject)
    return {context: frozenset(found) for context, found in subjects.items()}


def load_policy(path: Path) -> MeshPolicy:
    return parse_policy(path.read_text(), source=str(path))


def parse_policy(text: str, *, source: str = "<policy>") -> MeshPolicy:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise PolicyError(f"{source}: not valid YAML: {e}") from e
    root = _Section(data, source).only("version", "defaults", "services", "gateway", "events")
    if root.integer("version") != 1:
        raise PolicyError(f"{root.at('version')}: only version 1 is supported")
    contracts = load_contracts()
    defaults = _defaults(root.section("defaults"))
    services = root.section("services")
    gateway = root.section("gateway").only("jwt", "rate_limit")
    jwt = gateway.section("jwt").only("issuer", "audience")
    rate = gateway.section("rate_limit").only(
        "per_customer", "per_address", "overall", "tracked_clients"
    )
    return MeshPolicy(
        defaults=defaults,
        services={
            name: _service(services.section(name), name, contracts, defaults) for name in services
        },
        gateway=GatewayPolicy(
            jwt=Jwt(issuer=jwt.text("issuer"), audience=jwt.text("audience")),
            rate_limit=RateLimits(
                per_customer=_bucket(rate.section("per_customer")),
                per_address=_bucket(rate.section("per_address")),
                overall=_bucket(rate.section("overall")),
                tracked_clients=rate.integer("tracked_clients", minimum=1),
            ),
        ),
        contracts=contracts,
        events=_events(root.section("events"), contracts),
    )


def _events(
    section: _Section, contracts: Mapping[str, Service]
) -> dict[str, tuple[EventSubscription, ...]]:
    """events: {service: {consumer name: [event subjects of one context]}}."""
    published = event_subjects()
    events: dict[str, tuple[EventSubscription, ...]] = {}
    for service in section:
        if service not in contracts:
            raise PolicyError(f"{section.at(service)}: unknown service {service!r}")
        consumers = section.section(service)
        subscriptions = []
        for name in consumers:
            where = consumers.at(name)
            if not _CONSUMER_NAME.match(name) or not name.startswith(f"{service}-"):
                raise PolicyError(
                    f"{where}: a consumer's name is '{service}-<what it does>' "
                    "(lower case letters, digits, dashes)"
                )
            subjects = consumers.names(name)
            if not subjects:
                raise PolicyError(f"{where}: name the events it consumes")
            contexts = {subject.split(".")[0] for subject in subjects}
            if len(contexts) != 1:
                raise PolicyError(f"{where}: events of one context per consumer, not {contexts}")
            context = contexts.pop()
            if context not in published:
                raise PolicyError(f"{where}: {context!r} publishes no events")
            for subject in subjects:
                if subject != f"{context}.>" and subject not in published[context]:
                    raise PolicyError(f"{where}: unknown event subject {subject!r}")
            subscriptions.append(EventSubscription(service, name, context, tuple(subjects)))
        events[service] = tuple(subscriptions)
    return events


def _bucket(section: _Section) -> TokenBucket:
    section.only("max_tokens", "tokens_per_fill", "fill_interval")
    bucket = TokenBucket(
        max_tokens=section.integer("max_tokens", minimum=1, maximum=2**32 - 1),
        tokens_per_fill=section.integer("tokens_per_fill", minimum=1, maximum=2**32 - 1),
        fill_interval=section.duration("fill_interval"),
    )
    if bucket.fill_interval < MIN_FILL_INTERVAL_S:
        raise PolicyError(f"{section.at('fill_interval')}: at least 50ms")
    return bucket


def _defaults(section: _Section) -> Defaults:
    section.only("timeout", "retries", "circuit_breaker", "outlier_detection", "health_check")
    retries = section.section("retries").only(
        "attempts", "per_try_timeout", "backoff", "conditions"
    )
    backoff = retries.section("backoff").only("base", "max")
    breaker = section.section("circuit_breaker").only(
        "max_connections", "max_pending_requests", "max_requests", "max_retries"
    )
    outlier = section.section("outlier_detection").only(
        "consecutive_failures", "interval", "base_ejection_time", "max_ejection_percent"
    )
    health = section.section("health_check").only(
        "interval", "timeout", "unhealthy_threshold", "healthy_threshold"
    )
    conditions = tuple(retries.names("conditions"))
    for condition in conditions:
        if condition not in RETRY_CONDITIONS:
            known = ", ".join(sorted(RETRY_CONDITIONS))
            raise PolicyError(
                f"{retries.at('conditions')}: unknown condition {condition!r} ({known})"
            )
    retry_policy = Retries(
        attempts=retries.integer("attempts", minimum=1),
        backoff_base=backoff.duration("base"),
        backoff_max=backoff.duration("max"),
        conditions=conditions,
    )
    if retry_policy.backoff_max < retry_policy.backoff_base:
        raise PolicyError(f"{backoff.where}: max must not be less than base")
    return Defaults(
        timeouts=_timeouts(
            section.duration("timeout"), retries.duration("per_try_timeout"), section
        ),
        retries=retry_policy,
        circuit_breaker=CircuitBreaker(
            max_connections=breaker.integer("max_connections", minimum=1),
            max_pending_requests=breaker.integer("max_pending_requests", minimum=1),
            max_requests=breaker.integer("max_requests", minimum=1),
            max_retries=breaker.integer("max_retries", minimum=0),
        ),
        outlier_detection=OutlierDetection(
            consecutive_failures=outlier.integer("consecutive_failures", minimum=1),
            interval=outlier.duration("interval"),
            base_ejection_time=outlier.duration("base_ejection_time"),
            max_ejection_percent=outlier.integer("max_ejection_percent", minimum=0, maximum=100),
        ),
        health_check=HealthCheck(
            interval=health.duration("interval"),
            timeout=health.duration("timeout"),
            unhealthy_threshold=health.integer("unhealthy_threshold", minimum=1),
            healthy_threshold=health.integer("healthy_threshold", minimum=1),
        ),
    )


def _service(
    section: _Section, name: str, contracts: Mapping[str, Service], defaults: Defaults
) -> ServicePolicy:
    if name not in contracts:
        raise PolicyError(f"{section.where}: unknown service {name!r} (not in the contracts)")
    service = contracts[name]
    section.only("methods", "callers")

    def known(method: str, where: str) -> str:
        if method not in service.methods:
            raise PolicyError(f"{where}: unknown method {method!r} of {service.full_name}")
        return method

    method_timeouts: dict[str, Timeouts] = {}
    methods = section.section("methods")
    for method in methods:
        override = methods.section(known(method, methods.where)).only("timeout", "per_try_timeout")
        method_timeouts[method] = _timeouts(
            override.duration("timeout", defaults.timeouts.timeout),
            override.duration("per_try_timeout", defaults.timeouts.per_try_timeout),
            override,
        )
    callers: dict[str, frozenset[str]] = {}
    callers_section = section.section("callers")
    for caller in callers_section:
        where = callers_section.at(caller)
        if caller == GATEWAY:
            raise PolicyError(f"{where}: the gateway's access is derived from the contracts")
        if caller not in contracts:
            raise PolicyError(f"{where}: unknown caller {caller!r} (not a service)")
        callers[caller] = frozenset(known(m, where) for m in callers_section.names(caller))
    return ServicePolicy(name=name, method_timeouts=method_timeouts, callers=callers)


def _timeouts(timeout: float, per_try: float, section: _Section) -> Timeouts:
    if per_try > timeout:
        raise PolicyError(f"{section.where}: per_try_timeout exceeds timeout")
    return Timeouts(timeout=timeout, per_try_timeout=per_try)


def parse_duration(text: str) -> float:
    """Seconds in "250ms", "5s", "1m", "1h"."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 250ms, 5s, 1m or 1h")
    return float(match[1]) * _UNIT_SECONDS[match[2]]


class _Section:
    """One mapping of the YAML document, remembering where it is for error messages."""

    def __init__(self, data: Any, source: str, path: str = "") -> None:
        self.source, self.path = source, path
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise PolicyError(f"{self.where}: expected a mapping")
        self._data: dict[Any, Any] = data

    @property
    def where(self) -> str:
        return f"{self.source}: {self.path}" if self.path else self.source

    def at(self, key: str) -> str:
        return f"{self.source}: {self.path}.{key}" if self.path else f"{self.source}: {key}"

    def __iter__(self) -> Iterator[str]:
        return (str(k) for k in self._data)

    def only(self, *allowed: str) -> _Section:
        """Refuse keys other than `allowed` (typos), before anything is read."""
        unknown = sorted(str(k) for k in self._data if str(k) not in allowed)
        if unknown:
            raise PolicyError(f"{self.where}: unknown key {unknown[0]!r}")
        return self

    def section(self, key: str) -> _Section:
        return _Section(self._data.get(key), self.source, f"{self.path}.{key}".lstrip("."))

    def _value(self, key: str, default: Any = None) -> Any:
        value = self._data.get(key, default)
        if value is None:
            raise PolicyError(f"{self.at(key)}: required")
        return value

    def text(self, key: str) -> str:
        value = self._value(key)
        if not isinstance(value, str) or not value:
            raise PolicyError(f"{self.at(key)}: expected a non-empty string")
        return value

    def integer(self, key: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self._value(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise PolicyError(f"{self.at(key)}: expected an integer")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise PolicyError(f"{self.at(key)}: {value} is out of range")
        return value

    def duration(self, key: str, default: float | None = None) -> float:
        value = self._value(key, None if default is None else f"{default}s")
        try:
            seconds = parse_duration(str(value))
        except ValueError as e:
            raise PolicyError(f"{self.at(key)}: {e}") from None
        if seconds <= 0:
            raise PolicyError(f"{self.at(key)}: must be positive")
        return seconds

    def names(self, key: str) -> list[str]:
        value = self._value(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PolicyError(f"{self.at(key)}: expected a list of names")
        return value
