import grp
import hashlib
import os
import pwd
import subprocess

from difusor.facts import (
    Account,
    AcmeCertificate,
    Certificates,
    ChronyTracking,
    FileState,
    FileStates,
    Group,
    HostResources,
    InstalledPackages,
    Logins,
    PathStates,
    PlatformTraits,
    SshClientAddress,
    SshSocket,
    Tree,
    UfwState,
    UnitStates,
    WeakModuli,
)

UFW_OUTPUT = """\
IPV6=yes
DEFAULT_INPUT_POLICY="DROP"
DEFAULT_OUTPUT_POLICY="ACCEPT"
DEFAULT_FORWARD_POLICY="DROP"
DEFAULT_APPLICATION_POLICY="SKIP"
ENABLED=yes
LOGLEVEL=low
--rules--
Added user rules (see 'ufw status' for running firewall):
ufw allow 80/tcp
ufw allow from 198.18.0.20 to any port 873 proto tcp comment 'difusor:ople'
ufw allow from fd42:d1f0:5e::20 to any port 22 proto tcp comment 'difusor:ople'
""".splitlines()


def test_ufw_state_parses_policies_and_rules():
    state = UfwState().process(UFW_OUTPUT)
    assert state["enabled"] is True
    assert state["ipv6"] is True
    assert state["logging"] == "low"
    assert state["defaults"] == {"incoming": "deny", "outgoing": "allow", "routed": "deny"}
    assert state["rules"] == [
        "allow 80/tcp",
        "allow from 198.18.0.20 to any port 873 proto tcp comment 'difusor:ople'",
        "allow from fd42:d1f0:5e::20 to any port 22 proto tcp comment 'difusor:ople'",
    ]


def test_ufw_state_of_a_fresh_install():
    output = [
        "IPV6=no",
        'DEFAULT_INPUT_POLICY="REJECT"',
        "ENABLED=no",
        "--rules--",
        "Added user rules (see 'ufw status' for running firewall):",
        "(None)",
    ]
    state = UfwState().process(output)
    assert state["enabled"] is False and state["ipv6"] is False
    assert state["defaults"] == {"incoming": "reject"}
    assert state["rules"] == []


def test_ssh_client_address():
    assert SshClientAddress().process(["client=198.18.0.1"]) == "198.18.0.1"
    assert SshClientAddress().process(["client=fd42:d1f0:5e::1"]) == "fd42:d1f0:5e::1"
    assert SshClientAddress().process(["client="]) is None


def test_host_resources_prefers_max_frequency():
    output = [
        "cores=2",
        "mhz=1996",
        "max_khz=3400000",
        "mem_kb=16303916",
        "root_kb=103081248",
        "rotational=0",
    ]
    assert HostResources().process(output) == {
        "cores": 2,
        "mhz": 3400,
        "memory_mb": 15921,
        "root_gb": 98,
        "rotational": False,
    }


def test_host_resources_tolerates_missing_figures():
    output = ["cores=8", "mhz=", "max_khz=", "mem_kb=2048000", "root_kb=1048576", "rotational="]
    resources = HostResources().process(output)
    assert resources["mhz"] is None and resources["rotational"] is None
    assert resources["root_gb"] == 1


def test_weak_moduli_count():
    assert WeakModuli().process(["12"]) == 12
    assert WeakModuli().process([""]) == 0
    assert "$5 + 1 < 3072" in WeakModuli().command(3072)


def test_chrony_tracking():
    output = """\
Reference ID    : C6120014 (198.18.0.20)
Stratum         : 9
Ref time (UTC)  : Sun Nov 22 06:40:01 2026
System time     : 0.000001234 seconds slow of NTP time
Last offset     : -0.000000512 seconds
Leap status     : Normal""".splitlines()
    tracking = ChronyTracking().process(output)
    assert tracking["reference"] == "C6120014 (198.18.0.20)"
    assert tracking["stratum"] == 9
    assert tracking["offset_seconds"] == -0.000001234
    assert tracking["leap_status"] == "Normal"


def test_chrony_not_running():
    tracking = ChronyTracking().process(["506 Cannot talk to daemon"])
    assert tracking["leap_status"] == "unknown" and tracking["offset_seconds"] is None


