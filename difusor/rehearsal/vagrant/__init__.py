"""
The Vagrant rehearsal, run for real on a machine without any downloadable box:

    python -m difusor.rehearsal.vagrant box       # build (or reuse) the box difusor/debian-12
    python -m difusor.rehearsal.vagrant rehearse  # up, deploy twice, testinfra, Lynis, destroy

The box is made from the same cached Debian 12 rootfs as the nspawn lab (see
``difusor.rehearsal.lab.rootfs``); ``box.py`` builds it, ``rehearse.py`` runs the rehearsal.
"""
