"""`shop up --fault SPEC`: what a spec means, and the mistakes refused before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoptools.mesh.sidecar import Fault
from shoptools.shop.chaos import FaultSpecError, parse_faults
from shoptools.topology import Topology


@pytest.fixture
def topology(tmp_path: Path) -> Topology:
    return Topology(tmp_path, services={"catalog": 2})


def test_faults_are_grouped_by_instance_and_may_name_one_method(topology: Topology) -> None:
    specs = ["catalog-2:abort=14", "catalog-1:SearchProducts:delay=3s", "catalog-2:delay=250ms"]

    assert parse_faults(specs, topology) == {
        "catalog-2": [Fault(abort_grpc_status=14), Fault(delay_s=0.25)],
        "catalog-1": [Fault(delay_s=3.0, method="SearchProducts")],
    }


def test_a_status_code_may_be_given_by_name(topology: Topology) -> None:
    assert parse_faults(["catalog-1:GetProduct:abort=unavailable"], topology) == {
        "catalog-1": [Fault(abort_grpc_status=14, method="GetProduct")]
    }


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("catalog-9:abort=14", "no instance 'catalog-9' (running: catalog-1, catalog-2)"),
        ("catalog-1:Nope:delay=1s", "shop.catalog.v1.CatalogService has no method 'Nope'"),
        ("catalog-1:abort=0", "'0' is not a failing gRPC status code"),
        ("catalog-1:abort=17", "'17' is not a failing gRPC status code"),
        ("catalog-1:delay=soon", "'soon' is not a duration"),
        ("catalog-1:explode=1", "unknown fault 'explode' (abort or delay)"),
        ("catalog-1", "expected INSTANCE[:METHOD]:abort=CODE or INSTANCE[:METHOD]:delay="),
        ("a:b:c:abort=14", "expected INSTANCE[:METHOD]:abort=CODE"),
    ],
)
def test_a_spec_that_names_nothing_real_is_refused(
    topology: Topology, spec: str, complaint: str
) -> None:
    with pytest.raises(FaultSpecError) as refused:
        parse_faults([spec], topology)

    assert str(refused.value).startswith(f"--fault {spec!r}: ")
    assert complaint in str(refused.value)
