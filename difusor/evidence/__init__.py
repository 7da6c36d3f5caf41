"""
The documents the institute asks of a difusor, generated and verified on the running server
(2024 IV.a and VI.c): the service diagram, the compliance matrix with live evidence, the
staff list. ``difusor evidence`` runs it; it changes nothing on the server.

- ``observe``: what is read on the server (pyinfra facts over one SSH connection, the host
  test suite through it) and measured from the operator's machine (TCP 22/80/443/873, HTTPS,
  sslyze against Mozilla's intermediate profile);
- ``matrix``: one row per requirement, PASS / WARN / FAIL / MANUAL with the measured value;
- ``diagram``: the service diagram in Graphviz's DOT, drawn to SVG and PNG;
- ``document``: evidence.json, personal.csv, cumplimiento.html and .pdf;
- ``compare``: what changed on the server between two evidence.json;
- ``build``: one run of all of it (``build_evidence``).

Example::

    from difusor.evidence.build import build_evidence
    from difusor.inventory import load_inventory

    (host,) = load_inventory("inventory/production.py")
    evidence = build_evidence(host, Path("evidence"), "inventory/production.py")
    evidence["counts"]       # {"PASS": 20, "WARN": 3, "FAIL": 0, "MANUAL": 2}

``build_evidence`` also takes an SSH connection that is already open (``remote=``): it keeps
working through it when sshd stops accepting new connections, and reports that as it is.
"""
