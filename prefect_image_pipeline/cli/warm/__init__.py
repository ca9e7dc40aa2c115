"""The warm process: process-image runs forked from a process that has done the imports.

client.py  the process-image side (standard library only): hand over the run, or decline
server.py  the warm process: import once, fork a child per run
spawn.py   start one in the background after a run that could have used it
"""
