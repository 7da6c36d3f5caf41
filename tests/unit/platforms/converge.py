"""
The host a first run leaves: its commands applied to a model of the recorded host (files,
packages, units, accounts, sysctls, ufw), and the facts a second run asks read back from that
model. Only the command shapes the deploy produces are understood; any other command fails
the test that applies it, so the second run never passes on a state the model guessed.
"""

from __future__ import annotations

import copy
import itertools
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import md5, sha1, sha256
from typing import Any


@dataclass
class Node:
    kind: str  # file, dir, link
    user: str = "root"
    group: str = "root"
    mode: int = 644
    content: str = ""
    target: str = ""


@dataclass
class Model:
    nodes: dict[str, Node] = field(default_factory=dict)
    packages: dict[str, list[str]] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)
    enabled: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    users: dict[str, dict] = field(default_factory=dict)
    groups: set[str] = field(default_factory=set)
    sysctl: dict[str, int] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)  # set outright (ufw, ssh.socket, ...)
    ufw_before: dict = field(default_factory=dict)

    def directory(self, path: str) -> None:
        parts = path.rstrip("/").split("/")
        for end in range(2, len(parts) + 1):
            self.nodes.setdefault("/".join(parts[:end]), Node("dir", mode=755))

    def write(self, path: str, content: str) -> None:
        self.directory(path.rsplit("/", 1)[0])
        node = self.nodes.get(path)
        if node and node.kind == "file":
            node.content = content
        else:
            self.nodes[path] = Node("file", content=content)

    # -- commands ---------------------------------------------------------------------------
    def run(self, command: str) -> None:
        if command.startswith("upload "):
            head, _, content = command.partition("\n")
            self.write(head.removeprefix("upload "), content)
            return
        command = re.sub(r"^(DEBIAN_FRONTEND|REQUESTS_CA_BUNDLE)=\S+ ", "", command)
        for handler in HANDLERS:
            match = re.fullmatch(handler[0], command, re.DOTALL)
            if match:
                handler[1](self, match)
                return
        raise AssertionError(f"the converged model does not know this command: {command!r}")

    # -- facts ------------------------------------------------------------------------------
    def fact(self, name: str, arguments: dict, recorded: Any) -> Any:
        path: str = arguments.get("path", "")
        node = self.nodes.get(path)
        if name == "difusor.facts.Certificate":
            return copy.deepcopy(self.facts.get(name, {}).get(path, recorded))
        if name == "difusor.facts.AcmeCertificate":
            renewal = self.nodes.get(arguments["renewal"])
            servers = re.findall(r"^server = (.*)$", renewal.content, re.M) if renewal else []
            return {
                "certificate": self.certificate_paths(arguments["certificate"])["certificate"],
                "server": servers[0] if servers else None,
            }
        if name == "difusor.facts.Certificates":
            return {each: self.certificate_paths(each) for each in arguments["paths"]}
        if name in self.facts:
            return copy.deepcopy(self.facts[name])
        if name in ("files.File", "files.Directory", "files.Link"):
            kind = {"files.File": "file", "files.Directory": "dir", "files.Link": "link"}[name]
            if node is None:
                return recorded
            if node.kind != kind:
                return False
            info: dict[str, Any] = {"user": node.user, "group": node.group, "mode": node.mode}
            if kind == "file":
                info.update(size=len(node.content), mtime=datetime.now())
            if kind == "link":
                info["link_target"] = node.target
            return info
        digests = {"files.Sha1File": sha1, "files.Sha256File": sha256, "files.Md5File": md5}
        if name in digests:
            if node is None or node.kind != "file":
                return recorded
            return digests[name](node.content.encode()).hexdigest()
        if name == "files.FindInFile":
            if node is None or node.kind != "file":
                return recorded
            # grep's POSIX classes, as pyinfra's patterns use them
            pattern = re.compile(arguments["pattern"].replace("[:space:]", r"\s"))
            return [line for line in node.content.splitlines() if pattern.search(line)]
        if name == "difusor.facts.InstalledPackages":
            installed = (set(recorded or []) | set(self.packages)) - self.removed
            return [package for package in arguments["packages"] if package in installed]
        if name == "server.AuthorizedKeys":
            if node is None or node.kind != "file":
                return recorded
            stripped = (line.strip() for line in node.content.splitlines())
            return [line for line in stripped if line and not line.startswith("#")]
        if name == "files.Block":
            if node is None or node.kind != "file":
                return recorded
            begin = arguments["marker"].format(mark="BEGIN")
            end = arguments["marker"].format(mark="END")
            lines = node.content.splitlines()
            if begin not in lines:
                return []
            return lines[lines.index(begin) + 1 : lines.index(end)]
        if name == "systemd.SystemdStatus":
            return {unit: unit in self.running for unit in arguments["services"]}
        if name == "systemd.SystemdEnabled":
            return {unit: unit in self.enabled for unit in arguments["services"]}
        if name == "difusor.facts.FileState":
            if node is None:
                return recorded
            return self.file_state(node) if node.kind == "file" else None
        if name == "difusor.facts.FileStates":
            states = copy.deepcopy(recorded or {})
            for each in arguments["paths"]:
                if each in self.nodes and self.nodes[each].kind == "file":
                    states[each] = self.file_state(self.nodes[each])
            return states
        if name == "difusor.facts.Tree":
            if node is None:
                return recorded
            return self.tree(path) if node.kind == "dir" else None
        if name == "difusor.facts.PathStates":
            states = copy.deepcopy(recorded or {})
            for each in arguments["paths"]:
                if each in self.nodes:
                    states[each] = self.path_state(self.nodes[each])
            return states
        if name == "difusor.facts.UnitStates":
            stock = recorded or {}
            return {
                unit: {
                    "active": "active"
                    if unit in self.running
                    else stock.get(unit, {}).get("active", ""),
                    "file": "enabled"
                    if unit in self.enabled
                    else stock.get(unit, {}).get("file", ""),
                }
                for unit in arguments["units"]
            }
        user = self.users.get(arguments.get("user", ""))
        if name == "difusor.facts.Account":
            return {**self.passwd_entry(user), "group": user["group"]} if user else recorded
        if name == "difusor.facts.Logins":
            found = copy.deepcopy(recorded or {})
            for account, each in self.users.items():
                if account in arguments["users"] or each["comment"] == arguments["comment"]:
                    found[account] = self.login(each)
            return found
        if name == "difusor.facts.Group":
            return {"gid": 999, "members": []} if arguments["group"] in self.groups else recorded
        if name == "server.Sysctl":
            return {key: self.sysctl[key] for key in arguments["keys"] if key in self.sysctl}
        return recorded

    # -- what the deploy's own facts report (difusor/facts.py), from the model's nodes -------
    @staticmethod
    def file_state(node: Node) -> dict:
        return {
            "mode": node.mode,
            "user": node.user,
            "group": node.group,
            "sha256": sha256(node.content.encode()).hexdigest(),
        }

    @staticmethod
    def path_state(node: Node) -> dict:
        kind = {"file": "regular file", "dir": "directory", "link": "symbolic link"}[node.kind]
        return {"type": kind, "mode": node.mode, "user": node.user, "group": node.group}

    def tree(self, root: str) -> dict:
        """As ``find`` lists it: directories and regular files only, relative to ``root``."""
        entries = {}
        for each, node in self.nodes.items():
            if (each == root or each.startswith(root + "/")) and node.kind != "link":
                entry = {"mode": node.mode, "user": node.user, "group": node.group}
                if node.kind == "file":
                    entry["sha256"] = self.file_state(node)["sha256"]
                entries[each.removeprefix(root).lstrip("/")] = entry
        return entries

    def certificate_paths(self, path: str) -> dict:
        """A path as :class:`difusor.facts.Certificates` reports it (links followed)."""
        node = self.nodes.get(path)
        link = node.target if node and node.kind == "link" else None
        certificates = self.facts.get("difusor.facts.Certificate", {})
        return {"link": link, "certificate": copy.deepcopy(certificates.get(link or path))}

    def login(self, user: dict) -> dict:
        """An account as :class:`difusor.facts.Logins` reports it."""
        home = user["home"]
        paths = (home, f"{home}/.ssh", f"{home}/.ssh/authorized_keys")
        keys_file = self.nodes.get(paths[2])
        lines = [line.strip() for line in keys_file.content.splitlines()] if keys_file else []
        return {
            **self.passwd_entry(user),
            "group": user["group"],
            "groups": list(user["groups"]),
            "paths": {
                path: self.path_state(self.nodes[path]) for path in paths if path in self.nodes
            },
            "keys": [line for line in lines if line and not line.startswith("#")],
        }

    @staticmethod
    def passwd_entry(user: dict) -> dict:
        return {key: user[key] for key in ("uid", "gid", "comment", "home", "shell")}