def test_tree_reads_a_real_directory(tmp_path):
    # The fact's own command, run here by a shell as pyinfra would run it on the server.
    root = tmp_path / "program dir"
    (root / "sub dir").mkdir(parents=True)
    (root / "sub dir" / "a file.py").write_text("x = 1\n")
    (root / "empty").write_bytes(b"")
    (root / "empty").chmod(0o600)
    command = Tree().command(path=str(root))
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    tree = Tree().process(output.stdout.splitlines())
    owner = pwd.getpwuid(os.getuid()).pw_name
    assert tree is not None
    assert set(tree) == {"", "sub dir", "sub dir/a file.py", "empty"}
    assert tree["sub dir/a file.py"]["sha256"] == hashlib.sha256(b"x = 1\n").hexdigest()
    assert tree["empty"]["mode"] == 600 and tree["empty"]["user"] == owner
    assert "sha256" not in tree["sub dir"]


def test_tree_of_a_missing_directory_is_none(tmp_path):
    command = Tree().command(path=str(tmp_path / "absent"))
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    assert Tree().process(output.stdout.splitlines()) is None


def test_file_state_of_a_real_file_and_of_none(tmp_path):
    path = tmp_path / "a file.conf"
    path.write_text("x = 1\n")
    path.chmod(0o640)
    states = []
    for target in (path, tmp_path / "absent", tmp_path):
        command = FileState().command(path=str(target))
        output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
        states.append(FileState().process(output.stdout.splitlines()))
    owner = pwd.getpwuid(os.getuid()).pw_name
    assert states[0] == {
        "mode": 640,
        "user": owner,
        "group": grp.getgrgid(os.getgid()).gr_name,
        "sha256": hashlib.sha256(b"x = 1\n").hexdigest(),
    }
    assert states[1] is None and states[2] is None  # absent, and a directory


def test_installed_packages_of_real_packages_and_states_dpkg_does_not_count():
    command = InstalledPackages().command(packages=("dpkg", "no-such-package-difusor"))
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    assert InstalledPackages().process(output.stdout.splitlines()) == ["dpkg"]
    # held, then configuration files only, unpacked but not configured, never installed
    states = ["hi  nginx", "rc  systemd-timesyncd", "iU  chrony", "un  ufw"]
    assert InstalledPackages().process(states) == ["nginx"]


def test_file_states_of_real_files_in_one_command(tmp_path):
    (tmp_path / "a.conf").write_text("x = 1\n")
    (tmp_path / "empty.conf").write_text("")
    (tmp_path / "a.conf").chmod(0o640)
    paths = tuple(str(tmp_path / name) for name in ("a.conf", "empty.conf", "absent", ""))
    command = FileStates().command(paths=paths)
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    states = FileStates().process(output.stdout.splitlines())
    assert set(states) == set(paths[:2])  # a missing path and a directory are left out
    assert states[paths[0]]["mode"] == 640
    assert states[paths[0]]["sha256"] == hashlib.sha256(b"x = 1\n").hexdigest()
    assert states[paths[1]]["sha256"] == hashlib.sha256(b"").hexdigest()


def test_acme_certificate_and_its_renewal_server(tmp_path):
    renewal = tmp_path / "prep.example.com.mx.conf"
    renewal.write_text("version = 2.1.0\n[renewalparams]\nserver = https://acme.example/dir\n")
    command = AcmeCertificate().command(
        certificate=str(tmp_path / "none.pem"), renewal=str(renewal)
    )
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    found = AcmeCertificate().process(output.stdout.splitlines())
    assert found == {"certificate": None, "server": "https://acme.example/dir"}


def test_certificates_with_their_links():
    output = [
        "== /etc/difusor/tls/live.crt",
        "link=/etc/letsencrypt/live/prep.example.com.mx/fullchain.pem",
        "serial=3A5F0C",
        "notAfter=Feb 23 00:00:00 2027 GMT",
        "issuer=CN = Pebble Intermediate CA",
        "X509v3 Subject Alternative Name: ",
        "    DNS:prep.example.com.mx",
        "== /etc/difusor/tls/live.key",
        "link=/etc/letsencrypt/live/prep.example.com.mx/privkey.pem",
        "== /etc/difusor/tls/selfsigned.crt",
    ]
    found = Certificates().process(output)
    live = found["/etc/difusor/tls/live.crt"]
    assert live["link"].endswith("fullchain.pem")
    assert live["certificate"]["names"] == ["prep.example.com.mx"]
    assert found["/etc/difusor/tls/live.key"]["certificate"] is None
    assert found["/etc/difusor/tls/selfsigned.crt"] == {"link": None, "certificate": None}


