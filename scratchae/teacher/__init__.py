"""Teacher tooling: grade lesson 05 submissions, collect hand-ins, name the mistakes students make.

What it promises:

- ``python -m scratchae.grade SUBMISSION... --out DIR`` grades notebooks of lesson 05 (either edition, either
  language) and hand-in archives. It writes ``DIR/grades.csv`` (one row per submission, one column per check),
  ``DIR/feedback/<name>.md`` in the notebook's language, and a Gradescope-style ``DIR/results/<name>.json``.
- Grading never trusts the submission: each one runs in its own process (``sandbox``) with a wall-clock limit and
  a memory cap, and only a small driver (``driver``) runs there. It evaluates the student's classes on inputs
  the grader chose (``probes``) and hands back raw arrays. Every check and every point is computed here, in the
  parent (``checks``), from those arrays and from the library: nothing the submission prints or checks counts.
- A failed check names the mistake when it matches one of the catalogue's (``mistakes``), else says which
  output differs and by how much.
- ``python -m scratchae.handin`` packs a run into an archive (``handin``, ``handin_check``).

The library's math never imports this package.
"""
