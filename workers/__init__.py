"""Process entry points (RQ worker, dispatcher); they import ``campaign``, never the reverse."""
