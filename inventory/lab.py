# The local rehearsal lab host (see README: make rehearse). `make lab-up` creates it.
from difusor.rehearsal.lab.inventory import lab_host

lab = [lab_host()]
