"""
difusor: bring a server to the hardened baseline of a PREP difusor, serve the portal,
receive and publish the institute's packages, ban intruders, run Docker inside the firewall.

    pyinfra inventory/production.py deploy.py

Settings come from group_data/, the inventory and .env, and are validated before anything
on the server changes (see docs/settings.md).
"""

from difusor.deploys.base import base_system
from difusor.deploys.docker import docker
from difusor.deploys.firewall import firewall
from difusor.deploys.intrusion import intrusion_prevention
from difusor.deploys.portal import portal
from difusor.deploys.publisher import publisher
from difusor.deploys.receiver import receiver
from difusor.deploys.restart import services_running
from difusor.deploys.ssh import ssh_access
from difusor.deploys.timesync import time_sync

base_system()
time_sync()
ssh_access()
firewall()
portal()
publisher()
receiver()
intrusion_prevention()
docker()
services_running()
