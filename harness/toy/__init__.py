"""The toy world (model=toy): a planted-effect image generator whose truth is known, for checking the harness.

world.py holds the planted truth table, vocabulary.py the words it draws, scene.py the planted rules,
render.py and pictograms.py / styles.py the pixels, generator.py the runner's side and the truth records.
"""
