"""CPU seconds (user + system) used so far by every process in a process group: cpu.py PGID"""

import os
import sys

pgid = int(sys.argv[1])
tick = os.sysconf("SC_CLK_TCK")
total = 0
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        continue
    fields = stat[stat.rindex(")") + 2:].split()
    if int(fields[2]) == pgid:  # fields after the name: state ppid pgrp ... utime(11) stime(12)
        total += int(fields[11]) + int(fields[12])
print(f"{total / tick:.2f}")
