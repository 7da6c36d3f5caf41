"""
Where the host and lab suites run.

By default against the local lab: the session brings the lab host up, deploys it with the
real pyinfra command line and tears it all down at the end (``DIFUSOR_LAB_REUSE=1`` uses a
lab that is already up and deployed, as ``make rehearse`` does).

Against a real server, only the host suite applies:

    pytest tests/host --target ssh://root@prep.example.com.mx --inventory inventory/production.py
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import testinfra

from difusor.inventory import inventory_settings
from difusor.settings import Settings


def pytest_addoption(parser):
    group = parser.getgroup("difusor")
    group.addoption("--target", help="testinfra host of a deployed server (default: the local lab)")
    group.addoption(
        "--inventory", default="inventory/production.py", help="pyinfra inventory of --target"
    )
    group.addoption(
        "--inventory-host", help="the inventory's host that --target is (default: its first)"
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--target"):
        skip = pytest.mark.skip(reason="needs the local lab's namespaces")
        for item in items:
            if "lab" in item.keywords:
                item.add_marker(skip)


@dataclass
class Target:
    host: object
    settings: Settings
    name: str


@pytest.fixture(scope="session")
def lab():
    from difusor.rehearsal.lab.rehearse import deployed_lab

    with deployed_lab(reuse=os.environ.get("DIFUSOR_LAB_REUSE") == "1") as lab:
        yield lab


@pytest.fixture(scope="session")
def target(request) -> Target:
    spec = request.config.getoption("--target")
    if spec:
        name, settings = inventory_settings(
            request.config.getoption("--inventory"), request.config.getoption("--inventory-host")
        )
        return Target(
            testinfra.get_host(spec, ssh_config=request.config.getoption("ssh_config")),
            settings,
            name,
        )
    lab = request.getfixturevalue("lab")
    name, settings = inventory_settings("inventory/lab.py")
    return Target(
        testinfra.get_host(f"ssh://{name}", ssh_config=str(lab.ssh_config)), settings, name
    )


@pytest.fixture(scope="session")
def host(target):
    """The testinfra host under test (replaces testinfra's own --hosts fixture)."""
    return target.host


@pytest.fixture(scope="session")
def settings(target) -> Settings:
    return target.settings


@pytest.fixture()
def summary_line(request) -> Callable[[str], None]:
    """What the test measured, printed and shown on its line of the rehearsal summary."""
    from difusor.rehearsal.lab.rehearse import SUMMARY_PROPERTY

    def record(text: str) -> None:
        print(text)
        request.node.user_properties.append((SUMMARY_PROPERTY, text))

    return record
