"""
The Vagrant rehearsal, run for real on a machine without any downloadable box:

    python -m difusor.vagrant box        # build (or reuse) the local box difusor/debian-12
    python -m difusor.vagrant rehearse   # vagrant up, deploy twice, testinfra, Lynis, destroy

The box is made from the same cached Debian 12 rootfs as the nspawn lab (see
``difusor.lab.rootfs``); ``box.py`` builds it, ``rehearse.py`` runs the rehearsal.
"""
