import ast
import json
import re
from pathlib import Path

import pytest
from pyinfra.facts.server import LinuxDistributionDict

from difusor import hardening, paths, platform
from difusor.deploys import docker, intrusion, portal, publisher, receiver, ssh
from difusor.deploys.firewall import desired_rules
from difusor.render import TEMPLATES, TemplateContextError, render, template_variables
from difusor.settings import parse_settings

DEPLOYS = Path(__file__).resolve().parents[2] / "difusor" / "deploys"


@pytest.fixture()
def settings(valid_data):
    return parse_settings(
        dict(
            valid_data,
            trusted_sources={
                "ople": ["203.0.113.20/32", "2001:db8:10::/48"],
                "admins": ["198.51.100.0/29"],
            },
        )
    )


def directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            found.setdefault(key, []).append(value)
    return found


def template_contexts(settings) -> dict[str, dict]:
    """Every template with the context its deploy gives it (built by the deploy's own
    function where it has one)."""
    ubuntu = LinuxDistributionDict(name="Ubuntu", major=24, minor=4, release_meta={})
    return {
        "base/20auto-upgrades.j2": {},
        "base/52difusor-unattended-upgrades.j2": {
            "origins_key": "Allowed-Origins",
            "origins": platform.UBUNTU_SECURITY_ORIGINS,
        },
        "base/needrestart.conf.j2": {},
        "ssh/cloud-init-ssh.cfg.j2": {"password_authentication": False},
        "base/apt-proxy.conf.j2": {"proxy": "http://proxy.example:3128"},
        "base/journald.conf.j2": {"max_use_mb": 512, "retention_days": 120},
        "base/restart-policy.conf.j2": {"service": "nginx", "restart_seconds": 2},
        "time/chrony.conf.j2": {"servers": settings.ntp_servers},
        "time/chrony-no-clock-control.conf.j2": {},
        "ssh/sudoers.j2": {"group": ssh.OPERATORS_GROUP},
        "ssh/sshd_config.j2": ssh.sshd_context(settings),
        "portal/placeholder.html.j2": {"domain": settings.portal_domain},
        "portal/logrotate-nginx.j2": {"retention_days": 120},
        "portal/nginx.conf.j2": portal.nginx_context(settings),
        "portal/certbot-ca.conf.j2": {"ca_bundle": None},
        "publisher/logrotate-difusor.j2": {"log_files": [paths.PUBLISHER_LOG], "retention_days": 9},
        **{f"publisher/{unit}.j2": context for unit, context in publisher.UNITS.items()},
        "receiver/rsyncd.conf.j2": receiver.rsyncd_context(settings),
        "docker/docker-ce.sources.j2": docker.docker_ce_source(settings, ubuntu, "x86_64"),
        "docker/after.rules.j2": {"docker_networks": docker.docker_networks(settings)},
        "fail2ban/jails.local.j2": {
            "jails": intrusion.jails(settings),
            "nginx_action": intrusion.NGINX_ACTION,
        },
        "fail2ban/difusor-nginx-ban.conf.j2": {"bans_dir": paths.NGINX_BANS_DIR},
        **{f"fail2ban/{name}.conf.j2": c for name, c in intrusion.filter_contexts().items()},
    }


def test_every_template_renders_with_exactly_its_context(settings):
    contexts = template_contexts(settings)
    assert sorted(contexts) == sorted(
        str(path.relative_to(TEMPLATES)) for path in TEMPLATES.rglob("*.j2")
    )
    for name, context in contexts.items():
        assert set(context) == template_variables(name), name
        assert render(name, **context).endswith("\n"), name


def test_a_template_refuses_values_it_does_not_use_and_lacks_none(settings):
    with pytest.raises(TemplateContextError, match=r"needs retention_days$"):
        render("base/journald.conf.j2", max_use_mb=512)
    with pytest.raises(TemplateContextError, match=r"does not use settings$"):
        render("base/journald.conf.j2", max_use_mb=512, retention_days=9, settings=settings)
    # A value only the other branch reads (proxy mode) is part of the context all the same.
    static = portal.nginx_context(settings)
    assert static["portal_mode"] == "static"
    del static["upstream"]
    with pytest.raises(TemplateContextError, match=r"needs upstream$"):
        render("portal/nginx.conf.j2", **static)