def test_unit_states_from_systemctl_show():
    output = [
        "== nginx.service",
        "UnitFileState=enabled",
        "ActiveState=activating",
        "== nosuch.service",  # a unit systemd does not know: inactive, no file state
        "ActiveState=inactive",
        "UnitFileState=",
    ]
    assert UnitStates().process(output) == {
        "nginx.service": {"active": "activating", "file": "enabled"},
        "nosuch.service": {"active": "inactive", "file": ""},
    }


def test_account_of_real_accounts():
    me = pwd.getpwuid(os.getuid())
    for user, expected in ((me.pw_name, grp.getgrgid(me.pw_gid).gr_name), ("no-such-user", None)):
        command = Account().command(user=user)
        output = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
        account = Account().process(output.stdout.splitlines())
        assert (account and account["group"]) == expected


def test_group_of_a_real_group_and_of_none():
    me = grp.getgrgid(os.getgid())
    for group, expected in ((me.gr_name, me.gr_gid), ("no-such-group-difusor", None)):
        command = Group().command(group=group)
        output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
        found = Group().process(output.stdout.splitlines())
        assert (found and found["gid"]) == expected
    assert Group().process(["docker:x:998:ana,luis"]) == {"gid": 998, "members": ["ana", "luis"]}


def test_logins_of_real_accounts_by_name_and_by_mark():
    me = pwd.getpwuid(os.getuid())
    marked = next(user for user in pwd.getpwall() if user.pw_gecos and user.pw_name != me.pw_name)
    command = Logins().command(users=(me.pw_name, "no-such-user"), comment=marked.pw_gecos)
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    accounts = Logins().process(output.stdout.splitlines())
    assert me.pw_name in accounts and marked.pw_name in accounts
    assert "no-such-user" not in accounts
    mine = accounts[me.pw_name]
    assert mine["home"] == me.pw_dir and mine["group"] == grp.getgrgid(me.pw_gid).gr_name
    assert mine["paths"][me.pw_dir]["type"] == "directory"


def test_logins_keys_and_paths_from_the_output():
    output = [
        "account ana:x:1000:1000:difusor operator:/home/ana:/bin/bash",
        "groups ana ana difusor-operators docker",
        "path directory|750|ana|ana|/home/ana",
        "path regular file|600|ana|ana|/home/ana/.ssh/authorized_keys",
        "key # added by hand",
        "key ssh-ed25519 AAAA ana@laptop",
        "key ",
    ]
    ana = Logins().process(output)["ana"]
    assert ana["groups"] == ["difusor-operators", "docker"] and ana["group"] == "ana"
    assert ana["keys"] == ["ssh-ed25519 AAAA ana@laptop"]
    assert ana["paths"]["/home/ana/.ssh/authorized_keys"]["mode"] == 600
    assert "/home/ana/.ssh" not in ana["paths"]


def test_path_states_of_real_paths(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir").chmod(0o2750)
    (tmp_path / "file").write_text("")
    paths = tuple(str(tmp_path / name) for name in ("dir", "file", "absent"))
    output = subprocess.run(
        ["sh", "-c", PathStates().command(paths=paths)], capture_output=True, text=True
    )
    states = PathStates().process(output.stdout.splitlines())
    assert set(states) == set(paths[:2])
    assert states[paths[0]]["type"] == "directory" and states[paths[0]]["mode"] == 2750
    assert states[paths[1]]["type"] == "regular empty file"


def test_platform_traits_of_an_ubuntu_image():
    output = ["cloud_init=yes", "apparmor=Y", "python=3.10"]
    assert PlatformTraits().process(output) == {
        "cloud_init": True,
        "apparmor": True,
        "python": (3, 10),
    }


def test_platform_traits_of_a_minimal_host():
    output = ["cloud_init=", "apparmor=", "python="]
    assert PlatformTraits().process(output) == {
        "cloud_init": False,
        "apparmor": False,
        "python": None,
    }


def test_ssh_socket_states():
    assert SshSocket().process(["enabled=enabled", "active=active"]) == {
        "enabled": "enabled",
        "active": "active",
    }
    # A release without the unit: systemctl prints nothing on stdout.
    assert SshSocket().process(["enabled=", "active="]) == {"enabled": "", "active": ""}
