"""The supervisor starts independent services together: each service migrates (while its
sidecars start), then starts its instances, while the other services do the same."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

from shoptools.stack.supervisor import Supervisor
from shoptools.stack.wiring import MeshSetup
from shoptools.topology import Instance, Topology

SERVICES = {"catalog": 2, "inventory": 1, "orders": 1}


class Recording(Supervisor):
    """The real ordering (_start_all, _start_service) over steps that only record."""

    def __init__(self, topology: Topology) -> None:
        super().__init__(topology, MeshSetup(envoy=Path("envoy"), write_configs=dict))
        self.events: list[str] = []
        self.migrating: set[str] = set()
        self.every_service_migrates = asyncio.Event()

    async def _start_postgres(self) -> None:
        self.events.append("postgres")

    async def _start_nats(self) -> None:
        self.events.append("nats")

    async def _start_smtp_sink(self) -> None:
        self.events.append("smtp-sink")

    async def _write_mesh(self, configs: dict[str, Path]) -> None:
        names = [i.name for i in [*self.topology.instances(), *self.topology.client_sidecars()]]
        configs.update({name: Path(name) for name in [*names, "gateway"]})

    async def _migrate(self, service: str, env: Mapping[str, str]) -> None:
        self.events.append(f"{service}-migrate")
        self.migrating.add(service)
        if self.migrating == set(self.topology.services):
            self.every_service_migrates.set()
        # Returns only once every service is migrating: one after another would hang here.
        async with asyncio.timeout(5):
            await self.every_service_migrates.wait()
        self.events.append(f"{service}-migrated")

    async def _start_sidecar(self, instance: Instance, config: Path) -> None:
        self.events.append(f"{instance.name}-sidecar")

    async def _start_app(self, instance: Instance, database_url: str) -> None:
        self.events.append(instance.name)

    async def _start_gateway(self, config: Path) -> None:
        self.events.append("gateway")

    async def _start_web(self) -> None:
        self.events.append("web")

    def _check_ports_free(self) -> None:
        pass


def test_services_migrate_together_and_each_starts_its_instances_once_migrated(
    tmp_path: Path,
) -> None:
    supervisor = Recording(Topology(tmp_path, services=SERVICES))
    no_passwords = lambda database: f"postgresql:///{database}"  # noqa: E731
    supervisor.postgres.database_url = no_passwords  # type: ignore[method-assign]

    asyncio.run(supervisor._start_all())

    events = supervisor.events
    assert set(events[:2]) == {"postgres", "nats"}
    first_migrated = min(events.index(f"{s}-migrated") for s in SERVICES)
    assert all(events.index(f"{s}-migrate") < first_migrated for s in SERVICES)
    for instance in supervisor.topology.instances():
        assert events.index(f"{instance.service}-migrated") < events.index(instance.name)
        assert events.index(f"{instance.name}-sidecar") < events.index(instance.name)
    # After the mesh is written (NATS starts once it is): the web process signs with the
    # key the gateway's config holds.
    assert events.index("nats") < events.index("web")