def _mkdir(model: Model, match: re.Match) -> None:
    model.directory(match["path"])


def _chmod(model: Model, match: re.Match) -> None:
    model.nodes[match["path"]].mode = int(match["mode"])


def _chown(model: Model, match: re.Match) -> None:
    """chown USER:GROUP, USER (group kept) or USER: (the user's primary group)."""
    node = model.nodes[match["path"]]
    node.user, colon, group = match["owner"].partition(":")
    if colon and not group:
        group = model.users[node.user]["group"]
    node.group = group or node.group


def _link(model: Model, match: re.Match) -> None:
    model.directory(match["path"].rsplit("/", 1)[0])
    model.nodes[match["path"]] = Node("link", target=match["target"])


def _move(model: Model, match: re.Match) -> None:
    model.nodes[match["dest"]] = model.nodes.pop(match["src"])


def _append(model: Model, match: re.Match) -> None:
    line = shlex.split(match["line"])[0]
    node = model.nodes.get(match["path"]) or Node("file")
    model.nodes[match["path"]] = node
    node.content += line + "\n"


def _install(model: Model, match: re.Match) -> None:
    """apt-get install: a name ending in "-" is a package to remove."""
    for package in match["packages"].split():
        if package.endswith("-"):
            model.packages.pop(package[:-1], None)
            model.removed.add(package[:-1])
        else:
            model.packages[package] = ["installed"]
            model.removed.discard(package)


