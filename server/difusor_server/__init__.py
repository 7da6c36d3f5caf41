"""difusor publisher: verifies, publishes and monitors PREP packages on the server.

Standard library only; runs on Python 3.10 and later. See server/README.md.
"""

__version__ = "1.0"
