"""What the lessons use on top of the pipeline: the exercise checks (checks) and the widget lab (widgets, a view,
with lab_runner running the optimization in the background)."""