def _systemctl(model: Model, match: re.Match) -> None:
    verb, unit = match["verb"], match["unit"]
    if verb in ("start", "restart", "reload"):
        model.running.add(unit)
    elif verb == "enable":
        model.enabled.add(unit)


def _sysctl(model: Model, match: re.Match) -> None:
    model.sysctl[match["key"]] = int(match["value"])


def _groupadd(model: Model, match: re.Match) -> None:
    model.groups.add(match["group"])


# useradd's and usermod's long options, by their short names.
LONG_OPTIONS = {
    "--home-dir": "-d",
    "--home": "-d",
    "--shell": "-s",
    "--gid": "-g",
    "--groups": "-G",
    "--comment": "-c",
    "--append": "-a",
    "--create-home": "-m",
}


def _account_options(arguments: str) -> tuple[str, dict[str, str], list[str]]:
    """The account a useradd or usermod command is for, its options with a value, and the
    words of the command (short options)."""
    words = [LONG_OPTIONS.get(word, word) for word in shlex.split(arguments)]
    options = {
        flag: value
        for flag, value in itertools.pairwise(words)
        if flag in ("-d", "-s", "-g", "-G", "-c")
    }
    return words[-1], options, words


def _useradd(model: Model, match: re.Match) -> None:
    name, options, words = _account_options(match["options"])
    uid = 1000 + len(model.users)
    model.users[name] = {
        "uid": uid,
        "gid": uid,
        "home": options.get("-d"),
        "shell": options.get("-s"),
        "group": options.get("-g", name),
        "groups": options["-G"].split(",") if "-G" in options else [],
        "comment": options.get("-c"),
    }
    if "-g" not in options:
        model.groups.add(name)
    if "-m" in words:
        model.directory(options["-d"])
        home = model.nodes[options["-d"]]
        home.user, home.group = name, model.users[name]["group"]


def _usermod(model: Model, match: re.Match) -> None:
    name, options, words = _account_options(match["options"])
    user = model.users[name]
    for flag, key in (("-d", "home"), ("-s", "shell"), ("-g", "group"), ("-c", "comment")):
        if flag in options:
            user[key] = options[flag]
    if "-G" in options:
        added = options["-G"].split(",")
        user["groups"] = [*user["groups"], *added] if "-a" in words else added


def _gpasswd_delete(model: Model, match: re.Match) -> None:
    model.users[match["user"]]["groups"].remove(match["group"])


def _remove_path(model: Model, match: re.Match) -> None:
    path = match["path"]
    for each in [each for each in model.nodes if each == path or each.startswith(path + "/")]:
        del model.nodes[each]


def _timezone(model: Model, match: re.Match) -> None:
    model.facts["server.Timezone"] = match["zone"]


def _moduli(model: Model, match: re.Match) -> None:
    model.facts["difusor.facts.WeakModuli"] = 0


def _ssh_service(model: Model, match: re.Match) -> None:
    model.facts["difusor.facts.SshSocket"] = {"enabled": "disabled", "active": "inactive"}
    model.running.add("ssh.service")
    model.enabled.add("ssh.service")


