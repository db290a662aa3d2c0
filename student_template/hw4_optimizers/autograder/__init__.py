"""The checks library this assignment's tests are written with.

A copy of the course's ``autograder.checks``, shipped with the notebook so that
``grader.check`` works without installing anything but requirements.txt. Do not edit.
"""
