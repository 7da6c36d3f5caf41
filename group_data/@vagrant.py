# Settings for the Vagrant rehearsal VM (the @vagrant connector puts every VM in this group).
import os

rehearsal = True
portal_domain = "prep.vagrant.test"

# Vagrant logs in as its `vagrant` user, which has passwordless sudo: run everything as root.
_sudo = True

# Vagrant's own SSH arrives from the provider's NAT gateway: trust it, or the firewall
# would cut off `vagrant ssh` and pyinfra. VirtualBox NAT: 10.0.2.2. libvirt's management
# network: 192.168.121.0/24 (the host is .1).
trusted_sources = {
    "vagrant-virtualbox": ["10.0.2.2/32"],
    "vagrant-libvirt": ["192.168.121.0/24"],
    "instituto": ["192.0.2.0/28", "2001:db8:100::/48"],
}

# Vagrant's host key changes with every VM.
ssh_known_hosts_file = "/dev/null"
ssh_strict_host_key_checking = "no"

# No public name points at a rehearsal VM, so no ACME certificate: a self-signed one.
tls_source = "selfsigned"

# A VM without internet access (the full rehearsal, `python -m difusor.rehearsal.vagrant rehearse`)
# gets apt through a proxy and time from an NTP server, both on the VM's host.
# Unset (a laptop with internet), the defaults apply.
if os.environ.get("DIFUSOR_VAGRANT_APT_PROXY"):
    apt_proxy = os.environ["DIFUSOR_VAGRANT_APT_PROXY"]
if os.environ.get("DIFUSOR_VAGRANT_NTP_SERVERS"):
    ntp_servers = os.environ["DIFUSOR_VAGRANT_NTP_SERVERS"].replace(",", " ").split()
