"""`shop up` refuses options that name nothing real before it starts anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoptools.shop.cli import main


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        (["--client", "nobody"], "--client 'nobody': not a service of the contracts"),
        (["--client", "catalog"], "--client 'catalog': that service runs"),
        (["--fault", "catalog-3:abort=14"], "--fault 'catalog-3:abort=14': no instance"),
        (["--instances", "nosuch=2"], "--instances 'nosuch=2': no service 'nosuch'"),
    ],
)
def test_up_refuses_clients_and_faults_that_name_nothing_real(
    tmp_path: Path, options: list[str], complaint: str
) -> None:
    state_dir = tmp_path / "state"

    with pytest.raises(SystemExit) as refused:
        main(["up", "--state-dir", str(state_dir), "--instances", "catalog=2", *options])

    assert str(refused.value).startswith(complaint)
    assert not state_dir.exists()
