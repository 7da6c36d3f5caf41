import pytest

from difusor.rehearsal.lab import PUBLIC_IPV4, PUBLIC_IPV6

from .bans import portal_jails_ignoring


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/tests/lab/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)


@pytest.fixture()
def flood_allowed(lab):
    """For tests of nginx's own limits, which flood from `public` on purpose: the portal's
    jails leave `public` alone while they run (tests/lab/test_intrusion.py bans it)."""
    with portal_jails_ignoring(lab, PUBLIC_IPV4, PUBLIC_IPV6):
        yield
