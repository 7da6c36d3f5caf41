import pytest

from difusor.rehearsal.lab import PUBLIC_IPV4, PUBLIC_IPV6

from .bans import portal_jails_ignoring

# Modules that leave the lab host in another state: a live corte (the continuity tests publish
# and reboot) or a replaced host (restore). The other modules expect the host as deployed,
# with the placeholder still live where they say so, so these run last, in this order.
RUN_LAST = ("test_continuity.py", "test_restore.py")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/tests/lab/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)

    def position(item) -> int:
        name = item.path.name
        return RUN_LAST.index(name) + 1 if name in RUN_LAST else 0

    items.sort(key=position)  # stable: every other test keeps its order


@pytest.fixture()
def flood_allowed(lab):
    """For tests of nginx's own limits, which flood from `public` on purpose: the portal's
    jails leave `public` alone while they run (tests/lab/test_intrusion.py bans it)."""
    with portal_jails_ignoring(lab, PUBLIC_IPV4, PUBLIC_IPV6):
        yield