def test_deploys_put_files_only_through_the_render_helpers():
    for path in DEPLOYS.glob("*.py"):
        imported = {
            alias.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        assert "StringIO" not in imported, f"{path.name}: use difusor.render.put_text/put_json"


def test_sshd_config_follows_the_baseline(settings):
    config = directives(render("ssh/sshd_config.j2", **ssh.sshd_context(settings)))
    assert config["PermitRootLogin"] == ["prohibit-password"]
    assert config["PasswordAuthentication"] == ["no"]
    assert config["AuthorizedKeysFile"] == [f".ssh/authorized_keys {paths.AUTHORIZED_KEYS_DIR}/%u"]
    assert config["MaxAuthTries"] == ["2"]
    assert config["Ciphers"] == [",".join(hardening.SSH_CIPHERS)]
    assert config["KexAlgorithms"] == [",".join(hardening.SSH_KEX_ALGORITHMS)]
    assert config["MACs"] == [",".join(hardening.SSH_MACS)]
    for off in ("X11Forwarding", "AllowTcpForwarding", "PermitTunnel", "PermitEmptyPasswords"):
        assert config[off] == ["no"], off
    assert all(
        len(values) == 1
        for key, values in config.items()
        if key not in ("HostKey", "ListenAddress")
    )


def test_sshd_password_login_only_when_asked(valid_data):
    settings = parse_settings(dict(valid_data, ssh_password_authentication=True))
    config = directives(render("ssh/sshd_config.j2", **ssh.sshd_context(settings)))
    assert config["PasswordAuthentication"] == ["yes"]


def test_chrony_pools_and_servers(settings):
    conf = render("time/chrony.conf.j2", servers=["0.mx.pool.ntp.org", "198.18.0.20"])
    assert "pool 0.mx.pool.ntp.org iburst" in conf
    assert "server 198.18.0.20 iburst" in conf
    assert re.search(r"^cmdport 0$", conf, re.M)
    # NTP served to the monitor on loopback, to nobody else
    assert directives(conf)["bindaddress"] == ["127.0.0.1", "::1"]
    assert directives(conf)["allow"] == ["127.0.0.1"]


def test_restart_policy_never_gives_up():
    dropin = render("base/restart-policy.conf.j2", service="nginx", restart_seconds=2)
    assert directives(dropin)["Restart=always"] == [""]
    assert directives(dropin)["RestartSec=2"] == [""]
    assert directives(dropin)["StartLimitIntervalSec=0"] == [""]


def test_journald_and_proxy_render_values():
    journald = render("base/journald.conf.j2", max_use_mb=512, retention_days=120)
    assert "SystemMaxUse=512M" in journald and "MaxRetentionSec=120day" in journald
    assert 'Acquire::http::Proxy "http://proxy.example:3128";' in render(
        "base/apt-proxy.conf.j2", proxy="http://proxy.example:3128"
    )


def test_firewall_rules_in_ufw_syntax(settings):
    assert desired_rules(settings) == [
        "allow 80/tcp",
        "allow 443/tcp",
        "allow from 203.0.113.20 to any port 22 proto tcp comment 'difusor:ople'",
        "allow from 203.0.113.20 to any port 873 proto tcp comment 'difusor:ople'",
        "allow from 2001:db8:10::/48 to any port 22 proto tcp comment 'difusor:ople'",
        "allow from 2001:db8:10::/48 to any port 873 proto tcp comment 'difusor:ople'",
        "allow from 198.51.100.0/29 to any port 22 proto tcp comment 'difusor:admins'",
        "allow from 198.51.100.0/29 to any port 873 proto tcp comment 'difusor:admins'",
    ]


def nginx_directives(settings) -> str:
    from difusor.deploys.portal import nginx_config

    return nginx_config(settings)


def test_nginx_static_portal(settings):
    conf = nginx_directives(settings)
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in conf
    assert "server_tokens off;" in conf
    assert "root /srv/difusor/current/site;" in conf
    assert "proxy_pass" not in conf
    assert "set_real_ip_from" not in conf
    assert "return 301 https://prep.example.com.mx$request_uri;" in conf
    beacon = conf.split("location = /_difusor/beacon {", 1)[1].split("\n        }\n", 1)[0]
    assert 'add_header Cache-Control "no-store" always;' in beacon and "return 204;" in beacon
    # Every location that sets headers repeats the security headers (nginx does not inherit them).
    assert (
        conf.count('add_header Strict-Transport-Security "max-age=63072000" always;')
        == conf.count("location ") - 1
    )


def test_nginx_proxy_mode_with_cloudflare(valid_data):
    settings = parse_settings(
        dict(
            valid_data,
            portal_mode="proxy",
            proxy_upstream="http://127.0.0.1:9000",
            cdn="cloudflare",
            embed_origins=["https://www.example.mx"],
        )
    )
    conf = nginx_directives(settings)
    assert "server 127.0.0.1:9000;" in conf
    assert "proxy_cache_path /var/cache/nginx/difusor levels=1:2 keys_zone=difusor_micro" in conf
    # The corte field of the access log comes from the live release in both modes.
    assert "root /srv/difusor/current/site;" in conf
    assert "proxy_cache difusor_micro;" in conf and "proxy_cache_lock on;" in conf
    assert (
        "set_real_ip_from 173.245.48.0/20;" in conf and "real_ip_header CF-Connecting-IP;" in conf
    )
    assert "frame-ancestors 'self' https://www.example.mx;" in conf


def test_logrotate_reopens_and_keeps_retention():
    conf = render("portal/logrotate-nginx.j2", retention_days=120)
    assert "rotate 120" in conf and "daily" in conf and "compress" in conf
    assert "copytruncate" not in conf.replace("copytruncate would", "")
    assert 'kill -USR1 "$(cat /run/nginx.pid)"' in conf


def test_docker_daemon_json_and_firewall_rules(valid_data):
    settings = parse_settings(
        dict(
            valid_data,
            docker_public_ports=[8443],
            docker_trusted_ports=[9000],
            trusted_sources={"ople": ["203.0.113.20/32", "2001:db8::/32"]},
        )
    )
    daemon = docker.daemon_config(settings)
    # JSON types only (json.dumps refuses network objects); log options as strings.
    assert json.loads(json.dumps(daemon)) == daemon
    assert daemon["live-restore"] is True and daemon["log-opts"] == {
        "max-file": "5",
        "max-size": "10m",
    }
    assert daemon["bip"] == "172.29.0.1/24"
    assert daemon["default-address-pools"] == [{"base": "172.30.0.0/16", "size": 24}]
    routes = [
        "route allow 8443/tcp comment 'difusor-docker:public'",
        # Docker gives containers IPv4 only: no IPv6 route rules.
        "route allow from 203.0.113.20 to any port 9000 proto tcp comment 'difusor-docker:ople'",
    ]
    assert docker.route_rules(settings) == routes
    # ufw.configured deletes what it is not given: the firewall applies the host's rules and
    # Docker's as one set.
    assert desired_rules(settings)[:2] == ["allow 80/tcp", "allow 443/tcp"]
    assert desired_rules(settings)[-2:] == routes
    rules = docker.after_rules(settings)
    assert rules.startswith("*filter") and rules.rstrip().endswith("COMMIT")
    assert "-A DOCKER-USER -j ufw-user-forward" in rules
    assert rules.index("--ctorigdst 127.0.0.0/8 -j ufw-docker-deny") < rules.index(
        "-j ufw-user-forward"
    )
    assert "-A DOCKER-USER -d 172.30.0.0/16 -j ufw-docker-deny" in rules
    assert "-A DOCKER-USER -d 172.29.0.0/24 -j ufw-docker-deny" in rules


def test_operators_join_the_docker_group_only_when_asked(valid_data):
    assert docker.operator_groups(parse_settings(valid_data)) == []
    assert docker.operator_groups(parse_settings(dict(valid_data, docker_operators=True))) == [
        docker.DOCKER_GROUP
    ]
    # A retired operator leaves it whatever the setting says.
    assert docker.DOCKER_GROUP in ssh.PRIVILEGED_GROUPS
