"""
Rehearsal tooling: everything here only rehearses, nothing of it runs against a real server.

- ``lab``: the local nspawn lab (``make rehearse``, ``make test``);
- ``vagrant``: the same rehearsal on a real Vagrant VM (``make vagrant-rehearse``);
- ``prep``: synthetic PREP packages for simulacros, tests and benchmarks;
- ``system``: the process and command helpers the lab and the Vagrant rehearsal share.

What deploys and checks a real server lives beside this package in ``difusor``.
"""
