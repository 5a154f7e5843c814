"""A job's run: plan (typed sample parameters, content keys), the sample store, the runner, the score step."""
