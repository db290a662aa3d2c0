"""Hidden reference solutions: one module per assignment, NumPy only.

Never copied into ``student_template/``, never imported by the sandbox.
"""
