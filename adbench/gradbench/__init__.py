"""adbench as a gradbench tool: any AD backend answering gradbench's JSON-lines protocol (docs/gradbench.md).

``protocol`` parses and checks the eval's messages, ``evals`` turns each eval's input into adbench cases and
their results into the eval's output, ``tool`` runs the loop (``python -m adbench gradbench-tool``).
"""
