"""The in-container agent; see agent.py."""
