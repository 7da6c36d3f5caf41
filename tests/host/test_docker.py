"""Docker as it landed: engine running, daemon.json in effect, nothing on TCP."""

import json

import pytest


@pytest.fixture(scope="module")
def info(host) -> dict:
    return json.loads(host.check_output("docker info --format '{{json .}}'"))


@pytest.mark.parametrize("service", ["docker", "containerd"])
def test_engine_running_and_enabled(host, service):
    assert host.service(service).is_running and host.service(service).is_enabled


def test_daemon_configuration_in_effect(info, settings):
    assert info["LiveRestoreEnabled"] is True
    assert info["LoggingDriver"] == "json-file"
    assert info["CgroupVersion"] == "2"


def test_containers_confined_by_apparmor_where_the_kernel_enforces_it(host, info):
    in_container = host.run("systemd-detect-virt --container").stdout.strip() not in ("", "none")
    enabled = host.run("cat /sys/module/apparmor/parameters/enabled").stdout.strip() == "Y"
    if in_container or not enabled:
        pytest.skip("AppArmor belongs to the host of this container, or the kernel has it off")
    assert any("name=apparmor" in option for option in info["SecurityOptions"])


def test_daemon_json(host, settings):
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert daemon["log-opts"] == {
        "max-size": settings.docker_log_max_size,
        "max-file": str(settings.docker_log_max_files),
    }
    assert daemon["no-new-privileges"] is True and daemon["userland-proxy"] is False
    assert daemon["default-address-pools"] == [
        {"base": str(settings.docker_address_pool), "size": 24}
    ]
    assert "hosts" not in daemon


def test_docker_bridge_uses_the_configured_address(host, settings):
    assert settings.docker_bridge_ip.split("/")[0] in host.check_output("ip -4 addr show docker0")


def test_no_tcp_socket(host):
    listening = host.check_output("ss -Hltnp")
    assert "dockerd" not in listening and ":2375 " not in listening and ":2376 " not in listening


def test_docker_user_chain_goes_through_ufw(host):
    chain = host.check_output("iptables -S DOCKER-USER")
    assert "-A DOCKER-USER -j ufw-user-forward" in chain
    assert "-j ufw-docker-deny" in chain
    # Ports published on 127.0.0.1 before any route allow rule could accept them.
    assert chain.index("--ctorigdst 127.0.0.0/8 -j ufw-docker-deny") < chain.index(
        "-j ufw-user-forward"
    )
