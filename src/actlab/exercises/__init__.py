"""What the exercises' hidden tests need besides the library: one module per chapter (``ch00``, ``ch01``, ...)
holding its seeded case generators (``@actlab.checks.case_generator``), its evaluators (turn a student's
returned weights into outputs) and its references that are not activations (those live in
``actlab.numpy_ref``). Everything here is importable by a dotted name, so the grader can rebuild a check
in its own process (see ``actlab.checks``)."""
