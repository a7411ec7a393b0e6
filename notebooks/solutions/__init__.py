"""Reference solutions to the lesson exercises (see each notebook's Exercises section)."""
