"""The sandbox supervisor: the main process of every sandbox (supervisor.py).

It holds one link to its worker and runs the user's processes as its children: the sandbox's main
command, execs, file operations. It imports nothing from squall (the directory is all the sandbox
sees of it); nothing here is imported by the SDK or the server.
"""
