"""Powertools Routers that an agent-API function includes with one line.

They live in the layer, not next to the function's ``app.py``: in Lambda the function's folder is
the code root (``app`` is a top-level module, so neither ``functions.<fn>.<module>`` nor a relative
import of a sibling resolves there), while the layer's ``ticketing`` package imports the same way
in Lambda, in tests and in the local server.
"""