def _certificate(model: Model, match: re.Match) -> None:
    """openssl req or certbot: a certificate for the domain, and certbot's renewal file."""
    words = shlex.split(match[0])
    domain = (
        words[words.index("-subj") + 1].removeprefix("/CN=")
        if "-subj" in words
        else (words[words.index("--domain") + 1])
    )
    if words[0] == "openssl":
        certificate, key = words[words.index("-out") + 1], words[words.index("-keyout") + 1]
        issuer = f"CN = {domain}"
    else:
        certificate = f"/etc/letsencrypt/live/{domain}/fullchain.pem"
        key = f"/etc/letsencrypt/live/{domain}/privkey.pem"
        server = words[words.index("--server") + 1]
        model.write(f"/etc/letsencrypt/renewal/{domain}.conf", f"server = {server}\n")
        issuer = server
    model.write(certificate, "certificate")
    model.write(key, "key")
    model.facts.setdefault("difusor.facts.Certificate", {})[certificate] = {
        "names": [domain],
        "serial": "01",
        "not_after": "later",
        "issuer": issuer,
    }


def _ufw(model: Model, match: re.Match) -> None:
    state = model.facts.setdefault("difusor.facts.UfwState", copy.deepcopy(model.ufw_before))
    words = shlex.split(match["arguments"])
    if words[:2] == ["--force", "enable"]:
        state["enabled"] = True
    elif words[0] == "default":
        state["defaults"][words[2]] = words[1]
    elif words[0] == "logging":
        state["logging"] = words[1]
    elif words[:2] == ["--force", "delete"]:
        state["rules"].remove(_ufw_rule(words[2:]))
    elif words[0] != "reload":
        rule = _ufw_rule(words)
        if rule not in state["rules"]:
            state["rules"].append(rule)


def _ufw_rule(words: list[str]) -> str:
    """A rule as ``ufw show added`` prints it: the comment quoted."""
    if "comment" in words:
        at = words.index("comment") + 1
        words = [*words[:at], f"'{words[at]}'", *words[at + 1 :]]
    return " ".join(words)


def _ufw_ipv6(model: Model, match: re.Match) -> None:
    state = model.facts.setdefault("difusor.facts.UfwState", copy.deepcopy(model.ufw_before))
    state["ipv6"] = True


def _touch(model: Model, match: re.Match) -> None:
    if match["path"] not in model.nodes:
        model.write(match["path"], "")


def _block(model: Model, match: re.Match) -> None:
    """pyinfra's files.block appending its marked block to the file."""
    node = model.nodes.get(match["path"]) or Node("file")
    model.nodes[match["path"]] = node
    node.content += match["block"] + "\n"


def _ignore(model: Model, match: re.Match) -> None:
    """Checks and refreshes that change no state the deploy reads."""


HANDLERS: list[tuple[str, Any]] = [
    (r"mkdir -p (?P<path>\S+)", _mkdir),
    (r"chmod (?P<mode>\d+) (?P<path>\S+)", _chmod),
    (r"chown (?P<owner>\S+) (?P<path>\S+)", _chown),
    (r"ln -sf? (?P<target>\S+) (?P<path>\S+)", _link),
    (r"mv -f (?P<src>\S+) (?P<dest>\S+)", _move),
    (r"echo (?P<line>.+) >> (?P<path>\S+)", _append),
    (r"apt-get -y .* install (?P<packages>.+)", _install),
    (r"systemctl (?P<verb>start|restart|reload|enable) (?P<unit>\S+)", _systemctl),
    (r"sysctl (?P<key>[\w.]+)=(?P<value>\d+)", _sysctl),
    (r"groupadd (?:--system )?(?P<group>\S+)", _groupadd),
    (r"useradd (?P<options>.+)", _useradd),
    (r"usermod (?P<options>.+)", _usermod),
    (r"gpasswd -d (?P<user>\S+) (?P<group>\S+)", _gpasswd_delete),
    (r"rm -(?:rf|f) (?P<path>\S+)", _remove_path),
    (r"timedatectl set-timezone (?P<zone>\S+)", _timezone),
    (r"awk .* /etc/ssh/moduli > .*", _moduli),
    (r"systemctl disable --now ssh\.socket && .*", _ssh_service),
    (r"(openssl req|certbot certonly) .*", _certificate),
    (r"sed -i 's/\^IPV6=\.\*/IPV6=yes/' /etc/default/ufw", _ufw_ipv6),
    (r"ufw (?P<arguments>.+)", _ufw),
    (r"touch (?P<path>\S+)", _touch),
    (
        r"OUT=.*awk '\{\{print\}\}' (?P<path>\S+) .*"
        r"<<'PYINFRAHERE'\n(?P<block>.*)\nPYINFRAHERE\n.*",
        _block,
    ),
    (r"apt-get update|systemctl daemon-reload|(visudo|sshd|nginx) .*", _ignore),
]
