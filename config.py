"""
pyinfra executes this file before it reads the inventory: difusor checks the settings of the
hosts a deploy is about to reach, with no connection, and stops with one line per problem (the
same lines as `difusor check`) before pyinfra connects to any server.
"""

from difusor.check import check_before_connecting

check_before_connecting()
