"""
Docker inside the firewall, from the lab's namespaces. A locally built busybox image (no
registry is reachable) serves HTTP in three containers, all published on every interface:
container port 80 is allowed by no setting, 81 for trusted sources, 82 for everyone.
The hole is shown to exist without difusor's DOCKER-USER rules, and closed with them.
"""

import json
import time

import pytest

from difusor.rehearsal.lab import LAB_IPV4
from difusor.rehearsal.lab.images import build_busybox_image
from difusor.rehearsal.lab.inventory import DOCKER_PUBLIC_PORT, DOCKER_TRUSTED_PORT

IMAGE = "difusor-test/busybox:latest"
HIDDEN, TRUSTED, PUBLIC = 8080, 8080 + DOCKER_TRUSTED_PORT - 80, 8080 + DOCKER_PUBLIC_PORT - 80
CONTAINERS = {
    "probe-hidden": (HIDDEN, 80),
    "probe-trusted": (TRUSTED, DOCKER_TRUSTED_PORT),
    "probe-public": (PUBLIC, DOCKER_PUBLIC_PORT),
}


def ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def wait_for(check, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(1)
    return False


@pytest.fixture(scope="module", autouse=True)
def containers(lab):
    """Build the image from Debian's busybox-static and start the three containers."""
    build_busybox_image(lab, IMAGE, {"www/index.html": "difusor\n"})
    for name, (host_port, port) in CONTAINERS.items():
        ok(
            lab.ssh(
                f"docker rm -f {name} >/dev/null 2>&1; "
                f"docker run -d --restart unless-stopped --name {name} "
                f"-p {host_port}:{port} {IMAGE} /bin/busybox httpd -f -p {port} -h /www",
                timeout=120,
            )
        )
    assert wait_for(
        lambda: (
            lab.ssh(f"curl -s --max-time 5 http://127.0.0.1:{PUBLIC}/").stdout.strip() == "difusor"
        )
    )
    yield
    lab.ssh("docker rm -f " + " ".join(CONTAINERS), timeout=120)


def test_containers_serve_locally(lab):
    for host_port, _ in CONTAINERS.values():
        assert (
            lab.ssh(f"curl -s --max-time 5 http://127.0.0.1:{host_port}/").stdout.strip()
            == "difusor"
        )


def test_port_allowed_by_no_setting_is_closed_to_everyone(lab):
    assert not lab.tcp_reachable("public", LAB_IPV4, HIDDEN)
    assert not lab.tcp_reachable("ople", LAB_IPV4, HIDDEN)


def test_trusted_port_only_from_trusted_sources(lab):
    assert lab.tcp_reachable("ople", LAB_IPV4, TRUSTED)
    assert not lab.tcp_reachable("public", LAB_IPV4, TRUSTED)


def test_public_port_from_anywhere(lab):
    assert lab.tcp_reachable("public", LAB_IPV4, PUBLIC)
    assert lab.tcp_reachable("ople", LAB_IPV4, PUBLIC)


def test_the_hole_exists_without_the_rules_and_ufw_reload_closes_it(lab):
    ok(lab.ssh("iptables -F DOCKER-USER"))
    try:
        assert lab.tcp_reachable("public", LAB_IPV4, HIDDEN), "Docker's hole did not reproduce"
    finally:
        ok(lab.ssh("ufw reload"))
    assert not lab.tcp_reachable("public", LAB_IPV4, HIDDEN)
    assert lab.tcp_reachable("public", LAB_IPV4, PUBLIC)


def started_at(lab, name: str) -> str:
    return ok(
        lab.ssh(f"docker inspect --format '{{{{.State.StartedAt}}}} {{{{.State.Pid}}}}' {name}")
    ).strip()


def test_live_restore_keeps_containers_across_a_docker_restart(lab):
    before = started_at(lab, "probe-public")
    ok(lab.ssh("systemctl restart docker", timeout=120))
    assert started_at(lab, "probe-public") == before
    assert lab.tcp_reachable("public", LAB_IPV4, PUBLIC)
    assert not lab.tcp_reachable("public", LAB_IPV4, HIDDEN)


def test_container_logs_rotate_at_the_configured_size(lab, settings):
    name = "probe-chatty"
    container = ok(
        lab.ssh(
            f"docker run -d --name {name} {IMAGE} /bin/busybox sh -c "
            "'while true; do echo "
            "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz; done'",
            timeout=120,
        )
    ).strip()
    try:
        logs = f"/var/lib/docker/containers/{container}"
        assert wait_for(lambda: ".log.1" in lab.ssh(f"ls {logs}").stdout, 60)
        time.sleep(2)
        sizes = json.loads(
            ok(
                lab.ssh(
                    f'python3 -c "import json,glob,os; print(json.dumps('
                    f"{{p: os.path.getsize(p) for p in glob.glob('{logs}/*-json.log*')}}))\""
                )
            )
        )
    finally:
        lab.ssh(f"docker rm -f {name}", timeout=120)
    limit = int(settings.docker_log_max_size.rstrip("m")) * 1024 * 1024
    assert len(sizes) <= settings.docker_log_max_files, sizes
    assert all(size <= limit * 1.05 for size in sizes.values()), sizes


def test_rules_survive_a_restart_of_the_lab_machine(lab):
    lab.restart_machine()
    assert wait_for(
        lambda: (
            lab.ssh(f"curl -s --max-time 5 http://127.0.0.1:{PUBLIC}/").stdout.strip() == "difusor"
        ),
        120,
    )
    assert lab.tcp_reachable("public", LAB_IPV4, PUBLIC)
    assert not lab.tcp_reachable("public", LAB_IPV4, HIDDEN)
    assert not lab.tcp_reachable("public", LAB_IPV4, TRUSTED)
    assert lab.tcp_reachable("ople", LAB_IPV4, TRUSTED)
