"""vdlite's graded assignments: one folder per lesson's exercises and per graduate question.

Each folder holds `student.py` (the stubs a learner fills in), `solution.py` (the reference,
absent from the handout), `wrong_*.py` (plausible wrong answers the test command checks score
less; absent from the handout) and `test_*.py` (graded tests, each with its points). `grade`
runs them; `handout` makes the learners' copy; `autograder` makes Gradescope's zip.
"""
