"""
The hardening baseline difusor applies, in one place, with the reason for every exception.

Modelled on the DevSec linux and ssh baselines (Apache-2.0). Templates and tests read these
values from here, so the document, the deploy and the checks cannot drift apart.
"""

from __future__ import annotations

# -- sysctl ----------------------------------------------------------------------------------
# Network settings belong to the network namespace: they apply on every host, containers too.
SYSCTL_NETWORK: dict[str, int] = {
    "net.ipv4.conf.all.rp_filter": 1,  # DevSec sysctl-03: reverse path filtering
    "net.ipv4.conf.default.rp_filter": 1,
    "net.ipv4.icmp_echo_ignore_broadcasts": 1,  # sysctl-04: no smurf amplification
    "net.ipv4.icmp_ignore_bogus_error_responses": 1,  # sysctl-05
    "net.ipv4.icmp_ratelimit": 100,  # sysctl-06
    "net.ipv4.icmp_ratemask": 88089,
    "net.ipv4.conf.all.arp_ignore": 1,  # sysctl-08
    "net.ipv4.conf.all.arp_announce": 2,  # sysctl-09
    "net.ipv4.tcp_rfc1337": 1,  # sysctl-10: TIME-WAIT assassination
    "net.ipv4.tcp_syncookies": 1,  # sysctl-11: SYN flood on election night
    "net.ipv4.conf.all.accept_source_route": 0,  # sysctl-13
    "net.ipv4.conf.default.accept_source_route": 0,
    "net.ipv4.conf.all.accept_redirects": 0,  # sysctl-14
    "net.ipv4.conf.default.accept_redirects": 0,
    "net.ipv4.conf.all.secure_redirects": 0,  # sysctl-15
    "net.ipv4.conf.default.secure_redirects": 0,
    "net.ipv4.conf.all.send_redirects": 0,  # sysctl-16
    "net.ipv4.conf.default.send_redirects": 0,
    "net.ipv4.conf.all.log_martians": 1,  # sysctl-17
    "net.ipv4.conf.default.log_martians": 1,
    "net.ipv6.conf.all.accept_redirects": 0,  # sysctl-24
    "net.ipv6.conf.default.accept_redirects": 0,
    "net.ipv6.conf.all.accept_source_route": 0,
    "net.ipv6.conf.default.accept_source_route": 0,
}

# Kernel-wide settings. A container shares the host's kernel and cannot set them: there they
# are reported as not applicable, and belong to the host that runs the container.
SYSCTL_KERNEL: dict[str, int] = {
    "kernel.randomize_va_space": 2,  # sysctl-31: full ASLR
    "kernel.kptr_restrict": 2,  # no kernel pointers to unprivileged users
    "kernel.dmesg_restrict": 1,
    "kernel.sysrq": 0,  # sysctl-30: no magic SysRq on a remote server
    "kernel.yama.ptrace_scope": 1,
    "kernel.core_uses_pid": 1,
    "fs.suid_dumpable": 0,  # sysctl-31b: no core dumps of setuid programs
    "fs.protected_hardlinks": 1,
    "fs.protected_symlinks": 1,
    "net.core.bpf_jit_harden": 2,  # kernel-wide despite the net. prefix
}

# DevSec controls deliberately not applied, and why.
SYSCTL_EXCEPTIONS: dict[str, str] = {
    "net.ipv4.ip_forward": "left to the Docker role: Docker needs forwarding on for its bridge "
    "networks; ufw's default routed policy (deny) keeps the host from routing anything else",
    "net.ipv6.conf.all.forwarding": "same as net.ipv4.ip_forward",
    "net.ipv4.tcp_timestamps": "kept on (DevSec turns it off): timestamps protect against wrapped "
    "sequence numbers and let the kernel reuse TIME-WAIT sockets under the 20:00 rush",
    "net.ipv6.conf.*.accept_ra and autoconf": "kept on: many clouds give IPv6 by SLAAC and router "
    "advertisements; turning them off silently removes the server's IPv6 address",
}

SYSCTL_FILE = "/etc/sysctl.d/60-difusor-hardening.conf"

# -- SSH server (DevSec ssh baseline, OpenSSH >= 8.5) -----------------------------------------
SSH_KEX_ALGORITHMS = [
    "sntrup761x25519-sha512@openssh.com",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group-exchange-sha256",
]
SSH_CIPHERS = [
    "chacha20-poly1305@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
]
SSH_MACS = [
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha2-256-etm@openssh.com",
    "umac-128-etm@openssh.com",
    "hmac-sha2-512",
    "hmac-sha2-256",
]
# Diffie-Hellman group exchange: drop groups smaller than this (DevSec ssh-47).
SSH_MODULI_MIN_BITS = 3072

# -- Intrusion prevention (fail2ban: difusor/deploys/intrusion.py) ----------------------------
# What the jails deliberately do not do, and why.
INTRUSION_EXCEPTIONS: dict[str, str] = {
    "port-scan jail (ufw's dropped-packet log)": "the firewall already drops every port but 80 "
    "and 443 for readers, so a scan learns nothing more; a SYN scan completes no connection, so "
    "no jail counts it (the lab's nmap scan checks that it trips none); and a jail fed by dropped "
    "packets would ban whatever source address a spoofer writes in them",
    "recidive jail, ban times that grow": "a reader's address is often shared (a university, a "
    "mobile carrier's NAT): bans stay short and fixed, and an abuser that comes back is banned "
    "again",
    "banning the CDN's edge": "never: it would cut every reader behind that edge; behind a CDN a "
    "reader is banned by its real address in nginx (403) instead",
    "banning at the CDN (its API)": "needs a token with firewall rights on the zone; nginx's 403 "
    "works with any CDN and costs the server one short answer per request",
    "published container ports": "a portal ban closes 80 and 443 (the input path); a port "
    "published with docker_public_ports is reached through forwarding and stays open to a banned "
    "address: put a public application behind the portal's proxy mode",
    "banning a trusted source from SSH": "a mistyped key or password would lock the institute "
    "or the sysadmins out; sshd's MaxAuthTries and LoginGraceTime bound each try. Since only "
    "trusted sources reach 22, the sshd jail bans only if the firewall is ever opened: it is "
    "defence in depth (rsync, by contrast, bans a trusted address, on 873 only)",
}

# -- The institute's minimum server (preflight warnings, not failures) ------------------------
# Thresholds are what such a server reports: 16 GB of RAM shows as about 15.6 GiB in
# MemTotal (the kernel keeps some), a 100 GB disk as about 93 GiB to df.
MINIMUM_RESOURCES = {"cores": 8, "mhz": 2000, "memory_mb": 15 * 1024, "root_gb": 90}

SUPPORTED_SYSTEMS = {("Ubuntu", 22), ("Ubuntu", 24), ("Debian", 12)}
