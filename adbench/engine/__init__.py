"""The engine between the registry and the results: cases built and checked, timed in worker processes, recorded.

Data flows one way through it: ``cases`` builds and checks one case, ``timing`` measures it,
``runner`` drives the worker processes (``worker`` is its far end; the ``Scheduler``'s layers are named
in ``runner``'s docstring), ``record`` holds a case's result and ``results`` writes and reads result sets,
with ``environment`` describing the machine.
"""
