"""The instructors' toolbox: nbgrader-based release, book build and (later) grading.

``python -m autograder --help`` lists the commands. Modules:

* ``nbgrader_config`` -- the one nbgrader configuration every command uses;
* ``release``         -- solutions/NN_slug.md -> nbgrader generate_assignment -> chapters/NN_slug.ipynb,
                         the authoring rules, nbgrader validate;
* ``site``            -- the website: page notebooks (no hidden tests; solutions in toggles or absent),
                         parallel execution, the strict Jupyter Book build and its audit.
"""
