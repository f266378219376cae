"""Teacher tooling: grade lesson 05 submissions, collect hand-ins, name the mistakes students make.

What it promises:

- ``python -m scratchae.grade SUBMISSION... --out DIR [--lang en|ja] [--timeout S] [--memory MB] [--jobs N]``
  grades notebooks of lesson 05 (either edition, either language) and hand-in archives. It writes
  ``DIR/grades.csv`` (one row per submission, one column per check, ``total``, ``max``),
  ``DIR/feedback/<name>.md`` in the notebook's language, a Gradescope-style ``DIR/results/<name>.json`` and
  ``DIR/logs/<name>.log`` (what the notebook printed, for the teacher only). Defaults: 120 s and 2048 MB per
  submission (at most 4096 MB), one submission at a time. The checks and their points are ``checks.RUBRIC``.
- Grading never trusts the submission (``sandbox``): each one runs in its own process, in a scratch folder, with
  a wall-clock limit and a memory cap, in quick mode, and (where Linux allows it) in its own user, PID and
  network namespaces. Only a small driver (``driver``) runs there: it executes the notebook's code cells until
  the graded classes exist, then evaluates them on inputs the grader chose (``probes``) and hands back raw arrays.
  Every check and every point is computed in the grader's process (``checks``, ``model_checks``) from those
  arrays and from the library: nothing the submission prints, patches or checks itself counts.
- A failed check names the mistake when the student's outputs match one of the catalogue's (``mistakes``), and
  otherwise says which output differs and by how much (``report``).
- ``python -m scratchae.handin`` packs a run into an archive (``handin``); ``handin_check`` grades its run.

The library's math never imports this package.
"""
