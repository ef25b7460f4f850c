"""The sandbox supervisor: the main process of every sandbox (`python3 -m squall.sandbox`).

It holds one stream to the control plane (supervisor.py) and runs the user's processes as its
children: the sandbox's main command, execs, file operations. Nothing here is imported by the
SDK, the server or the worker.
"""
